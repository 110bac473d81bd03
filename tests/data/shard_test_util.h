// Helpers of the shard tests: a temporary folder per test, a tar read back with
// libarchive, synthetic images.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/data/image_encoder.h"
#include "vision/payloads.h"

namespace shard_test {

namespace fs = std::filesystem;

// A fresh, empty folder under the temporary directory, removed at destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("sluice_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string str(const std::string& rest = "") const { return (path_ / rest).string(); }

 private:
  fs::path path_;
};

struct Member {
  std::string name;
  std::string data;
};

// Every member of a tar file, in order; throws when libarchive cannot read it
// to its end (a truncated or corrupt archive).
inline std::vector<Member> read_tar(const std::string& path) {
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 10240) != ARCHIVE_OK) {
    const std::string why = archive_error_string(a);
    archive_read_free(a);
    throw std::runtime_error(path + ": " + why);
  }
  std::vector<Member> members;
  archive_entry* entry = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK) {
    Member m;
    m.name = archive_entry_pathname(entry);
    m.data.resize(static_cast<size_t>(archive_entry_size(entry)));
    if (!m.data.empty() && archive_read_data(a, m.data.data(), m.data.size()) !=
                               static_cast<la_ssize_t>(m.data.size())) {
      archive_read_free(a);
      throw std::runtime_error(path + ": short member " + m.name);
    }
    members.push_back(std::move(m));
  }
  const bool clean = rc == ARCHIVE_EOF;
  const std::string why = clean ? "" : archive_error_string(a);
  archive_read_free(a);
  if (!clean) throw std::runtime_error(path + ": " + why);
  return members;
}

// A smooth RGB (or gray) test pattern: gradients and a soft disc.
inline sluice::Image pattern_image(int width, int height, int channels = 3, int seed = 0) {
  sluice::Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels = sluice::ByteBuffer(new uint8_t[image.bytes()]);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int dx = x - width / 2, dy = y - height / 2;
      const int disc = dx * dx + dy * dy < width * height / 8 ? 60 : 0;
      for (int c = 0; c < channels; ++c) {
        const int v = (x * 255 / width) * (c + 1) / 3 + (y * 200 / height) / (c + 1) + disc + seed;
        image.pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(v % 256);
      }
    }
  }
  return image;
}

// A sample of `split` carrying a JPEG of the pattern (seeded by index).
inline sluice::Sample encoded_sample(int64_t index, const std::string& split, const std::string& id,
                                     int size = 32) {
  sluice::Sample s;
  s.index = index;
  s.split = split;
  s.id = id;
  s.path = "/nonexistent/" + id;
  s.label = index % 2;
  const auto encoded = sluice::data::encode_image(
      pattern_image(size, size, 3, static_cast<int>(index)), sluice::data::EncodeOptions{});
  s.encoded = encoded.bytes;
  s.encoded_size = encoded.size;
  s.encoded_format = "jpg";
  return s;
}

}  // namespace shard_test

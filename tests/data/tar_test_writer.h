// Test shards: ustar files written with libarchive, and a WebDataset shard set
// of small samples (KEY.jpg with arbitrary bytes, KEY.json, KEY.cls) with or
// without a manifest, for the shard.index tests.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

using TarMembers = std::vector<std::pair<std::string, std::string>>;  // name, bytes

inline void write_tar(const std::string& path, const TarMembers& members, bool gzip = false) {
  archive* a = archive_write_new();
  archive_write_set_format_ustar(a);
  if (gzip) archive_write_add_filter_gzip(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) {
    throw std::runtime_error("cannot write " + path);
  }
  for (const auto& [name, bytes] : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, bytes.data(), bytes.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// The bytes test sample `i` stores as its image: distinct per sample.
inline std::string fake_image(int i) {
  return "\xFF\xD8 image " + std::to_string(i) + std::string(static_cast<size_t>(i % 7), 'x');
}

inline std::string sample_key(int i) {
  char key[16];
  std::snprintf(key, sizeof key, "s%05d", i);
  return key;
}

// Shards DIR/PREFIX-{split}-00000N.tar of `sizes[split][n]` samples each;
// sample i (numbered over all shards) has label i % 3, id "s0000i.jpg",
// attribute Young = (i % 2 ? 1 : -1). With `manifest`, DIR/manifest.json lists
// them (split order as given) with a categorical label.
inline void write_test_shards(const std::filesystem::path& dir,
                              const std::vector<std::pair<std::string, std::vector<int>>>& sizes,
                              bool manifest = true) {
  std::filesystem::create_directories(dir);
  int i = 0;
  std::string shards;
  for (const auto& [split, counts] : sizes) {
    for (size_t n = 0; n < counts.size(); ++n) {
      char name[64];
      std::snprintf(name, sizeof name, "test-%s-%06zu.tar", split.c_str(), n);
      TarMembers members;
      for (int k = 0; k < counts[n]; ++k, ++i) {
        const std::string key = sample_key(i);
        members.push_back({key + ".jpg", fake_image(i)});
        members.push_back({key + ".json", "{\"id\": \"" + key +
                                              ".jpg\", \"label\": " + std::to_string(i % 3) +
                                              ", \"label_values\": [], \"attributes\": "
                                              "{\"Young\": " +
                                              (i % 2 ? "1" : "-1") + "}, \"split\": \"" + split +
                                              "\", \"index\": " + std::to_string(i) + "}"});
        members.push_back({key + ".cls", std::to_string(i % 3)});
      }
      write_tar((dir / name).string(), members);
      shards += std::string(shards.empty() ? "" : ", ") + "{\"name\": \"" + name +
                "\", \"split\": \"" + split + "\", \"samples\": " + std::to_string(counts[n]) +
                ", \"bytes\": 0}";
    }
  }
  if (!manifest) return;
  std::ofstream(dir / "manifest.json")
      << "{\"format\": \"sluice.shards\", \"version\": 1, \"complete\": true, \"shards\": ["
      << shards << "], \"splits\": {}, \"samples\": " << i
      << ", \"label\": {\"kind\": \"categorical\", \"attribute\": \"kind\", \"names\": "
         "[\"a\", \"b\", \"c\"]}, \"attributes\": [\"Young\"], \"config\": \"\"}\n";
}

}  // namespace sluice::testing

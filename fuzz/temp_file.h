// A scratch file for harnesses whose code under test reads only from a path:
// the fuzz input is written to a private folder in /dev/shm (memory, not disk),
// removed when the process ends. One folder per process, so parallel fuzzers and
// test runs do not share files. SLUICE_FUZZ_SCRATCH names another parent folder
// (fuzz/run.sh sets one and removes it, with what crashed processes left there).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace sluice::fuzz {

class ScratchDir {
 public:
  ScratchDir() {
    namespace fs = std::filesystem;
    const char* env = std::getenv("SLUICE_FUZZ_SCRATCH");
    const fs::path base = env && *env                    ? fs::path(env)
                          : fs::is_directory("/dev/shm") ? fs::path("/dev/shm")
                                                         : fs::temp_directory_path();
    path_ = (base / ("sluice-fuzz-" + std::to_string(::getpid()))).string();
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `size` bytes to DIR/name (replacing it) and returns the full path.
  std::string write(const std::string& name, const uint8_t* data, size_t size) const {
    const std::string file = path_ + "/" + name;
    std::FILE* f = std::fopen(file.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + file);
    const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
    std::fclose(f);
    if (!ok) throw std::runtime_error("short write to " + file);
    return file;
  }
  std::string write(const std::string& name, const std::string& text) const {
    return write(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }

 private:
  std::string path_;
};

// The process-wide scratch folder (created on first use).
inline const ScratchDir& scratch() {
  static ScratchDir dir;
  return dir;
}

}  // namespace sluice::fuzz

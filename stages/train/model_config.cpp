#include "stages/train/model_config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "pipeline/file_read.h"
#include "stages/train/vgg_config.h"

namespace sluice::train {

const char* const kTorchscriptArch = "torchscript";

const std::vector<std::string>& resnet_arch_names() {
  static const std::vector<std::string> kNames = {"resnet18", "resnet34", "resnet50"};
  return kNames;
}

const std::vector<std::string>& model_arch_names() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names = vgg_arch_names();
    names.insert(names.end(), resnet_arch_names().begin(), resnet_arch_names().end());
    names.emplace_back(kTorchscriptArch);
    return names;
  }();
  return kNames;
}

bool is_vgg_arch(const std::string& arch) {
  const auto& names = vgg_arch_names();
  return std::find(names.begin(), names.end(), arch) != names.end();
}

bool is_resnet_arch(const std::string& arch) {
  const auto& names = resnet_arch_names();
  return std::find(names.begin(), names.end(), arch) != names.end();
}

bool matches_prefix(const std::string& name, const std::string& prefix) {
  if (prefix.empty()) return false;
  if (name == prefix) return true;
  const std::string scope = prefix.back() == '.' ? prefix : prefix + ".";
  return name.rfind(scope, 0) == 0;
}

std::string file_fingerprint(const std::string& path) {
  // Opened as every input is (pipeline/file_read.h): a FIFO, a device (/dev/zero)
  // or a directory is refused here, before anything waits on it or reads it forever.
  FileReadResult opened;
  uint64_t size = 0;
  const int fd = open_regular_file(path, kMaxCheckpointBytes, "model file", opened, size);
  if (fd < 0) throw FileReadError(opened);
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  unsigned char buffer[1 << 16];
  ssize_t got = 0;
  while ((got = ::read(fd, buffer, sizeof buffer)) != 0) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw std::runtime_error(path + ": cannot read the model file: " + std::strerror(err));
    }
    for (ssize_t i = 0; i < got; ++i) {
      hash ^= buffer[i];
      hash *= 1099511628211ULL;
    }
  }
  ::close(fd);
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace sluice::train

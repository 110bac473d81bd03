#include "stages/train/model_config.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>

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
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(buffer[i]);
      hash *= 1099511628211ULL;
    }
  }
  char text[32];
  std::snprintf(text, sizeof text, "fnv1a64:%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace sluice::train

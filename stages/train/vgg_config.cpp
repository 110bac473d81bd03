#include "stages/train/vgg_config.h"

#include <stdexcept>

namespace sluice::train {

const char* head_name(Head head) {
  switch (head) {
    case Head::kImagenet:
      return "imagenet";
    case Head::kReplaceLast:
      return "replace_last";
    case Head::kGap:
      return "gap";
  }
  return "?";
}

const char* freeze_name(Freeze freeze) {
  switch (freeze) {
    case Freeze::kFeatures:
      return "features";
    case Freeze::kNone:
      return "none";
    case Freeze::kUntil:
      return "until";
  }
  return "?";
}

Head parse_head(const std::string& name) {
  if (name == "imagenet") return Head::kImagenet;
  if (name == "replace_last") return Head::kReplaceLast;
  if (name == "gap") return Head::kGap;
  throw std::invalid_argument("unknown head '" + name +
                              "' (expected imagenet, replace_last or gap)");
}

Freeze parse_freeze(const std::string& name) {
  if (name == "features") return Freeze::kFeatures;
  if (name == "none") return Freeze::kNone;
  if (name == "until") return Freeze::kUntil;
  throw std::invalid_argument("unknown freeze '" + name + "' (expected features, none or until)");
}

std::vector<int> vgg_layer_plan(const std::string& arch) {
  constexpr int M = 0;
  if (arch == "vgg11") return {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (arch == "vgg13") return {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M};
  if (arch == "vgg16") {
    return {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M};
  }
  if (arch == "vgg19") {
    return {64,  64,  M,   128, 128, M,   256, 256, 256, 256, M,
            512, 512, 512, 512, M,   512, 512, 512, 512, M};
  }
  throw std::invalid_argument("unknown arch '" + arch +
                              "' (expected vgg11, vgg13, vgg16 or vgg19)");
}

const std::vector<std::string>& vgg_arch_names() {
  static const std::vector<std::string> kNames = {"vgg11", "vgg13", "vgg16", "vgg19"};
  return kNames;
}

}  // namespace sluice::train

#include "stages/train/vgg_config.h"

#include <stdexcept>

#include "stages/train/train_choices.h"

namespace sluice::train {

const char* head_name(Head head) { return head_choices().name(head).c_str(); }

// kPrefixes is not a config word of train.vgg's `freeze` (train.model lists the
// prefixes instead); checkpoints record it as "prefixes".
const char* freeze_name(Freeze freeze) {
  if (freeze == Freeze::kPrefixes) return "prefixes";
  return freeze_choices().name(freeze).c_str();
}

Head parse_head(const std::string& name) { return head_choices().parse(name); }

Freeze parse_freeze(const std::string& name) {
  if (name == "prefixes") return Freeze::kPrefixes;
  return freeze_choices().parse(name);
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

// VGG's layer plans. The model configuration shared by every architecture (head,
// freeze, width divisor) is ModelConfig (model_config.h); VggConfig is its old name.
#pragma once

#include <string>
#include <vector>

#include "stages/train/model_config.h"

namespace sluice::train {

using VggConfig = ModelConfig;

const char* head_name(Head head);
const char* freeze_name(Freeze freeze);
// Parse the names used in configs; throw std::invalid_argument listing the choices.
Head parse_head(const std::string& name);
Freeze parse_freeze(const std::string& name);

// The layer plan of an architecture: channel counts, 0 for a max pool ("M").
std::vector<int> vgg_layer_plan(const std::string& arch);
// "vgg11", "vgg13", "vgg16", "vgg19".
const std::vector<std::string>& vgg_arch_names();

}  // namespace sluice::train

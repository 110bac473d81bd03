// The model parameters of train.model, which trains any architecture: arch (a VGG, a
// ResNet, or "torchscript" with model = FILE), width_divisor, head, dropout and freeze
// (parameter-name prefixes, or "trunk"). The same rules are checked by `sluice check`
// and when the stage opens.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "pipeline/params.h"
#include "pipeline/stage.h"
#include "stages/train/model_config.h"

namespace sluice::train {

// The entry of `freeze` that freezes the architecture's trunk (VGG: the
// convolutions; ResNet: everything but fc).
extern const char* const kFreezeTrunk;

void add_any_model_params(StageSpec& spec);

// (key, message) for every problem of train.model's model parameters; empty when
// they describe a model. Builds (or loads) the model to check freeze prefixes.
std::vector<std::pair<std::string, std::string>> model_param_problems(const Params& p);

// Throws std::invalid_argument with the first of model_param_problems.
ModelConfig any_model_config_from(const Params& p);

}  // namespace sluice::train

// Parameters shared by the Torch stages (model shape, device) declared once, and the
// conversions from validated Params to the trainer's configuration.
#pragma once

#include <string>

#include "pipeline/params.h"
#include "pipeline/stage.h"
#include "stages/train/trainer.h"

namespace sluice::train {

// arch, width_divisor, head, dropout, freeze, freeze_until; checks that freeze =
// "until" comes with freeze_until.
void add_model_params(StageSpec& spec);
// device, precision, channels_last, cudnn_benchmark.
void add_device_params(StageSpec& spec);
// optimizer, lr, betas, weight_decay, momentum, nesterov.
void add_optimizer_params(StageSpec& spec);

// Why the file that parameter `key` names cannot be read ("weights: no such file
// 'w.pt'"), or an empty string when it can. The check hooks report this text and
// the stages throw it (require_file), so `sluice check` and a run say the same.
std::string file_param_problem(const std::string& key, const std::string& path);
// Throws std::runtime_error(file_param_problem(key, path)) when there is a problem.
void require_file(const std::string& key, const std::string& path);
// A check hook (StageSpec::check): the file parameter `key`, unless empty, is a
// readable file.
void check_file_param(StageSpec& spec, const std::string& key);

// The error of freeze = "until" without freeze_until.
extern const char* const kFreezeUntilMissing;

// train.vgg's model parameters, or train.model's (model_params.h).
VggConfig model_config_from(const Params& p);
void apply_device_params(const Params& p, TrainerConfig& config);
OptimizerConfig optimizer_config_from(const Params& p);

// Uses the normalisation a checkpoint was trained with (when it saw any batch), so
// evaluation and prediction scale pixels exactly as training did.
void apply_training_input(const InputSpec& trained, Batch& batch);

}  // namespace sluice::train

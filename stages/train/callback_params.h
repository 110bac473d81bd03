// train.vgg's callbacks as parameters, in the manner of Keras' callbacks: a
// learning-rate schedule (lr_schedule.h), gradient clipping by global norm and class
// weights of the training loss. Declared once here; checked against the label
// schema and the stream's epochs at `sluice check` time (check_callback_params)
// and converted to the trainer's and the schedule's configurations.
#pragma once

#include <cstdint>

#include "pipeline/element_spec.h"
#include "pipeline/params.h"
#include "pipeline/stage.h"
#include "stages/train/lr_schedule.h"
#include "stages/train/trainer.h"

namespace sluice::train {

// lr_schedule, lr_step_size, lr_gamma, warmup_epochs, warmup_steps, lr_decay_epochs,
// min_lr, lr_monitor, lr_mode, lr_factor, lr_patience, lr_cooldown, lr_min_delta,
// clip_grad_norm, class_weights.
void add_callback_params(StageSpec& spec);

// At check time, with the input's schema: class_weights against the label's classes,
// a cosine schedule's epochs.
void check_callback_params(const Params& p, const ElementSpec& input, SpecContext& ctx);

// `lr`: the optimizer's rate; `stream_epochs`: the epochs of the input (0: unknown).
LrScheduleConfig lr_schedule_config_from(const Params& p, double lr, int64_t stream_epochs);
// clip_grad_norm and class_weights.
void apply_callback_params(const Params& p, TrainerConfig& config);

}  // namespace sluice::train

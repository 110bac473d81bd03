#include "stages/train/callback_params.h"

#include <string>
#include <vector>

#include "stages/train/metrics.h"
#include "stages/train/train_choices.h"

namespace sluice::train {
namespace {

// The classes class_weights weighs: a categorical label's, or 2 for a binary one;
// 0 when the label does not say (unknown, or multi-label: refused separately).
size_t weighted_classes(const LabelSpec& label) {
  switch (label.kind) {
    case LabelSpec::Kind::kCategorical:
      return label.names.size();
    case LabelSpec::Kind::kBinary:
      return 2;
    default:
      return 0;
  }
}

void check_class_weights(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  const auto weights = p.get_floats("class_weights");
  if (weights.empty() || !input.label) return;
  const LabelSpec& label = *input.label;
  if (label.kind == LabelSpec::Kind::kMultiLabel) {
    ctx.error("class_weights",
              "class_weights weighs the classes of a categorical or binary label; the input "
              "label is " +
                  label.to_string() + ": weigh each attribute's positives with pos_weight");
    return;
  }
  const size_t classes = weighted_classes(label);
  if (classes > 0 && weights.size() != classes) {
    ctx.error("class_weights", "class_weights has " + std::to_string(weights.size()) +
                                   " value(s) but the input label is " + label.to_string() +
                                   ": give " + std::to_string(classes) +
                                   ", one per class, in class id order");
  }
}

void check_schedule(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  if (lr_schedule_choices().parse(p.get_string("lr_schedule")) != LrScheduleKind::kCosine) return;
  const int64_t epochs =
      p.get_int("lr_decay_epochs") > 0 ? p.get_int("lr_decay_epochs") : input.epochs;
  if (epochs <= 0) {
    ctx.error("lr_schedule",
              "lr_schedule = \"cosine\" needs the number of epochs it spans: the input does "
              "not say (set epochs on the index stage) and lr_decay_epochs is 0");
  } else if (p.get_int("warmup_epochs") >= epochs) {
    ctx.error("warmup_epochs", "warmup_epochs = " + std::to_string(p.get_int("warmup_epochs")) +
                                   " leaves no epoch of the " + std::to_string(epochs) +
                                   " to decay over");
  }
}

}  // namespace

void add_callback_params(StageSpec& spec) {
  spec.param(ParamSpec::string("lr_schedule", "none",
                               "learning-rate schedule: none (lr throughout), step (x lr_gamma "
                               "every lr_step_size epochs), cosine (warm-up, then down to "
                               "min_lr), plateau (x lr_factor when lr_monitor stalls)")
                 .one_of(lr_schedule_choices().names()))
      .param(ParamSpec::integer("lr_step_size", 10, "step: epochs between decays").min(1))
      .param(ParamSpec::number("lr_gamma", 0.1, "step: factor of each decay").range(0, 1))
      .param(ParamSpec::integer("warmup_epochs", 0,
                                "cosine: epochs of linear warm-up from lr/warmup_epochs to lr")
                 .min(0))
      .param(ParamSpec::integer("warmup_steps", 0,
                                "cosine: optimizer steps of linear warm-up (per step, before "
                                "warmup_epochs)")
                 .min(0))
      .param(ParamSpec::integer("lr_decay_epochs", 0,
                                "cosine: epochs the schedule spans, warm-up included (0: the "
                                "input's epochs)")
                 .min(0))
      .param(ParamSpec::number("min_lr", 0.0, "cosine: final rate; plateau: lowest rate").min(0))
      .param(ParamSpec::string("lr_monitor", "val_loss", "plateau: metric watched")
                 .one_of(monitor_names()))
      .param(ParamSpec::string("lr_mode", "auto", "plateau: min, max, or auto (from the name)")
                 .one_of(monitor_mode_choices().names()))
      .param(ParamSpec::number("lr_factor", 0.1, "plateau: factor of each reduction").range(0, 1))
      .param(ParamSpec::integer("lr_patience", 10,
                                "plateau: epochs without improvement before reducing")
                 .min(1))
      .param(ParamSpec::integer("lr_cooldown", 0,
                                "plateau: epochs after a reduction before counting again")
                 .min(0))
      .param(ParamSpec::number("lr_min_delta", 1e-4,
                               "plateau: smallest change that counts as improvement")
                 .min(0))
      .param(ParamSpec::number("clip_grad_norm", 0.0,
                               "clip the gradients to this global L2 norm before each step "
                               "(0 = no clipping)")
                 .min(0))
      .param(ParamSpec::numbers("class_weights", {},
                                "training loss weight of each class, in class id order: one per "
                                "class of a categorical label, two ([label 0, label 1]) for a "
                                "binary one; empty: 1 each")
                 .min(0))
      .check([](const ParamCheck& c) {
        const double factor = c.params().get_float("lr_factor");
        if (factor <= 0.0 || factor >= 1.0) {
          c.error("lr_factor", "lr_factor = " + std::to_string(factor) +
                                   " must be between 0 and 1 (exclusive): it lowers the rate");
        }
      });
}

void check_callback_params(const Params& p, const ElementSpec& input, SpecContext& ctx) {
  check_class_weights(p, input, ctx);
  check_schedule(p, input, ctx);
}

LrScheduleConfig lr_schedule_config_from(const Params& p, double lr, int64_t stream_epochs) {
  LrScheduleConfig c;
  c.kind = lr_schedule_choices().parse(p.get_string("lr_schedule"));
  c.lr = lr;
  c.min_lr = p.get_float("min_lr");
  c.step_size = p.get_int("lr_step_size");
  c.gamma = p.get_float("lr_gamma");
  c.warmup_epochs = p.get_int("warmup_epochs");
  c.warmup_steps = p.get_int("warmup_steps");
  c.epochs = p.get_int("lr_decay_epochs") > 0 ? p.get_int("lr_decay_epochs") : stream_epochs;
  c.monitor = canonical_metric_name(p.get_string("lr_monitor"));
  c.mode = monitor_mode_choices().parse(p.get_string("lr_mode"));
  c.factor = p.get_float("lr_factor");
  c.patience = p.get_int("lr_patience");
  c.cooldown = p.get_int("lr_cooldown");
  c.min_delta = p.get_float("lr_min_delta");
  return c;
}

void apply_callback_params(const Params& p, TrainerConfig& config) {
  config.clip_grad_norm = p.get_float("clip_grad_norm");
  config.class_weights = p.get_floats("class_weights");
}

}  // namespace sluice::train

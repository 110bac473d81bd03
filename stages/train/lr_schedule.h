// Learning-rate schedules of train.vgg, as Keras' LearningRateScheduler and
// ReduceLROnPlateau callbacks: the rate for each optimizer step from the epoch and
// the step, and (plateau) a rate lowered when a monitored metric stops improving.
// Pure state without Torch, so checkpoints save it and a resumed run continues
// exactly as an unbroken one.
//   none     the optimizer's lr throughout (the default)
//   step     lr x gamma^floor(epoch / step_size)
//   cosine   linear warm-up (warmup_epochs, or warmup_steps optimizer steps) to lr,
//            then half a cosine from lr down to min_lr over the remaining epochs
//   plateau  lr x factor when `monitor` has not improved by min_delta for `patience`
//            epochs, then Keras' cooldown (the next cooldown - 1 epochs are not
//            counted); never below min_lr
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/choice_list.h"
#include "stages/train/early_stopping.h"

namespace sluice::train {

enum class LrScheduleKind { kNone, kStep, kCosine, kPlateau };
const ChoiceList<LrScheduleKind>& lr_schedule_choices();  // none, step, cosine, plateau

struct LrScheduleConfig {
  LrScheduleKind kind = LrScheduleKind::kNone;
  double lr = 1e-4;  // the optimizer's (base) rate
  double min_lr = 0.0;
  // step
  int64_t step_size = 10;
  double gamma = 0.1;
  // cosine
  int64_t warmup_epochs = 0;
  int64_t warmup_steps = 0;
  int64_t epochs = 0;  // the epochs the cosine spans, warm-up included (> 0)
  // plateau
  std::string monitor = "val_loss";
  MonitorMode mode = MonitorMode::kAuto;
  double factor = 0.1;
  int64_t patience = 10;
  int64_t cooldown = 0;
  double min_delta = 1e-4;
};

// What a checkpoint keeps: the plateau's rate and counters (the other schedules are
// functions of the epoch and step).
struct LrScheduleState {
  double lr = 0.0;  // the plateau's current rate; 0: not started (the base rate)
  double best = 0.0;
  bool has_best = false;
  int64_t wait = 0;
  int64_t cooldown_left = 0;
  int64_t reductions = 0;
};

class LrSchedule {
 public:
  explicit LrSchedule(LrScheduleConfig config);

  LrScheduleKind kind() const { return config_.kind; }
  const LrScheduleConfig& config() const { return config_; }
  // The rate of the optimizer step `step` (counted over the run from 0) in `epoch`
  // (0-based).
  double lr(int64_t epoch, int64_t step) const;
  // At the end of an epoch, with its value of the monitored metric (plateau only; a
  // NaN value changes nothing). Returns true when the rate was lowered.
  bool end_epoch(double monitored);

  const LrScheduleState& state() const { return state_; }
  void restore(const LrScheduleState& state) { state_ = state; }

 private:
  LrScheduleConfig config_;
  bool minimize_;
  LrScheduleState state_;
};

}  // namespace sluice::train

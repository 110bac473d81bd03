#include "stages/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sluice::train {

const ChoiceList<LrScheduleKind>& lr_schedule_choices() {
  static const ChoiceList<LrScheduleKind> kChoices("lr_schedule",
                                                   {{"none", LrScheduleKind::kNone},
                                                    {"step", LrScheduleKind::kStep},
                                                    {"cosine", LrScheduleKind::kCosine},
                                                    {"plateau", LrScheduleKind::kPlateau}});
  return kChoices;
}

LrSchedule::LrSchedule(LrScheduleConfig config)
    : config_(std::move(config)),
      minimize_(EarlyStopping(config_.monitor, config_.mode, 0, 0.0).minimize()) {
  if (config_.kind == LrScheduleKind::kStep && config_.step_size < 1) {
    throw std::invalid_argument("lr_step_size must be at least 1");
  }
  if (config_.kind == LrScheduleKind::kCosine && config_.epochs < 1) {
    throw std::invalid_argument(
        "lr_schedule = \"cosine\" needs the number of epochs: set lr_decay_epochs, or epochs "
        "on the index stage");
  }
}

double LrSchedule::lr(int64_t epoch, int64_t step) const {
  const auto& c = config_;
  switch (c.kind) {
    case LrScheduleKind::kNone:
      return c.lr;
    case LrScheduleKind::kStep:
      return c.lr * std::pow(c.gamma, static_cast<double>(epoch / c.step_size));
    case LrScheduleKind::kPlateau:
      return state_.lr > 0.0 ? state_.lr : c.lr;
    case LrScheduleKind::kCosine:
      break;
  }
  if (step < c.warmup_steps) {
    return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  if (epoch < c.warmup_epochs) {
    return c.lr * static_cast<double>(epoch + 1) / static_cast<double>(c.warmup_epochs);
  }
  const int64_t span = std::max<int64_t>(c.epochs - c.warmup_epochs, 1);
  const double t =
      std::min(static_cast<double>(epoch - c.warmup_epochs) / static_cast<double>(span), 1.0);
  return c.min_lr + (c.lr - c.min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
}

// Keras' ReduceLROnPlateau.on_epoch_end, step for step.
bool LrSchedule::end_epoch(double monitored) {
  if (config_.kind != LrScheduleKind::kPlateau || std::isnan(monitored)) return false;
  auto& s = state_;
  if (s.lr <= 0.0) s.lr = config_.lr;
  if (s.cooldown_left > 0) {
    --s.cooldown_left;
    s.wait = 0;
  }
  const double delta = std::abs(config_.min_delta);
  const bool better =
      !s.has_best || (minimize_ ? monitored < s.best - delta : monitored > s.best + delta);
  if (better) {
    s.best = monitored;
    s.has_best = true;
    s.wait = 0;
    return false;
  }
  if (s.cooldown_left > 0) return false;
  if (++s.wait < config_.patience) return false;
  s.wait = 0;
  if (s.lr <= config_.min_lr) return false;
  s.lr = std::max(s.lr * config_.factor, config_.min_lr);
  s.cooldown_left = config_.cooldown;
  ++s.reductions;
  return true;
}

}  // namespace sluice::train

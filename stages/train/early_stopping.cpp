#include "stages/train/early_stopping.h"

#include <cmath>
#include <stdexcept>

#include "stages/train/train_choices.h"

namespace sluice::train {

MonitorMode parse_monitor_mode(const std::string& name) {
  return monitor_mode_choices().parse(name);
}

EarlyStopping::EarlyStopping(std::string monitor, MonitorMode mode, int64_t patience,
                             double min_delta)
    : monitor_(std::move(monitor)), patience_(patience), min_delta_(std::abs(min_delta)) {
  if (mode == MonitorMode::kAuto) {
    // Keras' rule: accuracies and AUCs are maximised, everything else minimised.
    const bool is_score = monitor_.find("acc") != std::string::npos ||
                          monitor_.find("auc") != std::string::npos ||
                          monitor_.find("f1") != std::string::npos ||
                          monitor_.find("precision") != std::string::npos ||
                          monitor_.find("recall") != std::string::npos;
    minimize_ = !is_score;
  } else {
    minimize_ = mode == MonitorMode::kMin;
  }
}

EarlyStopping::Decision EarlyStopping::update(int64_t epoch, double value) {
  Decision d;
  const bool first = state_.best_epoch < 0;
  const bool better =
      minimize_ ? value < state_.best - min_delta_ : value > state_.best + min_delta_;
  if (!std::isnan(value) && (first || better)) {
    state_.best = value;
    state_.best_epoch = epoch;
    state_.wait = 0;
    d.improved = true;
    return d;
  }
  ++state_.wait;
  if (patience_ > 0 && state_.wait >= patience_) {
    state_.stopped_epoch = epoch;
    d.stop = true;
  }
  return d;
}

}  // namespace sluice::train

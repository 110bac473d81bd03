// Early stopping on one monitored metric, as Keras' EarlyStopping: stop when the metric
// has not improved by more than min_delta for `patience` epochs in a row. Pure state
// so that checkpoints can save it and a resumed run decides exactly as an unbroken one.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::train {

enum class MonitorMode { kMin, kMax, kAuto };
MonitorMode parse_monitor_mode(const std::string& name);  // "min", "max", "auto"

struct EarlyStoppingState {
  double best = 0.0;
  int64_t best_epoch = -1;  // -1: nothing seen yet
  int64_t wait = 0;         // epochs since the last improvement
  int64_t stopped_epoch = -1;
};

class EarlyStopping {
 public:
  // patience <= 0 disables stopping (best is still tracked for the best checkpoint).
  EarlyStopping(std::string monitor, MonitorMode mode, int64_t patience, double min_delta);

  struct Decision {
    bool improved = false;  // the value is the new best: write the best checkpoint
    bool stop = false;      // patience exhausted: stop training after this epoch
  };
  Decision update(int64_t epoch, double value);

  const std::string& monitor() const { return monitor_; }
  bool minimize() const { return minimize_; }
  const EarlyStoppingState& state() const { return state_; }
  void restore(const EarlyStoppingState& state) { state_ = state; }

 private:
  std::string monitor_;
  bool minimize_;
  int64_t patience_;
  double min_delta_;
  EarlyStoppingState state_;
};

}  // namespace sluice::train

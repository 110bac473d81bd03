// Run-wide state shared by the runner and the stages: the stop request (from a
// stage, e.g. early stopping, or from SIGINT/SIGTERM), the data position sources
// start at (a resumed trainer's request) and named counters.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/data_position.h"
#include "pipeline/live_metrics.h"
#include "pipeline/stage.h"

namespace sluice {

class CounterSet {
 public:
  Counter& get(const std::string& name);
  std::map<std::string, int64_t> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Counter>> counters_;
};

class RunControl {
 public:
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  bool stop_requested() const;
  // The earliest position requested (position_before), epoch 0 when none was.
  void request_start_position(const DataPosition& position);
  DataPosition start_position() const;
  void request_start_epoch(int64_t epoch) { request_start_position(DataPosition{epoch, {}, 0}); }
  int64_t start_epoch() const { return start_position().epoch; }
  // Items of the start position's split the sources skipped, summed (-1: none said).
  void add_resumed_items(int64_t items);
  int64_t resumed_items() const;
  // Items of a split per epoch, as the sources announce them (-1: none did).
  void add_split_items(const std::string& split, int64_t items);
  int64_t split_items(const std::string& split) const;
  int threads = 1;
  std::string config_toml;  // the resolved pipeline (StageContext::run_config)
  // Stage id -> the specs of its inputs (StageContext::input_specs).
  std::map<std::string, std::vector<ElementSpec>> input_specs;
  // StageContext::live(): this run's own, or a watcher's (RunOptions::monitor).
  LiveMetrics* live = &own_live_;

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex position_mutex_;
  bool position_requested_ = false;
  DataPosition start_position_;
  int64_t resumed_items_ = -1;
  mutable std::mutex split_mutex_;
  std::map<std::string, int64_t> split_items_;
  LiveMetrics own_live_;
};

// Process-wide SIGINT/SIGTERM handling for runs. The first signal asks the
// sources to stop (in-flight work drains, stages finish, a trainer saves); a
// second one ends the process at once with status 128 + signal number,
// whatever a stage is blocked on (checkpoints are written atomically, so none is
// left half-written).
class SignalGuard {
 public:
  SignalGuard();   // installs the handlers
  ~SignalGuard();  // restores the previous ones
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
};

// Number of SIGINT/SIGTERM received since the last reset (0 when none).
int signals_received();
int last_signal();
void reset_signals();

}  // namespace sluice

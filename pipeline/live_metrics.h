// What a stage reports about its progress while the run goes on, for whoever
// watches the run (the live dashboard): a trainer's step values (loss), its
// epoch metrics, and the phase it is in with how far it got. Thread-safe; a
// call takes one short lock, so report per step or per epoch, not per item.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

class LiveMetrics {
 public:
  using Values = std::vector<std::pair<std::string, double>>;
  static constexpr size_t kMaxSteps = 2048;

  // One step's values, e.g. {{"loss", 0.41}}. Memory is bounded: when
  // kMaxSteps are held every other one is dropped and from then on only every
  // second (fourth, ...) step is kept.
  void add_step(int64_t step, const Values& values);
  // One epoch's metrics row (as metrics.jsonl has it).
  void add_epoch(const Values& values);
  // The phase running ("epoch 3 train"), `done` of `total` units in it (total
  // 0: not known yet), and the epoch it belongs to, from 1 (0: none).
  void set_progress(const std::string& phase, int64_t done, int64_t total, int64_t epoch);

  struct Progress {
    std::string phase;
    int64_t done = 0;
    int64_t total = 0;
    int64_t epoch = 0;
  };
  Progress progress() const;
  size_t step_count() const;

  // {"steps": {"step": [..], "<name>": [..]}, "epochs": [{..}, ..],
  //  "progress": {"phase": .., "done": .., "total": .., "epoch": ..}}; a name a
  // step did not report is null there (as are NaN values).
  std::string to_json() const;

 private:
  mutable std::mutex mutex_;
  std::vector<int64_t> steps_;
  std::vector<std::string> names_;
  std::vector<std::vector<double>> values_;  // [name][step]
  int64_t stride_ = 1;
  int64_t seen_ = 0;
  std::vector<Values> epochs_;
  Progress progress_;
};

}  // namespace sluice

// A running graph as seen from outside it: the run's state, its stages, the
// timeline sampled so far and what stages report live (pipeline/live_metrics.h).
// The runner fills it (RunOptions::monitor); a watcher such as the live
// dashboard reads it from any thread. Nothing here touches the graph: the
// runner's sampler hands over copies, under a lock the graph never takes.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/live_metrics.h"
#include "pipeline/timeline.h"

namespace sluice {

struct MonitoredStage {
  std::string id;
  std::string type;
  std::string kind;
  std::string concurrency;
  size_t effective_concurrency = 1;  // for utilisation: busy / (wall x this)
};

class RunMonitor {
 public:
  // Runner side.
  void begin(std::string pipeline, std::vector<MonitoredStage> stages, int threads,
             size_t max_in_flight, int64_t epochs);
  void update(const Timeline& timeline);
  void end(const std::string& status, const std::string& error);
  LiveMetrics& live() { return live_; }

  // Watcher side.
  // "starting", "running", then the run's status ("completed", "stopped",
  // "interrupted", "failed").
  std::string state() const;
  // Everything as one JSON object (docs/dashboard.md lists its fields).
  std::string status_json() const;

 private:
  using Clock = std::chrono::steady_clock;
  mutable std::mutex mutex_;
  std::string state_ = "starting";
  std::string error_;
  std::string pipeline_;
  std::vector<MonitoredStage> stages_;
  int threads_ = 0;
  size_t max_in_flight_ = 0;
  int64_t epochs_ = 0;
  Clock::time_point started_ = Clock::now();
  double elapsed_at_end_s_ = -1;
  Timeline timeline_;
  LiveMetrics live_;
};

}  // namespace sluice

// The run over time: per-stage cumulative counters sampled every 250 ms by a
// thread of its own while the graph runs, in bounded memory, for the profile
// JSON ("timeline") and the live dashboard. Sampling only reads the stages'
// atomic counters; the hot path is unchanged.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice {

class StageStats;

// One stage's counters at one instant (cumulative since the start).
struct StageSample {
  uint64_t items_in = 0;
  uint64_t items_out = 0;
  double busy_s = 0;
  double wait_s = 0;
};

// Samples at a regular interval. When `max_samples` are held, pairs merge
// (the later cumulative values kept, the larger in-flight count) and the
// interval doubles, so a run of any length fits.
class Timeline {
 public:
  static constexpr double kDefaultInterval = 0.25;
  static constexpr size_t kDefaultMaxSamples = 2048;

  explicit Timeline(std::vector<std::string> stage_ids = {}, double interval_s = kDefaultInterval,
                    size_t max_samples = kDefaultMaxSamples);

  // `stages` in the order of stage_ids().
  void add(double t_s, int64_t in_flight, int64_t epoch, const std::vector<StageSample>& stages);

  double interval_s() const { return interval_s_; }
  size_t size() const { return t_s_.size(); }
  bool empty() const { return t_s_.empty(); }
  const std::vector<std::string>& stage_ids() const { return ids_; }
  const std::vector<double>& t_s() const { return t_s_; }
  const std::vector<int64_t>& in_flight() const { return in_flight_; }
  const std::vector<int64_t>& epoch() const { return epoch_; }
  // Stage k's sample i.
  const StageSample& stage(size_t k, size_t i) const { return stages_[k][i]; }

  // {"interval_s": .., "t_s": [..], "in_flight": [..], "epoch": [..],
  //  "stages": {"<id>": {"items_in": [..], "items_out": [..], "busy_s": [..], "wait_s": [..]}}}
  std::string to_json() const;

 private:
  void halve();

  std::vector<std::string> ids_;
  double interval_s_;
  size_t max_samples_;
  std::vector<double> t_s_;
  std::vector<int64_t> in_flight_;
  std::vector<int64_t> epoch_;
  std::vector<std::vector<StageSample>> stages_;  // [stage][sample]
};

// Reads the counters of a running graph into a Timeline, on its own thread.
class TimelineSampler {
 public:
  struct Probe {
    std::vector<const StageStats*> stages;  // in the Timeline's stage order
    std::function<int64_t()> in_flight;     // items admitted and not yet released
    std::function<int64_t()> epoch;         // current epoch from 1, 0 when unknown
  };
  // Called after every sample with the timeline so far (under the sampler's
  // lock: copy what is needed and return).
  using Listener = std::function<void(const Timeline&)>;

  TimelineSampler(Timeline timeline, Probe probe, Listener listener = {});
  ~TimelineSampler();  // stops
  TimelineSampler(const TimelineSampler&) = delete;
  TimelineSampler& operator=(const TimelineSampler&) = delete;

  // Starts sampling; time 0 is now.
  void start();
  // Takes a last sample (the run's end) and joins the thread; returns the
  // timeline. Idempotent.
  Timeline stop();

 private:
  void loop();
  void sample();

  Timeline timeline_;
  Probe probe_;
  Listener listener_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
  int64_t t0_ = 0;  // steady clock, ns
};

}  // namespace sluice

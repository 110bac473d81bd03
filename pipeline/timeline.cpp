#include "pipeline/timeline.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>

#include "pipeline/clock.h"
#include "pipeline/profiler.h"

namespace sluice {

Timeline::Timeline(std::vector<std::string> stage_ids, double interval_s, size_t max_samples)
    : ids_(std::move(stage_ids)),
      interval_s_(interval_s),
      max_samples_(std::max<size_t>(max_samples, 2)),
      stages_(ids_.size()) {}

void Timeline::add(double t_s, int64_t in_flight, int64_t epoch,
                   const std::vector<StageSample>& stages) {
  if (t_s_.size() >= max_samples_) halve();
  t_s_.push_back(t_s);
  in_flight_.push_back(in_flight);
  epoch_.push_back(epoch);
  for (size_t k = 0; k < stages_.size(); ++k) {
    stages_[k].push_back(k < stages.size() ? stages[k] : StageSample{});
  }
}

// Merges samples 2i and 2i+1 into one at 2i+1's time: cumulative values are
// those at the later instant, in flight the larger of the two (a peak is not
// lost). An odd last sample stays as it is.
void Timeline::halve() {
  const size_t n = t_s_.size();
  size_t w = 0;
  for (size_t r = 0; r < n; r += 2, ++w) {
    const size_t last = std::min(r + 1, n - 1);
    t_s_[w] = t_s_[last];
    in_flight_[w] = std::max(in_flight_[r], in_flight_[last]);
    epoch_[w] = epoch_[last];
    for (auto& s : stages_) s[w] = s[last];
  }
  t_s_.resize(w);
  in_flight_.resize(w);
  epoch_.resize(w);
  for (auto& s : stages_) s.resize(w);
  interval_s_ *= 2;
}

// Stages in run order (ordered_json keeps insertion order).
std::string Timeline::to_json() const {
  nlohmann::ordered_json j;
  j["interval_s"] = interval_s_;
  j["t_s"] = t_s_;
  j["in_flight"] = in_flight_;
  j["epoch"] = epoch_;
  nlohmann::ordered_json stages = nlohmann::ordered_json::object();
  for (size_t k = 0; k < ids_.size(); ++k) {
    std::vector<uint64_t> in, out;
    std::vector<double> busy, wait;
    for (const StageSample& s : stages_[k]) {
      in.push_back(s.items_in);
      out.push_back(s.items_out);
      busy.push_back(s.busy_s);
      wait.push_back(s.wait_s);
    }
    stages[ids_[k]] = {{"items_in", in}, {"items_out", out}, {"busy_s", busy}, {"wait_s", wait}};
  }
  j["stages"] = std::move(stages);
  return j.dump();
}

namespace {
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

TimelineSampler::TimelineSampler(Timeline timeline, Probe probe, Listener listener)
    : timeline_(std::move(timeline)), probe_(std::move(probe)), listener_(std::move(listener)) {}

TimelineSampler::~TimelineSampler() { stop(); }

void TimelineSampler::start() {
  t0_ = steady_ns();
  thread_ = std::thread([this] { loop(); });
}

Timeline TimelineSampler::stop() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!stopped_) {
    stopping_ = true;
    lock.unlock();
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    lock.lock();
    if (t0_ != 0) sample();  // the run's end
    stopped_ = true;
  }
  return timeline_;
}

// Sleeps one interval (the timeline's, which doubles as it fills) between
// samples, aligned to multiples of it from the start.
void TimelineSampler::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  int64_t next = t0_;
  while (!stopping_) {
    const auto interval_ns = static_cast<int64_t>(timeline_.interval_s() * 1e9);
    next += interval_ns;
    const int64_t now = steady_ns();
    if (next < now) next = now - (now - t0_) % interval_ns + interval_ns;  // fell behind
    wake_.wait_for(lock, std::chrono::nanoseconds(next - now), [this] { return stopping_; });
    if (stopping_) break;
    sample();
  }
}

// Under mutex_.
void TimelineSampler::sample() {
  const double ns = ns_per_tick();
  std::vector<StageSample> stages(probe_.stages.size());
  for (size_t k = 0; k < stages.size(); ++k) {
    uint64_t busy = 0, wait = 0;
    probe_.stages[k]->counts(stages[k].items_in, stages[k].items_out, busy, wait);
    stages[k].busy_s = busy * ns * 1e-9;
    stages[k].wait_s = wait * ns * 1e-9;
  }
  const double t = (steady_ns() - t0_) * 1e-9;
  timeline_.add(t, probe_.in_flight ? probe_.in_flight() : 0, probe_.epoch ? probe_.epoch() : 0,
                stages);
  if (listener_) listener_(timeline_);
}

}  // namespace sluice

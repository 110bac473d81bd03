#include "pipeline/run_monitor.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace sluice {

void RunMonitor::begin(std::string pipeline, std::vector<MonitoredStage> stages, int threads,
                       size_t max_in_flight, int64_t epochs) {
  std::lock_guard<std::mutex> lock(mutex_);
  pipeline_ = std::move(pipeline);
  stages_ = std::move(stages);
  threads_ = threads;
  max_in_flight_ = max_in_flight;
  epochs_ = epochs;
  started_ = Clock::now();
  state_ = "running";
}

void RunMonitor::update(const Timeline& timeline) {
  std::lock_guard<std::mutex> lock(mutex_);
  timeline_ = timeline;
}

void RunMonitor::end(const std::string& status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = status;
  error_ = error;
  elapsed_at_end_s_ = std::chrono::duration<double>(Clock::now() - started_).count();
}

std::string RunMonitor::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

namespace {

// The share of the run done and the time left, from the epoch reached and, in
// it, a stage's reported progress (a trainer's steps); null when not known.
void add_progress(nlohmann::ordered_json& j, const LiveMetrics::Progress& p, int64_t timeline_epoch,
                  int64_t epochs, double elapsed_s, bool running) {
  const int64_t epoch = p.epoch > 0 ? p.epoch : timeline_epoch;
  nlohmann::ordered_json fraction = nullptr, eta = nullptr;
  if (epochs > 0 && epoch > 0) {
    double within = 0;
    if (p.epoch == epoch && p.total > 0) {
      within = std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total));
    }
    const double f = std::min(1.0, (static_cast<double>(epoch - 1) + within) / epochs);
    fraction = f;
    if (running && f > 0) eta = elapsed_s * (1 - f) / f;
  }
  j["progress"] = {{"epoch", epoch},   {"epochs", epochs},     {"phase", p.phase}, {"done", p.done},
                   {"total", p.total}, {"fraction", fraction}, {"eta_s", eta}};
}

}  // namespace

std::string RunMonitor::status_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool running = state_ == "running";
  const double elapsed = elapsed_at_end_s_ >= 0 ? elapsed_at_end_s_
                         : state_ == "starting"
                             ? 0
                             : std::chrono::duration<double>(Clock::now() - started_).count();
  nlohmann::ordered_json j;
  j["state"] = state_;
  if (!error_.empty()) j["error"] = error_;
  j["pipeline"] = pipeline_;
  j["elapsed_s"] = elapsed;
  j["threads"] = threads_;
  j["max_in_flight"] = max_in_flight_;
  const size_t last = timeline_.size();
  j["in_flight"] = last ? timeline_.in_flight().back() : 0;
  const double t = last ? timeline_.t_s().back() : 0;
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (size_t k = 0; k < stages_.size(); ++k) {
    const MonitoredStage& m = stages_[k];
    StageSample s;
    if (last && k < timeline_.stage_ids().size()) s = timeline_.stage(k, last - 1);
    const double items = static_cast<double>(std::max(s.items_in, s.items_out));
    stages.push_back({{"id", m.id},
                      {"type", m.type},
                      {"kind", m.kind},
                      {"concurrency", m.concurrency},
                      {"effective_concurrency", m.effective_concurrency},
                      {"items_in", s.items_in},
                      {"items_out", s.items_out},
                      {"busy_s", s.busy_s},
                      {"wait_s", s.wait_s},
                      {"items_per_s", t > 0 ? items / t : 0.0},
                      {"utilisation", t > 0 ? s.busy_s / (t * m.effective_concurrency) : 0.0}});
  }
  j["stages"] = std::move(stages);
  j["timeline"] = nlohmann::ordered_json::parse(timeline_.to_json());
  j["live"] = nlohmann::ordered_json::parse(live_.to_json());
  add_progress(j, live_.progress(), last ? timeline_.epoch().back() : 0, epochs_, elapsed, running);
  return j.dump();
}

}  // namespace sluice

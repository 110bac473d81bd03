#include "pipeline/live_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

// Whole numbers (epoch, image counts) as integers, NaN as null.
nlohmann::json number_or_null(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (v == std::trunc(v) && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
  return v;
}

}  // namespace

void LiveMetrics::add_step(int64_t step, const Values& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (seen_++ % stride_ != 0) return;
  if (steps_.size() >= kMaxSteps) {
    size_t w = 0;
    for (size_t r = 0; r < steps_.size(); r += 2, ++w) {
      steps_[w] = steps_[r];
      for (auto& v : values_) v[w] = v[r];
    }
    steps_.resize(w);
    for (auto& v : values_) v.resize(w);
    stride_ *= 2;
    seen_ = 1;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  steps_.push_back(step);
  for (auto& v : values_) v.push_back(nan);
  for (const auto& [name, value] : values) {
    auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) {
      names_.push_back(name);
      values_.emplace_back(steps_.size(), nan);
      it = names_.end() - 1;
    }
    values_[static_cast<size_t>(it - names_.begin())].back() = value;
  }
}

void LiveMetrics::add_epoch(const Values& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  epochs_.push_back(values);
}

void LiveMetrics::set_progress(const std::string& phase, int64_t done, int64_t total,
                               int64_t epoch) {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_.phase = phase;
  progress_.done = done;
  progress_.total = total;
  progress_.epoch = epoch;
}

LiveMetrics::Progress LiveMetrics::progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return progress_;
}

size_t LiveMetrics::step_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return steps_.size();
}

// Copies under the lock, serializes outside it: a reporting stage waits for a
// copy at most.
std::string LiveMetrics::to_json() const {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::vector<int64_t> step_numbers = steps_;
  const std::vector<std::string> names = names_;
  const std::vector<std::vector<double>> values = values_;
  const std::vector<Values> epoch_rows = epochs_;
  const Progress progress = progress_;
  lock.unlock();
  nlohmann::json steps = {{"step", step_numbers}};
  for (size_t k = 0; k < names.size(); ++k) {
    nlohmann::json a = nlohmann::json::array();
    for (double v : values[k]) a.push_back(number_or_null(v));
    steps[names[k]] = std::move(a);
  }
  nlohmann::json epochs = nlohmann::json::array();
  for (const Values& row : epoch_rows) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [name, v] : row) o[name] = number_or_null(v);
    epochs.push_back(std::move(o));
  }
  nlohmann::json j = {{"steps", std::move(steps)},
                      {"epochs", std::move(epochs)},
                      {"progress",
                       {{"phase", progress.phase},
                        {"done", progress.done},
                        {"total", progress.total},
                        {"epoch", progress.epoch}}}};
  return j.dump();
}

}  // namespace sluice

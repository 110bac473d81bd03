#include "pipeline/trace.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sluice {

TraceRecorder::TraceRecorder(std::vector<std::string> stage_names, int slots, size_t max_events)
    : names_(std::move(stage_names)),
      slots_(static_cast<size_t>(std::max(slots, 1))),
      per_slot_cap_(max_events / std::max<size_t>(1, static_cast<size_t>(std::max(slots, 1)))),
      origin_(ticks_now()),
      dropped_(std::make_unique<std::atomic<size_t>>(0)),
      overflow_mutex_(std::make_unique<std::mutex>()) {}

void TraceRecorder::record(int stage, int slot, Ticks start, Ticks end) {
  std::unique_lock<std::mutex> shared_lock;
  if (slot < 0 || static_cast<size_t>(slot) + 1 >= slots_.size()) {
    slot = static_cast<int>(slots_.size()) - 1;  // threads beyond the slots share the last
    shared_lock = std::unique_lock<std::mutex>(*overflow_mutex_);
  }
  auto& events = slots_[slot].events;
  if (events.size() >= per_slot_cap_) {
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  events.push_back({stage, static_cast<int64_t>(start - origin_),
                    static_cast<int64_t>(end > start ? end - start : 0)});
}

size_t TraceRecorder::dropped() const { return dropped_->load(); }

void TraceRecorder::write(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write trace file '" + path + "'");
  const double us_per_tick = ns_per_tick() / 1000.0;
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 0},
                    {"args", {{"name", "sluice"}}}});
  for (size_t t = 0; t < slots_.size(); ++t) {
    if (slots_[t].events.empty()) continue;
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", t},
                      {"args", {{"name", "worker " + std::to_string(t)}}}});
    for (const Event& e : slots_[t].events) {
      events.push_back({{"name", names_[e.stage]},
                        {"cat", "stage"},
                        {"ph", "X"},
                        {"pid", 1},
                        {"tid", t},
                        {"ts", e.start * us_per_tick},
                        {"dur", e.dur * us_per_tick}});
    }
  }
  nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
  out << doc.dump();
  if (!out) throw std::runtime_error("error writing trace file '" + path + "'");
}

}  // namespace sluice

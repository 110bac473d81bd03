// Chrome-trace / Perfetto recording: one complete ("X") event per stage call,
// on the thread that ran it. Opens in chrome://tracing and ui.perfetto.dev.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice {

class TraceRecorder {
 public:
  // `slots`: the number of worker-thread slots (events are kept per slot, so
  // recording takes no lock). `max_events` bounds memory; later events drop.
  TraceRecorder(std::vector<std::string> stage_names, int slots, size_t max_events = 2'000'000);
  void record(int stage, int slot, std::chrono::steady_clock::time_point start,
              std::chrono::steady_clock::time_point end);
  void set_origin(std::chrono::steady_clock::time_point t0) { origin_ = t0; }
  // Writes {"traceEvents": [...]} ; throws std::runtime_error on I/O errors.
  void write(const std::string& path) const;
  size_t dropped() const;

 private:
  struct Event {
    int32_t stage;
    int64_t start_ns;
    int64_t dur_ns;
  };
  struct Slot {
    std::vector<Event> events;
  };
  std::vector<std::string> names_;
  std::vector<Slot> slots_;
  size_t per_slot_cap_;
  std::chrono::steady_clock::time_point origin_;
  std::unique_ptr<std::atomic<size_t>> dropped_;
};

}  // namespace sluice

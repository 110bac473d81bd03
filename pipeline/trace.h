// Chrome-trace / Perfetto recording: one complete ("X") event per stage call,
// on the thread that ran it. Opens in chrome://tracing and ui.perfetto.dev.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/clock.h"

namespace sluice {

class TraceRecorder {
 public:
  // `slots`: the number of worker-thread slots (events are kept per slot, so
  // recording takes no lock). `max_events` bounds memory; later events drop.
  TraceRecorder(std::vector<std::string> stage_names, int slots, size_t max_events = 2'000'000);
  void record(int stage, int slot, Ticks start, Ticks end);
  void set_origin(Ticks t0) { origin_ = t0; }
  // Writes {"traceEvents": [...], "otherData": {...}} through a temporary file
  // renamed into place; throws std::runtime_error (naming the path) on any I/O
  // error, leaving no file. otherData says how many spans were recorded and,
  // when the recorder was full, that the trace is truncated (see note()).
  void write(const std::string& path) const;
  size_t recorded() const;
  size_t dropped() const;
  // "" or "trace truncated at N spans; M more not recorded".
  std::string note() const;

 private:
  struct Event {
    int32_t stage;
    int64_t start;  // ticks since origin
    int64_t dur;
  };
  struct Slot {
    std::vector<Event> events;
  };
  std::vector<std::string> names_;
  std::vector<Slot> slots_;
  size_t per_slot_cap_;
  Ticks origin_;
  std::unique_ptr<std::atomic<size_t>> dropped_;
  std::unique_ptr<std::mutex> overflow_mutex_;
};

}  // namespace sluice

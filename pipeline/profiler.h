// Per-stage statistics collected by the framework around every stage body, and
// the reports made from them (table, JSON). Stages never time themselves.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/timeline.h"

namespace sluice {

// Lock-free latency histogram: log-linear buckets (8 per power of two) over
// clock ticks, so percentiles are within ~9% and recording is one atomic add.
class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;
  static constexpr int kBuckets = 64 * kSubBuckets;
  void record(uint64_t ticks);
  // For a histogram only the calling thread writes to.
  void record_exclusive(uint64_t ticks) {
    auto& b = buckets_[bucket_of(ticks)];
    b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // q in [0, 1]; returns ticks (bucket midpoint), 0 when empty.
  double quantile(double q) const;
  uint64_t count() const;
  void add(const LatencyHistogram& other);

 private:
  static int bucket_of(uint64_t ticks) {
    if (ticks < kSubBuckets) return static_cast<int>(ticks);
    int msb = 63 - __builtin_clzll(ticks);  // >= 3
    int sub = static_cast<int>((ticks >> (msb - 3)) & (kSubBuckets - 1));
    int b = (msb - 2) * kSubBuckets + sub;
    return b < kBuckets ? b : kBuckets - 1;
  }
  static double bucket_mid(int b);
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

// Live counters of one stage on one worker thread (times in clock ticks).
// One slot per thread keeps the hot path free of shared cache lines.
struct alignas(64) StatSlot {
  std::atomic<uint64_t> items_in{0};
  std::atomic<uint64_t> items_out{0};
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> busy{0};
  std::atomic<uint64_t> wait{0};  // source: blocked on back-pressure; others: queued
  LatencyHistogram latency;       // per call (one input item)
};

class StageStats {
 public:
  explicit StageStats(size_t slots = 1);
  // The calling thread's slot (index from the task arena; others share the last).
  bool owns(int index) const { return index >= 0 && static_cast<size_t>(index) + 1 < n_; }
  StatSlot& slot(int index) { return slots_[owns(index) ? static_cast<size_t>(index) : n_ - 1]; }
  // Sum over all slots.
  void total(uint64_t& items_in, uint64_t& items_out, uint64_t& calls, uint64_t& busy,
             uint64_t& wait, LatencyHistogram& latency) const;
  // The counters alone (no histogram), summed over all slots: for sampling.
  void counts(uint64_t& items_in, uint64_t& items_out, uint64_t& busy, uint64_t& wait) const;

 private:
  std::unique_ptr<StatSlot[]> slots_;
  size_t n_;
};

// A finished stage's numbers, as reported.
struct StageProfile {
  std::string id;
  std::string type;
  std::string kind;
  std::string concurrency;
  uint64_t items_in = 0;
  uint64_t items_out = 0;
  double busy_s = 0;
  double wait_s = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p95_us = 0;
  double p99_us = 0;
  double items_per_s = 0;
  double utilisation = 0;  // busy / (wall x effective concurrency)
  bool bottleneck = false;
};

enum class RunStatus { kCompleted, kStopped, kInterrupted, kFailed };
const char* run_status_name(RunStatus status);

struct RunReport {
  std::string pipeline;
  RunStatus status = RunStatus::kCompleted;
  std::string error;  // for kFailed: stage id, item and cause
  std::string failed_stage;
  double wall_s = 0;
  int threads = 0;
  size_t max_in_flight = 0;
  size_t peak_in_flight = 0;
  std::vector<StageProfile> stages;  // topological order
  // Stages that ran chained in one node (RunOptions::chain), by id, in order.
  std::vector<std::vector<std::string>> chains;
  std::map<std::string, int64_t> counters;
  // RunOptions::trace_path: why the trace could not be written ("" when it
  // was), and the TraceRecorder's note when it was cut ("" when complete).
  std::string trace_error;
  std::string trace_note;
  // The per-stage counters over time (pipeline/timeline.h).
  Timeline timeline;
};

StageProfile make_profile(const StageStats& stats, double wall_s, size_t effective_concurrency);
// Marks the stage with the highest utilisation as the bottleneck; stages no item
// passed through are never marked (a run that did nothing has no bottleneck).
void mark_bottleneck(std::vector<StageProfile>& stages);

// A readable table; `detailed` adds the latency percentiles and the mean wait per
// item (wait_s is summed over items, which wait at the same time: it can exceed
// the wall time, so the table divides it by the items).
void print_profile_table(std::ostream& out, const RunReport& report, bool detailed = true);
std::string profile_json(const RunReport& report);
// Writes profile_json to `path`; throws std::runtime_error naming the path on
// any I/O error.
void write_profile_json(const std::string& path, const RunReport& report);

}  // namespace sluice

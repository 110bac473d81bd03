// Per-stage statistics collected by the framework around every stage body, and
// the reports made from them (table, JSON). Stages never time themselves.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace sluice {

// Lock-free latency histogram: log-linear buckets (8 per power of two) over
// nanoseconds, so percentiles are within ~9% and recording is one atomic add.
class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 8;
  static constexpr int kBuckets = 64 * kSubBuckets;
  void record(uint64_t ns);
  // q in [0, 1]; returns nanoseconds (bucket midpoint), 0 when empty.
  double quantile(double q) const;
  uint64_t count() const;

 private:
  static int bucket_of(uint64_t ns);
  static double bucket_mid(int b);
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

// Live counters of one stage, updated by the node wrapper.
struct StageStats {
  std::atomic<uint64_t> items_in{0};
  std::atomic<uint64_t> items_out{0};
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> busy_ns{0};
  std::atomic<uint64_t> wait_ns{0};  // source: blocked on back-pressure; others: queued
  LatencyHistogram latency;          // per call (one input item)
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
  std::map<std::string, int64_t> counters;
};

StageProfile make_profile(const StageStats& stats, double wall_s, size_t effective_concurrency);
// Marks the stage with the highest utilisation as the bottleneck.
void mark_bottleneck(std::vector<StageProfile>& stages);

// A readable table; `detailed` adds the latency percentiles and wait column.
void print_profile_table(std::ostream& out, const RunReport& report, bool detailed = true);
std::string profile_json(const RunReport& report);

}  // namespace sluice

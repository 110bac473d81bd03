// Runs a validated graph on oneTBB's flow graph.
//
// Each stage becomes a function_node (sources an input_node; a chain of
// `auto` stages shares one, see RunOptions::chain) wrapped by the
// framework: it times the body, counts items, restores order where a stage
// needs it (sequencer_node), bounds the items in flight per source
// (limiter_node: back-pressure), and turns an exception into a cancelled graph
// and a report naming the stage and the item.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/profiler.h"
#include "pipeline/registry.h"
#include "pipeline/run_monitor.h"
#include "pipeline/validate.h"

namespace sluice {

struct RunOptions {
  int threads = 0;             // 0: the config's pipeline.threads, else all cores
  size_t max_in_flight = 0;    // 0: the config's pipeline.max_in_flight, else 4 x threads + 16
  int64_t seed = -1;           // -1: the config's pipeline.seed
  // Chaining: a stage whose only input is an `auto` transform that feeds no
  // other stage, and which is `auto` itself and needs no ordered input, runs in
  // its producer's node: the item passes straight on, on the same thread, with
  // no trip through TBB's queues. Profiling stays per stage. Unset: the
  // config's pipeline.chain (default true).
  std::optional<bool> chain;
  std::string trace_path;      // write a Chrome trace here when set
  bool handle_signals = false; // SIGINT/SIGTERM stop the sources (CLI runs)
  // The timeline (RunReport::timeline): sampling interval and how many
  // samples are kept before pairs merge and the interval doubles.
  double timeline_interval_s = Timeline::kDefaultInterval;
  size_t timeline_max_samples = Timeline::kDefaultMaxSamples;
  // A watcher of the run (the live dashboard): filled while the graph runs.
  // Must outlive run_graph; may be read from any thread.
  RunMonitor* monitor = nullptr;
};

// Thrown inside the graph, carried to the report: which stage, which item.
class StageFailure : public std::runtime_error {
 public:
  StageFailure(std::string stage, std::string item, std::string cause);
  const std::string& stage() const { return stage_; }
  const std::string& item() const { return item_; }
  const std::string& cause() const { return cause_; }

 private:
  std::string stage_, item_, cause_;
};

// Instantiates the stages (factories may throw: reported as a failure of that
// stage), runs the graph to completion, stop or failure, and reports.
// Never throws for stage errors; the report says what failed.
RunReport run_graph(const ValidatedGraph& graph, const RunOptions& options = {});

// The stages that run_graph chains into one node (RunOptions::chain), as
// indices into graph.stages: each chain in stream order, only chains of two
// or more; none when `enabled` is false.
std::vector<std::vector<size_t>> plan_chains(const ValidatedGraph& graph, bool enabled);

}  // namespace sluice

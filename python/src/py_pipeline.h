// The C++ side of sluice.Pipeline, without Python types: loads and validates a
// config as `sluice check` does, wires python.output where the config's output
// is, runs the graph on its own thread and hands the stream over through a
// bounded OutputQueue. One object runs the graph any number of times, one run
// at a time; each run starts from the same seed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "python/src/output_queue.h"
#include "python/src/output_wiring.h"

namespace sluice::python {

struct PipelineOptions {
  std::string path;
  std::vector<std::string> overrides;  // "stage.key=value", as --set
  std::vector<std::string> plugins;
  std::string output;         // empty: [pipeline] output, else the only unconsumed stage
  int64_t threads = 0;        // 0: the config's, else all cores
  int64_t max_in_flight = 0;  // 0: the config's, else the runner's default
  size_t queue_depth = 2;     // items between the graph and Python
  // Both or neither: shard the index sources (when world_size > 1).
  std::optional<int64_t> rank;
  std::optional<int64_t> world_size;
};

// Thread-safe: close() may come from any thread while another waits in next().
// Each run has a number; next() for a run that is no longer the current one (a
// new one started) ends at once, so a stale iterator never takes a newer run's
// items.
class PyPipeline {
 public:
  // Throws ConfigError with every diagnostic (a refused plugin included, and the
  // options checked with the CLI's specs: pipeline/run_option_specs.h).
  explicit PyPipeline(PipelineOptions options);
  ~PyPipeline();
  PyPipeline(const PyPipeline&) = delete;
  PyPipeline& operator=(const PyPipeline&) = delete;

  // Starts a run (after joining a finished one) and returns its number. Throws
  // when one is running.
  uint64_t start();
  bool running() const;
  // The next item of run `run`; kEnd once it has ended and everything was taken
  // (then its thread is joined and report() is set), once it was closed, or
  // when `run` is not the current run.
  OutputQueue::Pop next(uint64_t run, OutputItem& out, std::chrono::milliseconds timeout);
  // Stops the run: sources stop, what is in flight drains and is dropped,
  // every thread is joined. A no-op when nothing runs.
  void close();

  const ValidatedGraph& graph() const { return graph_; }
  const OutputChoice& output() const { return choice_; }
  // The last finished run's report; nullopt before one finished.
  std::optional<RunReport> report() const;
  size_t queue_depth() const { return options_.queue_depth; }

 private:
  bool running_locked() const { return thread_.joinable() && !joined_; }
  void join_locked();

  PipelineOptions options_;
  Registry registry_;
  ValidatedGraph graph_;
  OutputChoice choice_;
  RunOptions run_options_;
  mutable std::mutex mutex_;  // guards what follows; never held while waiting for an item
  std::shared_ptr<OutputQueue> queue_;
  uint64_t run_ = 0;
  std::thread thread_;
  bool joined_ = true;
  RunReport last_;
  std::optional<RunReport> report_;
};

// The stage types this module can run (built-in generic and data stages, plus
// the plugins of SLUICE_PLUGIN_PATH and `plugins`), python.output left out.
std::vector<const StageEntry*> module_stage_types(const Registry& registry);
Registry make_module_registry(const std::vector<std::string>& plugins);

}  // namespace sluice::python

// The C++ side of sluice.Pipeline, without Python types: loads and validates a
// config as `sluice check` does, wires python.output where the config's output
// is, runs the graph on its own thread and hands the stream over through a
// bounded OutputQueue. One object runs the graph any number of times, one run
// at a time; each run starts from the same seed.
#pragma once

#include <chrono>
#include <memory>
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
  std::string output;        // empty: [pipeline] output, else the only unconsumed stage
  int threads = 0;           // 0: the config's, else all cores
  size_t max_in_flight = 0;  // 0: the config's, else the runner's default
  size_t queue_depth = 2;    // items between the graph and Python
  int64_t rank = -1;         // >= 0 with world_size > 1: shard the index sources
  int64_t world_size = 0;
};

class PyPipeline {
 public:
  // Throws ConfigError with every diagnostic (a refused plugin included).
  explicit PyPipeline(PipelineOptions options);
  ~PyPipeline();
  PyPipeline(const PyPipeline&) = delete;
  PyPipeline& operator=(const PyPipeline&) = delete;

  // Starts a run (after joining a finished one). Throws when one is running.
  void start();
  bool running() const { return thread_.joinable() && !joined_; }
  // The next item of the running run; kEnd once it has ended and everything
  // was taken (then the run's thread is joined and report() is set).
  OutputQueue::Pop next(OutputItem& out, std::chrono::milliseconds timeout);
  // Stops the run: sources stop, what is in flight drains and is dropped,
  // every thread is joined. A no-op when nothing runs.
  void close();

  const ValidatedGraph& graph() const { return graph_; }
  const OutputChoice& output() const { return choice_; }
  // The last finished run's report; nullopt before one finished.
  const std::optional<RunReport>& report() const { return report_; }
  size_t queue_depth() const { return options_.queue_depth; }

 private:
  void join();

  PipelineOptions options_;
  Registry registry_;
  ValidatedGraph graph_;
  OutputChoice choice_;
  RunOptions run_options_;
  std::shared_ptr<OutputQueue> queue_;
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

#include "python/src/py_pipeline.h"

#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "pipeline/config.h"
#include "pipeline/invocation.h"
#include "pipeline/plugin.h"
#include "python/src/output_stage.h"
#include "stages/data/data_stages.h"
#include "stages/generic/generic_stages.h"

namespace sluice::python {

Registry make_module_registry(const std::vector<std::string>& plugins) {
  Registry registry;
  registry.set_origin("built-in");
  register_generic_stages(registry);
  register_data_stages(registry);
  if (const char* dirs = std::getenv(kPluginPathEnv)) {
    for (const std::string& file : plugin_files_in(dirs)) load_plugin(file, registry);
  }
  for (const std::string& path : plugins) load_plugin(path, registry);
  return registry;
}

std::vector<const StageEntry*> module_stage_types(const Registry& registry) {
  std::vector<const StageEntry*> out;
  for (const StageEntry* e : registry.entries()) {
    if (e->spec.name != kOutputStageType) out.push_back(e);
  }
  return out;
}

namespace {

// The training family is not in this module: say so next to "unknown stage type".
void add_torch_note(std::vector<Diagnostic>& errors) {
  for (Diagnostic& d : errors) {
    for (const char* family : {"'train.", "'eval.", "'predict."}) {
      if (d.message.find(std::string("unknown stage type ") + family) != std::string::npos) {
        d.message +=
            " (the Python module runs the data path only; name the stage that feeds "
            "the trainer as the output, e.g. output=\"batch\")";
        break;
      }
    }
  }
}

// Shard overrides for the index sources that do not set their shard, from
// the rank Python was given (torch.distributed); RANK/WORLD_SIZE in the
// environment are read by the sources themselves.
std::vector<std::string> shard_overrides(const PipelineOptions& o, const Registry& registry) {
  if (o.rank < 0 || o.world_size <= 1) return {};
  std::vector<Diagnostic> ignored;
  GraphConfig config = load_config(o.path, o.overrides, ignored);
  std::vector<std::string> extra;
  for (const std::string& id : stages_without(config, registry, "shard_rank")) {
    extra.push_back(id + ".shard_rank=" + std::to_string(o.rank));
    extra.push_back(id + ".shard_count=" + std::to_string(o.world_size));
  }
  return extra;
}

}  // namespace

PyPipeline::PyPipeline(PipelineOptions options) : options_(std::move(options)) {
  std::vector<Diagnostic> errors;
  try {
    registry_ = make_module_registry(options_.plugins);
  } catch (const PluginError& e) {
    Diagnostic d;
    d.where.file = "plugins";
    d.message = e.what();
    throw ConfigError({d});
  }
  register_output_stage(registry_, [this] { return queue_; });
  std::vector<std::string> overrides = options_.overrides;
  for (auto& s : shard_overrides(options_, registry_)) overrides.push_back(std::move(s));
  GraphConfig config = load_config(options_.path, overrides, errors);
  for (const std::string& plugin : config.settings.plugins) {
    try {
      load_plugin(plugin, registry_);
    } catch (const PluginError& e) {
      auto it = config.settings.where.find("plugins");
      errors.push_back(
          {it != config.settings.where.end() ? it->second : SourceLocation{options_.path, 0, 0},
           e.what()});
    }
  }
  if (errors.empty() || !config.stages.empty()) {
    if (!config.stages.empty()) choice_ = wire_output(config, options_.output, registry_, errors);
    graph_ = validate(config, registry_, errors);
  }
  if (!errors.empty()) {
    add_torch_note(errors);
    throw ConfigError(std::move(errors));
  }
  run_options_.threads = options_.threads;
  run_options_.max_in_flight = options_.max_in_flight;
  run_options_.handle_signals = false;  // Python keeps its own SIGINT handler
}

PyPipeline::~PyPipeline() { close(); }

void PyPipeline::start() {
  if (running()) throw std::logic_error("the pipeline is already running");
  join();
  queue_ = std::make_shared<OutputQueue>(options_.queue_depth);
  joined_ = false;
  thread_ = std::thread([this, queue = queue_] {
    try {
      last_ = run_graph(graph_, run_options_);
    } catch (const std::exception& e) {
      last_ = RunReport{};
      last_.status = RunStatus::kFailed;
      last_.error = e.what();
    }
    finish_invocation_records(last_);  // a training stage's run folder records the run
    queue->end();
  });
}

OutputQueue::Pop PyPipeline::next(OutputItem& out, std::chrono::milliseconds timeout) {
  if (!queue_) return OutputQueue::Pop::kEnd;
  const OutputQueue::Pop r = queue_->pop(out, timeout);
  if (r == OutputQueue::Pop::kEnd) join();
  return r;
}

void PyPipeline::close() {
  if (queue_) queue_->close();
  join();
}

void PyPipeline::join() {
  if (thread_.joinable()) thread_.join();
  if (!joined_) {
    joined_ = true;
    report_ = last_;
  }
}

}  // namespace sluice::python

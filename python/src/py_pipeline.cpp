#include "python/src/py_pipeline.h"

#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "pipeline/config.h"
#include "pipeline/invocation.h"
#include "pipeline/plugin.h"
#include "pipeline/run_option_specs.h"
#include "pipeline/validate.h"
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
  if (!o.rank || !o.world_size || *o.world_size <= 1) return {};
  std::vector<Diagnostic> ignored;
  GraphConfig config = load_config(o.path, o.overrides, ignored);
  std::vector<std::string> extra;
  for (const std::string& id : stages_without(config, registry, "shard_rank")) {
    extra.push_back(id + ".shard_rank=" + std::to_string(*o.rank));
    extra.push_back(id + ".shard_count=" + std::to_string(*o.world_size));
  }
  return extra;
}

Diagnostic option_error(const std::string& name, const std::string& why) {
  Diagnostic d;
  d.where.file = "sluice.Pipeline";
  d.message = name + " " + why;
  return d;
}

// The options Python passes, checked with the specs the CLI checks --threads and
// --max-in-flight with (the same ranges, the same words), and rank/world_size as
// the index sources check shard_rank/shard_count.
std::vector<Diagnostic> check_options(const PipelineOptions& o) {
  std::vector<Diagnostic> errors;
  auto check = [&errors](const std::string& name, const ParamSpec& spec, int64_t value) {
    const std::string why = check_param_value(spec, ParamValue{value});
    if (!why.empty()) errors.push_back(option_error(name, why));
    return why.empty();
  };
  check("threads", threads_option_spec(), o.threads);
  if (check("max_in_flight", max_in_flight_option_spec(), o.max_in_flight)) {
    const std::string why = max_in_flight_problem(o.max_in_flight);
    if (!why.empty()) errors.push_back(option_error("max_in_flight", why));
  }
  if (o.rank.has_value() != o.world_size.has_value()) {
    errors.push_back(
        option_error(o.rank ? "rank" : "world_size",
                     o.rank ? "is given without world_size" : "is given without rank"));
  } else if (o.rank && check("world_size", world_size_option_spec(), *o.world_size) &&
             check("rank", rank_option_spec(), *o.rank) && *o.rank >= *o.world_size) {
    errors.push_back(option_error("rank", "must be below world_size " +
                                              std::to_string(*o.world_size) + ", got " +
                                              std::to_string(*o.rank)));
  }
  return errors;
}

}  // namespace

PyPipeline::PyPipeline(PipelineOptions options) : options_(std::move(options)) {
  if (auto bad = check_options(options_); !bad.empty()) throw ConfigError(std::move(bad));
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
  run_options_.threads = static_cast<int>(options_.threads);
  run_options_.max_in_flight = static_cast<size_t>(options_.max_in_flight);
  run_options_.handle_signals = false;  // Python keeps its own SIGINT handler
}

PyPipeline::~PyPipeline() { close(); }

uint64_t PyPipeline::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_locked()) throw std::logic_error("the pipeline is already running");
  join_locked();
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
  return ++run_;
}

bool PyPipeline::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_locked();
}

OutputQueue::Pop PyPipeline::next(uint64_t run, OutputItem& out,
                                  std::chrono::milliseconds timeout) {
  std::shared_ptr<OutputQueue> queue;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (run != run_ || !queue_) return OutputQueue::Pop::kEnd;
    queue = queue_;
  }
  const OutputQueue::Pop r = queue->pop(out, timeout);
  if (r == OutputQueue::Pop::kEnd) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (run == run_) join_locked();
  }
  return r;
}

void PyPipeline::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (queue_) queue_->close();
  join_locked();
}

std::optional<RunReport> PyPipeline::report() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return report_;
}

// The run's thread never takes mutex_, so joining under it cannot deadlock; a
// closed queue lets the graph drain without a consumer.
void PyPipeline::join_locked() {
  if (thread_.joinable()) thread_.join();
  if (!joined_) {
    joined_ = true;
    report_ = last_;
  }
}

}  // namespace sluice::python

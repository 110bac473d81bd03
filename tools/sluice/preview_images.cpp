#include "tools/sluice/preview_images.h"

#include <memory>
#include <mutex>
#include <set>

#include "pipeline/plugin.h"
#include "pipeline/runner.h"
#include "tools/sluice/cli_common.h"

namespace sluice::cli {
namespace {

struct Collected {
  std::mutex mutex;
  std::vector<Image> images;
  size_t wanted = 16;
};

class PreviewCollect : public Sink {
 public:
  explicit PreviewCollect(std::shared_ptr<Collected> out) : out_(std::move(out)) {}
  void open(StageContext& ctx) override { ctx_ = &ctx; }
  void consume(std::any& in) override {
    std::lock_guard<std::mutex> lock(out_->mutex);
    if (out_->images.size() < out_->wanted) out_->images.push_back(payload_as<Image>(in));
    if (out_->images.size() >= out_->wanted) ctx_->request_stop();
  }

 private:
  std::shared_ptr<Collected> out_;
  StageContext* ctx_ = nullptr;
};

// The stages `id` depends on, itself included.
void mark_ancestors(const GraphConfig& g, const std::string& id, std::set<std::string>& keep) {
  if (!keep.insert(id).second) return;
  if (const StageDecl* d = g.find(id)) {
    for (const auto& [input, where] : d->inputs) mark_ancestors(g, input, keep);
  }
}

// The last stage producing Images, preferring image.augment; empty when none does.
std::string image_tap(const GraphConfig& config, const Registry& registry) {
  std::string tap;
  for (const StageDecl& d : config.stages) {
    const std::string* use = d.use ? std::get_if<std::string>(&d.use->value) : nullptr;
    const StageEntry* e = use ? registry.find(*use) : nullptr;
    if (!e || !e->spec.output.same_as(port_type<Image>())) continue;
    if (tap.empty() || *use == "image.augment") tap = d.id;
  }
  return tap;
}

// `config` keeping only the stages up to `tap`, then a collecting sink.
void cut_after(GraphConfig& config, const std::string& tap) {
  std::set<std::string> keep;
  mark_ancestors(config, tap, keep);
  std::vector<StageDecl> stages;
  for (StageDecl& d : config.stages) {
    if (keep.count(d.id)) stages.push_back(std::move(d));
  }
  StageDecl sink;
  sink.id = "preview";
  sink.use = ConfigValue{std::string("preview.collect"), "string", {}, {}};
  sink.inputs.push_back({tap, {}});
  stages.push_back(std::move(sink));
  config.stages = std::move(stages);
}

// The plugins the config names (pipeline.plugins), as `sluice run` loads them.
void load_config_plugins(const GraphConfig& config, Registry& registry,
                         std::vector<Diagnostic>& errors) {
  for (const std::string& plugin : config.settings.plugins) {
    try {
      load_plugin(plugin, registry);
    } catch (const PluginError& e) {
      auto it = config.settings.where.find("plugins");
      errors.push_back(
          {it != config.settings.where.end() ? it->second : SourceLocation{config.path, 0, 0},
           e.what()});
    }
  }
}

}  // namespace

PreviewImages preview_images(const std::string& config_path,
                             const std::vector<std::string>& overrides, size_t count,
                             const std::vector<std::string>& plugins, int64_t seed) {
  PreviewImages out;
  Registry registry = make_registry(plugins);
  auto collected = std::make_shared<Collected>();
  collected->wanted = count;
  registry.set_origin("sluice preview");
  registry.add(StageSpec("preview.collect").sink<Image>().ordered(),
               [collected](const Params&) { return std::make_unique<PreviewCollect>(collected); });
  GraphConfig config = load_config(config_path, overrides, out.diagnostics);
  load_config_plugins(config, registry, out.diagnostics);
  if (!out.diagnostics.empty()) {
    out.code = kExitConfigError;
    return out;
  }
  out.tap = image_tap(config, registry);
  if (out.tap.empty()) {
    out.code = kExitConfigError;
    out.error = config_path + ": no stage produces Images to preview";
    return out;
  }
  cut_after(config, out.tap);
  ValidatedGraph graph = validate(config, registry, out.diagnostics);
  if (!out.diagnostics.empty()) {
    out.code = kExitConfigError;
    return out;
  }
  RunOptions options;
  options.seed = seed;
  RunReport report = run_graph(graph, options);
  if (report.status == RunStatus::kFailed) {
    out.code = kExitFailure;
    out.error = "error: " + report.error;
    return out;
  }
  out.images = std::move(collected->images);
  if (out.images.empty()) {
    out.code = kExitFailure;
    out.error = "the pipeline produced no images";
  }
  return out;
}

}  // namespace sluice::cli

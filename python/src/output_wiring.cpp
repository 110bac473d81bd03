#include "python/src/output_wiring.h"

#include <algorithm>
#include <set>
#include <variant>

#include "python/src/output_stage.h"

namespace sluice::python {
namespace {

const StageEntry* entry_of(const StageDecl& d, const Registry& registry) {
  if (!d.use) return nullptr;
  const auto* name = std::get_if<std::string>(&d.use->value);
  return name ? registry.find(*name) : nullptr;
}

std::set<std::string> consumed_ids(const GraphConfig& config) {
  std::set<std::string> consumed;
  for (const auto& d : config.stages) {
    for (const auto& in : d.inputs) consumed.insert(in.first);
  }
  return consumed;
}

// The stage that feeds Python when nobody named one: the only stage without a consumer.
std::string default_output(const GraphConfig& config, const SourceLocation& where,
                           std::vector<Diagnostic>& errors) {
  const std::set<std::string> consumed = consumed_ids(config);
  std::vector<std::string> leaves;
  for (const auto& d : config.stages) {
    if (!consumed.count(d.id)) leaves.push_back(d.id);
  }
  if (leaves.size() == 1) return leaves[0];
  std::string list;
  for (const auto& id : leaves) list += (list.empty() ? "'" : ", '") + id + "'";
  errors.push_back({where,
                    "name the stage Python takes its items from ([pipeline] output = "
                    "\"ID\" or Pipeline(output=\"ID\")); stages nobody consumes: " +
                        list});
  return {};
}

// `id` and every stage that takes its input from it, transitively.
std::set<std::string> downstream_of(const GraphConfig& config, const std::string& id) {
  std::set<std::string> seen = {id};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& d : config.stages) {
      if (seen.count(d.id)) continue;
      for (const auto& in : d.inputs) {
        if (seen.count(in.first)) {
          seen.insert(d.id);
          grew = true;
          break;
        }
      }
    }
  }
  return seen;
}

std::string unused_id(const GraphConfig& config) {
  std::string id = "python";
  for (int k = 2; config.find(id); ++k) id = "python" + std::to_string(k);
  return id;
}

}  // namespace

OutputChoice wire_output(GraphConfig& config, const std::string& requested,
                         const Registry& registry, std::vector<Diagnostic>& errors) {
  OutputChoice choice;
  SourceLocation where{config.path, 0, 0};
  if (!requested.empty()) {
    where = {"Pipeline(output=\"" + requested + "\")", 0, 0};
    choice.output = requested;
  } else if (!config.settings.output.empty()) {
    auto it = config.settings.where.find("output");
    if (it != config.settings.where.end()) where = it->second;
    choice.output = config.settings.output;
  } else {
    choice.output = default_output(config, where, errors);
  }
  if (choice.output.empty()) return choice;
  const StageDecl* out = config.find(choice.output);
  if (!out) {
    // validate() reports a pipeline.output that names no stage; an argument is reported here.
    if (!requested.empty()) {
      errors.push_back({where, "output names no stage '" + requested + "'"});
    }
    return choice;
  }
  // A sink (or a stage of a type this module lacks, like train.vgg, that nobody
  // consumes) is replaced: what feeds it feeds Python.
  const StageEntry* e = entry_of(*out, registry);
  const bool replace = e ? e->spec.kind == StageKind::kSink
                         : !consumed_ids(config).count(out->id) && !out->inputs.empty();
  if (replace) {
    for (const auto& in : out->inputs) choice.feeds.push_back(in.first);
  } else {
    choice.feeds.push_back(out->id);
  }
  // What consumed the output (a trainer beside Python, say) is left out, and so
  // is a replaced sink; the rest of the graph runs as written.
  std::set<std::string> drop = downstream_of(config, out->id);
  if (!replace) drop.erase(out->id);
  config.stages.erase(std::remove_if(config.stages.begin(), config.stages.end(),
                                     [&](const StageDecl& d) { return drop.count(d.id) > 0; }),
                      config.stages.end());
  StageDecl py;
  py.id = choice.python_stage = unused_id(config);
  py.where = where;
  ConfigValue use;
  use.value = std::string(kOutputStageType);
  use.toml_type = "string";
  use.key_where = use.value_where = where;
  py.use = use;
  for (const auto& id : choice.feeds) py.inputs.emplace_back(id, where);
  config.stages.push_back(std::move(py));
  config.settings.output.clear();  // wired: python.output stands where it pointed
  return choice;
}

std::vector<std::string> stages_without(const GraphConfig& config, const Registry& registry,
                                        const std::string& param) {
  std::vector<std::string> ids;
  for (const auto& d : config.stages) {
    const StageEntry* e = entry_of(d, registry);
    if (e && e->spec.find_param(param) && !d.params.count(param)) ids.push_back(d.id);
  }
  return ids;
}

}  // namespace sluice::python

#include "pipeline/spec_propagation.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>

namespace sluice {
namespace {

// Where each parameter's value is written; "input" (a framework key, never a
// parameter) is where the first input is named, so that a stage refusing its
// placement can point there.
std::map<std::string, SourceLocation> param_positions(const StageDecl* decl) {
  std::map<std::string, SourceLocation> where;
  if (!decl) return where;
  for (const auto& [key, cv] : decl->params) where[key] = cv.value_where;
  if (!decl->inputs.empty()) where["input"] = decl->inputs.front().second;
  return where;
}

// Randomness: this stage's own (StageSpec::random), else the first input's.
void mark_random(const ValidatedStage& vs, const std::vector<ElementSpec>& inputs,
                 ElementSpec& out) {
  const StageSpec& spec = vs.entry->spec;
  std::string why = spec.random_when ? spec.random_when(vs.params) : std::string();
  if (!why.empty()) {
    out.random_from = "stage '" + vs.id + "' (" + spec.name + "): " + why;
    return;
  }
  out.random_from.clear();
  for (const auto& in : inputs) {
    if (!in.random_from.empty()) {
      out.random_from = in.random_from;
      return;
    }
  }
}

// The stream its inputs merge into: epochs, splits and the sources they come from.
void merge_streams(const std::vector<ElementSpec>& inputs, ElementSpec& out) {
  out.epochs = 0;
  out.splits.clear();
  out.epoch_sources.clear();
  for (const auto& in : inputs) {
    if (in.epochs > 0 && out.epochs == 0) out.splits = in.splits;
    out.epochs = std::max(out.epochs, in.epochs);
    for (const auto& s : in.epoch_sources) {
      if (std::find(out.epoch_sources.begin(), out.epoch_sources.end(), s) ==
          out.epoch_sources.end()) {
        out.epoch_sources.push_back(s);
      }
    }
  }
}

// The payload type name an output spec has when the stage did not say.
std::string output_type(const StageSpec& spec, const std::vector<ElementSpec>& inputs) {
  if (!spec.output.is_any()) return spec.output.name;
  if (inputs.empty()) return {};
  for (const auto& in : inputs) {
    if (in.type != inputs.front().type) return {};
  }
  return inputs.front().type;
}

ElementSpec default_transform_spec(const StageSpec& spec, const std::vector<ElementSpec>& inputs) {
  if (spec.input.same_as(spec.output) && inputs.size() == 1) return inputs.front();
  ElementSpec out;
  out.type = output_type(spec, inputs);
  return out;
}

ElementSpec output_of(const ValidatedStage& vs, const std::vector<ElementSpec>& inputs,
                      SpecContext& ctx) {
  const StageSpec& spec = vs.entry->spec;
  ElementSpec out;
  switch (spec.kind) {
    case StageKind::kSink:
      return out;
    case StageKind::kSource:
      if (spec.source_spec) out = spec.source_spec(vs.params, ctx);
      if (out.type.empty()) out.type = output_type(spec, inputs);
      if (out.epochs > 0 && out.epoch_sources.empty()) out.epoch_sources = {vs.id};
      return out;
    case StageKind::kTransform:
      out = spec.transform_spec ? spec.transform_spec(vs.params, inputs, ctx)
                                : default_transform_spec(spec, inputs);
      if (out.type.empty()) out.type = output_type(spec, inputs);
      merge_streams(inputs, out);  // markers pass through transforms
      return out;
  }
  return out;
}

}  // namespace

void propagate_specs(ValidatedGraph& graph, const GraphConfig& config,
                     std::vector<Diagnostic>& errors) {
  const std::string config_dir = std::filesystem::path(config.path).parent_path().string();
  for (ValidatedStage& vs : graph.stages) {
    if (!vs.entry) continue;
    const StageDecl* decl = config.find(vs.id);
    SpecContext ctx(vs.id, vs.entry->spec.name,
                    decl ? decl->where : SourceLocation{config.path, 0, 0}, param_positions(decl),
                    config_dir, &errors);
    std::vector<ElementSpec> inputs;
    for (size_t j : vs.inputs) inputs.push_back(graph.stages[j].output_spec);
    try {
      if (vs.entry->spec.accepts_spec) {
        for (const auto& in : inputs) vs.entry->spec.accepts_spec(vs.params, in, ctx);
      }
      vs.output_spec = output_of(vs, inputs, ctx);
      mark_random(vs, inputs, vs.output_spec);
    } catch (const std::exception& e) {
      ctx.error("", std::string("computing its element spec: ") + e.what());
      vs.output_spec = ElementSpec{};
      vs.output_spec.type = output_type(vs.entry->spec, inputs);
    }
  }
}

}  // namespace sluice

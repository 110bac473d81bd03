// Checks a loaded GraphConfig against the stage registry before anything runs
// and reports every problem at once: unknown stage types and parameters (with
// suggestions), wrong types and out-of-range values, port type mismatches,
// cycles, dangling inputs.
#pragma once

#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/registry.h"

namespace sluice {

// Concurrency of one stage's body: 1 = serial; 0 = unlimited ("auto").
struct Concurrency {
  size_t limit = 1;
  bool is_auto() const { return limit == 0; }
  std::string to_string() const { return limit == 0 ? "auto" : limit == 1 ? "serial" : std::to_string(limit); }
};

struct ValidatedStage {
  std::string id;
  const StageEntry* entry = nullptr;
  Params params;
  Concurrency concurrency;
  std::vector<size_t> inputs;   // indices into ValidatedGraph::stages
  std::vector<size_t> outputs;  // stages consuming this one's output
  ElementSpec output_spec;      // what this stage emits (pipeline/spec_propagation.h)
};

struct ValidatedGraph {
  std::string name;
  std::string path;
  PipelineSettings settings;
  std::vector<ValidatedStage> stages;  // topological order: inputs before consumers
  const ValidatedStage* find(const std::string& id) const;
};

// Appends every error to `errors`; the returned graph is usable only when no
// error was added.
ValidatedGraph validate(const GraphConfig& config, const Registry& registry,
                        std::vector<Diagnostic>& errors);

// load_config + validate; throws ConfigError with all diagnostics.
ValidatedGraph load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                             const Registry& registry);
ValidatedGraph load_pipeline_string(const std::string& toml_text, const std::string& name,
                                    const std::vector<std::string>& overrides,
                                    const Registry& registry);

// The checks validation applies to a typed parameter value (finite numbers,
// range, list size, choices), for values that come from elsewhere (command-line
// options): "" when `value` is acceptable, else the message validation would
// give after "parameter 'NAME' ", e.g. "must be in [0, 255], got 300".
std::string check_param_value(const ParamSpec& spec, const ParamValue& value);

}  // namespace sluice

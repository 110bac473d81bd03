// Loading pipeline descriptions from TOML.
//
// A graph file declares stages under [stages.ID]; a config file is the same
// format plus a [pipeline] table that names the pipeline, includes graph
// files and sets run options. Later definitions override earlier ones key by
// key, so a config can include a graph and change a few parameters:
//
//   [pipeline]
//   name = "demo"
//   include = ["../graphs/numbers.toml"]   # relative to this file
//   seed = 7
//
//   [stages.scale]        # overrides a parameter of a stage from the include
//   factor = 3
//
// In [stages.ID] the keys `use`, `input` and `concurrency` belong to the
// framework; every other key is a parameter of the stage type named by `use`.
// A later layer that gives a stage another `use` starts it from that type's
// defaults (the parameters set before are dropped; its input is kept), and
// `key = {}` unsets a key set before (`--set stage.key={}` alike).
// Overrides from the command line (`--set scale.factor=3`,
// `--set pipeline.seed=1`) are applied last. Loading checks the syntax and the
// structure; validate() checks everything against the registry.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/diagnostics.h"
#include "pipeline/params.h"

namespace sluice {

// A value as written in the config, converted from TOML, with where it was.
struct ConfigValue {
  ParamValue value;            // monostate when the TOML type has no ParamValue
  std::string toml_type;       // "integer", "string", "table", "mixed array", ...
  SourceLocation key_where;    // position of the key
  SourceLocation value_where;  // position of the value
};

struct StageDecl {
  std::string id;
  SourceLocation where;  // the [stages.ID] header of its first definition
  std::optional<ConfigValue> use;
  std::vector<std::pair<std::string, SourceLocation>> inputs;
  std::optional<ConfigValue> concurrency;  // "serial", "auto" or an integer >= 1
  std::map<std::string, ConfigValue> params;
};

struct PipelineSettings {
  std::string name;
  std::string description;
  int64_t threads = 0;        // 0 = all cores
  int64_t max_in_flight = 0;  // 0 = default (see RunOptions)
  int64_t seed = 0;
  bool chain = true;                 // run chains of `auto` stages in one node (see RunOptions)
  std::vector<std::string> plugins;  // resolved to absolute paths
  // The stage whose output a host program takes (the Python module's
  // Pipeline); for a sink, what feeds it. `sluice run` ignores it.
  std::string output;
  std::map<std::string, SourceLocation> where;  // per key, for error messages
};

struct GraphConfig {
  std::string path;  // the top-level file
  PipelineSettings settings;
  std::vector<StageDecl> stages;   // in first-definition order
  std::vector<std::string> files;  // every file read, includes first
  // Each included file -> the `include` entry that read it (for error messages).
  std::map<std::string, SourceLocation> included_from;
  // Finds a stage by id, or nullptr.
  StageDecl* find(const std::string& id);
  const StageDecl* find(const std::string& id) const;
};

// Reads `path` and its includes, then applies `overrides` ("stage.key=value").
// Syntax and structure errors are appended to `errors` (all of them); what
// could be read is returned either way.
GraphConfig load_config(const std::string& path, const std::vector<std::string>& overrides,
                        std::vector<Diagnostic>& errors);

// Appends to the message of each diagnostic from errors[first] on that points
// into an included file where that file was included: "(included from
// graphs/mid.toml:2:12, from configs/run.toml:3:12)".
void note_includes(const GraphConfig& config, std::vector<Diagnostic>& errors, size_t first);

// Same, from TOML text (for tests and tools); `name` stands in for the path.
GraphConfig load_config_string(const std::string& toml_text, const std::string& name,
                               const std::vector<std::string>& overrides,
                               std::vector<Diagnostic>& errors);

}  // namespace sluice

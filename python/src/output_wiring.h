// Where Python takes a config's stream: the stage named by Pipeline(output=)
// or by `[pipeline] output`, else the one stage nobody consumes. A sink named
// there is replaced by Python: what fed it feeds python.output instead. The
// stages downstream of the output are left out (the trainer the batches were
// for, say), so the same graph file serves the C++ trainer and Python.
#pragma once

#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/registry.h"

namespace sluice::python {

struct OutputChoice {
  std::string output;              // the stage named (or chosen)
  std::vector<std::string> feeds;  // the stages python.output takes its input from
  std::string python_stage;        // the id given to python.output
};

// Rewrites `config` as described above; problems are appended to `errors`
// with the position of `[pipeline] output` (or of the argument).
OutputChoice wire_output(GraphConfig& config, const std::string& requested,
                         const Registry& registry, std::vector<Diagnostic>& errors);

// The ids of the stages whose type has `param` and which the config does not
// set it for (the index sources' shard_rank, say).
std::vector<std::string> stages_without(const GraphConfig& config, const Registry& registry,
                                        const std::string& param);

}  // namespace sluice::python

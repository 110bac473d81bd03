// Computes every stage's output element spec in topological order (sources
// first, from their parameters; transforms from their inputs' specs) and lets
// each consumer check what it receives. The stream facts (epochs, splits, the
// sources whose epochs a stream merges) are carried through transforms here,
// so a consumer can refuse a fan-in it cannot follow. Called by validate()
// once the graph is wired and ordered; stage spec functions are declared on
// StageSpec.
#pragma once

#include <vector>

#include "pipeline/config.h"
#include "pipeline/validate.h"

namespace sluice {

// Fills ValidatedStage::output_spec of every stage of `graph` (topological
// order) and appends located errors. A spec function that throws is reported
// at its stage's header.
void propagate_specs(ValidatedGraph& graph, const GraphConfig& config,
                     std::vector<Diagnostic>& errors);

}  // namespace sluice

// python.output: the sink the Python module puts where a config's output is.
// It hands every payload and every end-of-split / end-of-epoch marker, in
// stream order, to the run's OutputQueue, which Python iterates. It is not a
// stage users write in configs: Pipeline() wires it (see output_wiring.h).
#pragma once

#include <functional>
#include <memory>

#include "pipeline/registry.h"
#include "python/src/output_queue.h"

namespace sluice::python {

inline constexpr const char* kOutputStageType = "python.output";

// Registers python.output; each instance feeds the queue `queue()` returns
// when the run instantiates it.
void register_output_stage(Registry& registry, std::function<std::shared_ptr<OutputQueue>()> queue);

}  // namespace sluice::python

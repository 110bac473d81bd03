// The stages that ship with sluice, registered in one call. Not part of the
// plugin SDK: the host registers them; a plugin sees them in the registry.
#pragma once

#include "pipeline/registry.h"

namespace sluice {

// Registers every built-in stage family (generic, data, and train when this
// build has LibTorch), with origin "built-in".
void register_builtin_stages(Registry& registry);

}  // namespace sluice

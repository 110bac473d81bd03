// The example plugin's stages, registered together by plugin.cpp.
#pragma once

#include "pipeline/registry.h"

namespace sluice_example {

void register_random_erasing(sluice::Registry& registry);
void register_batch_stats_csv(sluice::Registry& registry);

}  // namespace sluice_example

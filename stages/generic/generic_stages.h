// Generic built-in stages: number generators, simple arithmetic, synthetic
// work, and sinks that print, sum or discard. They make small demo graphs,
// benchmarks of the framework itself, and tests possible without any data.
#pragma once

namespace sluice {
class Registry;
void register_generic_stages(Registry& registry);
}  // namespace sluice

// The example plugin's entry point: `plugins = ["libsluice_example_plugins.so"]`
// in a config (or `--plugin`, or SLUICE_PLUGIN_PATH) adds its two stages.
#include "example_stages.h"
#include "pipeline/plugin_api.h"

SLUICE_PLUGIN(example_stages, registry) {
  sluice_example::register_random_erasing(registry);
  sluice_example::register_batch_stats_csv(registry);
}

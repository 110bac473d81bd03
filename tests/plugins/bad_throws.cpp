// A plugin whose registration fails (say, a missing resource): refused with
// its exception's message.
#include <stdexcept>

#include "pipeline/plugin_api.h"

SLUICE_PLUGIN(throws, registry) {
  (void)registry;
  throw std::runtime_error("model file 'weights.bin' not found");
}

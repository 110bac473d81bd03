// Registers every stage family that ships with sluice.
#include "pipeline/registry.h"
#include "stages/data/data_stages.h"
#include "stages/generic/generic_stages.h"
#include "stages/train/train_stages.h"

namespace sluice {

void register_builtin_stages(Registry& registry) {
  registry.set_origin("built-in");
  register_generic_stages(registry);
  register_data_stages(registry);
  register_train_stages(registry);
}

}  // namespace sluice

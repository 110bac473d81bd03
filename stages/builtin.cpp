// Registers every stage family that ships with sluice.
#include "stages/builtin.h"

#include "stages/data/data_stages.h"
#include "stages/generic/generic_stages.h"
#if SLUICE_WITH_TORCH
#include "stages/train/train_stages.h"
#endif

namespace sluice {

void register_builtin_stages(Registry& registry) {
  registry.set_origin("built-in");
  register_generic_stages(registry);
  register_data_stages(registry);
#if SLUICE_WITH_TORCH
  register_train_stages(registry);
#endif
}

}  // namespace sluice

// A plugin from a newer sluice that calls an SDK function this sluice lacks:
// dlopen with immediate binding fails, and the loader must still say that the
// SDK versions differ rather than only "undefined symbol".
#include "pipeline/plugin_api.h"

namespace sluice {
void stage_api_added_in_a_later_sdk(Registry& registry);  // defined nowhere here
}  // namespace sluice

namespace {
void register_stages(sluice::Registry& registry) {
  sluice::stage_api_added_in_a_later_sdk(registry);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) const sluice::PluginInfo* SLUICE_PLUGIN_ENTRY() {
  static const sluice::PluginInfo info{sluice::kSdkVersion + 1, 0u, "from_the_future",
                                       sluice::sdk_layout_fingerprint(), &register_stages};
  return &info;
}

// A plugin as a sluice with the next SDK version would build it: the loader
// must refuse it before calling anything but the entry point.
#include "pipeline/plugin_api.h"

namespace {
void register_nothing(sluice::Registry&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const sluice::PluginInfo* SLUICE_PLUGIN_ENTRY() {
  static const sluice::PluginInfo info{sluice::kSdkVersion + 1, 0u, "from_the_future",
                                       sluice::sdk_layout_fingerprint(), &register_nothing};
  return &info;
}

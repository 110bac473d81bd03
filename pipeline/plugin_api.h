// What a plugin library exports: one `extern "C"` entry point returning a
// PluginInfo, written for you by SLUICE_PLUGIN.
//
//   #include "pipeline/plugin_api.h"
//   #include "vision/payloads.h"  // sluice::Image (link sluice::vision)
//
//   class Invert : public sluice::Transform { ... };
//
//   SLUICE_PLUGIN(my_stages, registry) {
//     registry.add<Invert>(sluice::StageSpec("my.invert")
//                              .doc("Inverts 8-bit images.")
//                              .transform<sluice::Image, sluice::Image>()
//                              .parallel());
//   }
//
// The host (pipeline/plugin.h) dlopens the library, calls the entry point,
// checks the SDK version and the layout fingerprint, then calls
// register_stages() with a registry whose stages it adds only if none of the
// names is taken. See docs/writing-a-stage.md.
#pragma once

#include <cstdint>

#include "pipeline/packet.h"
#include "pipeline/params.h"
#include "pipeline/port_type.h"
#include "pipeline/registry.h"
#include "pipeline/stage.h"
#include "pipeline/version.h"

// Name of the entry point. The "_v1" is the version of the PluginInfo
// protocol below (its first three fields never move); the SDK version inside
// it is the version of the C++ stage API.
#define SLUICE_PLUGIN_ENTRY sluice_plugin_entry_v1
#define SLUICE_PLUGIN_ENTRY_NAME "sluice_plugin_entry_v1"

namespace sluice {

struct PluginInfo {
  // Fixed for every protocol v1 plugin, whatever its SDK version:
  uint32_t sdk_version;  // kSdkVersion the plugin was compiled against
  uint32_t reserved;     // 0
  const char* name;      // the plugin's name (SLUICE_PLUGIN's first argument)
  // Meaningful only when sdk_version matches the host's:
  uint64_t layout;  // sdk_layout_fingerprint() as the plugin's compiler saw it
  void (*register_stages)(Registry& registry);
};

// Sizes of the core's types shared by host and plugin, and the standard
// library's string ABI, folded into one number: catches a plugin built with
// other compiler settings, or against headers changed without an SDK version
// bump. The payload types of modules (vision/payloads.h) are not in it: their
// C++ types, compared on every edge by validation, carry their own version.
constexpr uint64_t sdk_layout_fingerprint() {
  const uint64_t sizes[] = {
      sizeof(StageSpec),    sizeof(ParamSpec),   sizeof(Params),    sizeof(ParamValue),
      sizeof(Packet),       sizeof(Control),     sizeof(PortType),  sizeof(Normalization),
      sizeof(StageContext), sizeof(Emitter),     sizeof(Registry),  sizeof(StageEntry),
      sizeof(StageFactory), sizeof(std::string), sizeof(std::any),  sizeof(PluginInfo),
      sizeof(ElementSpec),  sizeof(LabelSpec),   sizeof(ImageSpec), sizeof(SpecContext)};
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t s : sizes) h = (h ^ s) * 0x100000001b3ull;
#if defined(_GLIBCXX_USE_CXX11_ABI)
  h = (h ^ (static_cast<uint64_t>(_GLIBCXX_USE_CXX11_ABI) + 2)) * 0x100000001b3ull;
#endif
  return h;
}

}  // namespace sluice

extern "C" {
using SluicePluginEntry = const sluice::PluginInfo* (*)();
}

// Defines the plugin's entry point and opens the body of its registration
// function, which receives the host's registry as `registry_var`:
//   SLUICE_PLUGIN(my_stages, registry) { registry.add<Invert>(...); }
// `name` is an identifier; the body may throw (the plugin is then refused).
// Also defines `void sluice_register_<name>(sluice::Registry&)`, so a test that
// links the plugin's sources can register its stages without loading the library.
#define SLUICE_PLUGIN(name, registry_var)                                       \
  void sluice_register_##name(::sluice::Registry& registry_var);                \
  extern "C" __attribute__((visibility("default"))) const ::sluice::PluginInfo* \
  SLUICE_PLUGIN_ENTRY() {                                                       \
    static const ::sluice::PluginInfo info{::sluice::kSdkVersion, 0u, #name,    \
                                           ::sluice::sdk_layout_fingerprint(),  \
                                           &sluice_register_##name};            \
    return &info;                                                               \
  }                                                                             \
  void sluice_register_##name(::sluice::Registry& registry_var)

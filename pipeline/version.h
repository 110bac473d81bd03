// The sluice SDK version: the one number a plugin and the host must agree on.
//
// A plugin records the SDK version it was compiled against (SLUICE_PLUGIN does
// it); the host refuses a plugin whose number differs from its own, naming both.
//
// Bump kSdkVersion (and only here) in the same commit as any change that makes a
// plugin compiled against the old public headers unsafe to load: a member added,
// removed or reordered in a public type (StageSpec, ParamSpec, Params, Packet,
// Control, Sample, Image, Batch, Normalization, StageContext, Emitter, Registry,
// PluginInfo, ElementSpec, LabelSpec, ImageSpec, SpecContext), a virtual function
// added or changed in Stage/Source/Transform/Sink/BufferAllocator, a changed
// signature of an exported function, or an inline function whose behaviour both
// sides must share (CounterRng). Adding a
// new free function, a new payload type or a new stage does not need a bump.
// The public headers are those `cmake --install` copies (cmake/install.cmake).
#pragma once

#define SLUICE_SDK_VERSION 2

namespace sluice {

inline constexpr unsigned kSdkVersion = SLUICE_SDK_VERSION;

}  // namespace sluice

// The sluice SDK version: the one number a plugin and the host must agree on.
//
// A plugin records the SDK version it was compiled against (SLUICE_PLUGIN does
// it); the host refuses a plugin whose number differs from its own, naming both.
//
// Bump kSdkVersion (and only here) in the same commit as any change that makes a
// plugin compiled against the old public headers unsafe to load: a member added,
// removed or reordered in a public type of the core (StageSpec, PortType,
// ParamSpec, Params, Packet, Control, Normalization, StageContext, Emitter,
// Registry, PluginInfo, ElementSpec, LabelSpec, ImageSpec, SpecContext), a
// virtual function added or changed in Stage/Source/Transform/Sink, a changed
// signature of an exported function, or an inline function whose behaviour both
// sides must share (CounterRng). Adding a new free function, a new payload type
// or a new stage does not need a bump. The payload types of the image data path
// (Sample, Image, Batch, BufferAllocator) are not the core's: they are versioned
// by their inline namespace (vision/payloads.h). The public headers are those
// `cmake --install` copies (cmake/install.cmake).
//
// 3: ports typed by C++ payload type (PortType); Sample, Image, Batch moved to
//    vision/payloads.h (libsluice_vision.so).
// 4: StageSpec::random_when and ElementSpec::random_from (stages declare that
//    their output depends on the run's random numbers).
#pragma once

#define SLUICE_SDK_VERSION 4

namespace sluice {

inline constexpr unsigned kSdkVersion = SLUICE_SDK_VERSION;

}  // namespace sluice

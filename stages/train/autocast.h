// Mixed-precision autocast for the calling thread (autocast state is thread-local):
// bf16 or fp16 on CUDA, bf16 on the CPU (LibTorch 2.x). The API differs by version:
// LibTorch 1.13 to 2.3 have set_enabled / set_cpu_enabled, 2.4 and later
// set_autocast_enabled(device, on).
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SLUICE_AUTOCAST_PER_DEVICE 1
#endif
#if TORCH_VERSION_MAJOR >= 2
#define SLUICE_CPU_AUTOCAST 1
#endif

namespace sluice::train {

// What the forward pass runs in: fp32 (disabled), or autocast to `dtype` on `device`.
struct AutocastMode {
  bool enabled = false;
  at::DeviceType device = at::kCUDA;
  at::ScalarType dtype = at::kBFloat16;
};

class AutocastScope {
 public:
  explicit AutocastScope(const AutocastMode& mode) : mode_(mode) {
    if (!mode_.enabled) return;
    previous_ = enabled(mode_.device);
    set(mode_.device, mode_.dtype, true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!mode_.enabled) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(mode_.device, mode_.dtype, previous_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  static bool enabled(at::DeviceType device) {
#ifdef SLUICE_AUTOCAST_PER_DEVICE
    return at::autocast::is_autocast_enabled(device);
#else
    return device == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
  }
  static void set(at::DeviceType device, at::ScalarType dtype, bool on) {
#ifdef SLUICE_AUTOCAST_PER_DEVICE
    if (on) at::autocast::set_autocast_dtype(device, dtype);
    at::autocast::set_autocast_enabled(device, on);
#else
    if (device == at::kCPU) {
      if (on) at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(on);
    } else {
      if (on) at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(on);
    }
#endif
  }

  AutocastMode mode_;
  bool previous_ = false;
};

}  // namespace sluice::train

// Cheap timestamps for per-item profiling. On x86-64 with an invariant TSC the
// time-stamp counter (a few ns to read, against ~25 ns or a syscall for
// clock_gettime); elsewhere steady_clock. Ticks become nanoseconds through a
// rate measured once against steady_clock.
#pragma once

#include <cstdint>

namespace sluice {

using Ticks = uint64_t;

namespace detail {
extern const bool kUseTsc;
uint64_t steady_ns();
}  // namespace detail

inline Ticks ticks_now() {
#if defined(__x86_64__)
  if (detail::kUseTsc) return __builtin_ia32_rdtsc();
#endif
  return detail::steady_ns();
}

// Nanoseconds per tick (1.0 when ticks are steady_clock nanoseconds).
double ns_per_tick();

}  // namespace sluice

#include "pipeline/clock.h"

#include <chrono>
#include <fstream>
#include <string>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace sluice {
namespace detail {

uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace detail

namespace {

using detail::steady_ns;

bool invariant_tsc() {
#if defined(__x86_64__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" constant_tsc") != std::string::npos &&
             line.find(" nonstop_tsc") != std::string::npos;
    }
  }
#endif
  return false;
}

struct Calibration {
  bool use_tsc = invariant_tsc();
  double ns_per_tick = 1.0;
  Calibration() {
#if defined(__x86_64__)
    if (!use_tsc) return;
    uint64_t n0 = steady_ns();
    uint64_t t0 = __rdtsc();
    uint64_t n1;
    do {
      n1 = steady_ns();
    } while (n1 - n0 < 5'000'000);  // 5 ms
    uint64_t t1 = __rdtsc();
    ns_per_tick = static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0);
#endif
  }
};

const Calibration& calibration() {
  static const Calibration c;
  return c;
}

}  // namespace

// Calibrated at load time, not inside the first timed stage call.
const bool detail::kUseTsc = calibration().use_tsc;

double ns_per_tick() { return calibration().ns_per_tick; }

}  // namespace sluice

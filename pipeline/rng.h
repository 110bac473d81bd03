// Counter-based random numbers: the value depends only on (key, counter), never
// on which thread asked or in which order. This is what makes augmentation
// identical under 1, 2 or 4 threads: derive a key from (seed, epoch, sample
// index) and draw from it.
#pragma once

#include <cstdint>

namespace sluice {

// SplitMix64 finaliser: a strong 64-bit mix, used to combine keys.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// Stable 64-bit FNV-1a of a string (stage ids -> RNG streams).
inline uint64_t hash_string(const char* s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ull;
  return h;
}

// A small generator over one key: next() returns mix(key, counter++).
class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}
  CounterRng(uint64_t seed, uint64_t a, uint64_t b = 0)
      : key_(hash_combine(hash_combine(seed, a), b)) {}

  uint64_t next() { return mix64(key_ + 0xD1B54A32D192ED03ull * ++counter_); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace sluice

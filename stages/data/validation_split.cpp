#include "stages/data/validation_split.h"

#include <numeric>
#include <utility>

#include "pipeline/rng.h"

namespace sluice::data {

int64_t validation_count(double fraction, int64_t n) {
  return static_cast<int64_t>(fraction * static_cast<double>(n));
}

void apply_validation_split(std::vector<Sample>& samples, double fraction, uint64_t seed) {
  const auto n = static_cast<int64_t>(samples.size());
  std::vector<int64_t> order(samples.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  // Fisher-Yates keyed on the seed only (a stream of its own: "VALSPLIT").
  CounterRng rng(seed, 0x56414c53504c4954ull);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  const int64_t first_validation = n - validation_count(fraction, n);
  for (int64_t i = 0; i < n; ++i) {
    samples[static_cast<size_t>(order[static_cast<size_t>(i)])].split =
        i < first_validation ? "train" : "validation";
  }
}

std::vector<std::string> validation_split_subsets(const std::vector<std::string>& requested) {
  if (!requested.empty()) return requested;
  return {"train", "validation"};
}

}  // namespace sluice::data

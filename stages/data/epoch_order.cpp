#include "stages/data/epoch_order.h"

#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "pipeline/rng.h"

namespace sluice::data {

std::vector<int64_t> epoch_order(int64_t n, int64_t epoch, const EpochOrderOptions& options) {
  if (options.shard_count < 1) throw std::invalid_argument("shard_count must be at least 1");
  if (options.shard_rank < 0 || options.shard_rank >= options.shard_count) {
    throw std::invalid_argument("shard_rank " + std::to_string(options.shard_rank) +
                                " is outside [0, " + std::to_string(options.shard_count) + ")");
  }
  if (options.limit >= 0 && options.limit < n) n = options.limit;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (options.shuffle) {
    // Fisher-Yates driven by a counter-based generator keyed on (seed, epoch).
    CounterRng rng(options.seed, static_cast<uint64_t>(epoch), 0x5348554646ull);
    for (int64_t i = n - 1; i > 0; --i) {
      auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
      std::swap(order[i], order[j]);
    }
  }
  if (options.shard_count == 1) return order;
  if (options.pad_shards && n > 0 && n % options.shard_count != 0) {
    const int64_t padded = (n / options.shard_count + 1) * options.shard_count;
    for (int64_t i = n; i < padded; ++i) order.push_back(order[static_cast<size_t>(i % n)]);
    n = padded;
  }
  std::vector<int64_t> shard;
  shard.reserve(static_cast<size_t>(n / options.shard_count + 1));
  for (int64_t i = options.shard_rank; i < n; i += options.shard_count) shard.push_back(order[i]);
  return shard;
}

}  // namespace sluice::data

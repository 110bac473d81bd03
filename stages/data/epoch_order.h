// The order in which one epoch visits a dataset: an optional fixed-size prefix
// (limit), a shuffle that depends only on (seed, epoch), and a strided shard for
// distributed training (rank r of w takes positions r, r+w, r+2w, ...), so every
// sample is visited exactly once per epoch across all ranks and shard sizes
// differ by at most one. With pad_shards the order is first extended by its own
// head (as torch's DistributedSampler does) so every shard has ceil(n / w) items:
// ranks then take the same number of steps, and n % w samples (at most w - 1, a
// different few each shuffled epoch) are seen twice.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::data {

struct EpochOrderOptions {
  bool shuffle = false;
  uint64_t seed = 0;
  int64_t limit = -1;  // keep the first `limit` items of the index (< 0: all)
  int64_t shard_rank = 0;
  int64_t shard_count = 1;
  bool pad_shards = false;  // equal shard sizes (see above)
};

// Positions into an index of `n` items, for `epoch`. Throws std::invalid_argument
// for a rank outside [0, shard_count).
std::vector<int64_t> epoch_order(int64_t n, int64_t epoch, const EpochOrderOptions& options);

}  // namespace sluice::data

// The order in which shard.index visits the samples of one split in one epoch,
// as a pure function of (seed, epoch, rank) and the shards' sample counts, so
// that a reader can start anywhere in it (resume) and every rank can compute
// its share without talking to the others.
//
//  1. limit keeps the first `limit` samples of the split in listed shard order
//     (the last shard kept may be cut short).
//  2. shuffle permutes the shards, keyed on (seed, epoch).
//  3. The shards, in that order, make one sequence of n samples. Rank r of w
//     takes a contiguous range of it, so it opens only the shards of its range
//     (at most two of them partly). With pad_shards every range has ceil(n / w)
//     samples, the last ones wrapping round to the head of the sequence (as
//     the strided index sources pad, epoch_order.h): every rank takes the same
//     number of steps and n % w samples are seen twice. Without it the ranges
//     are an exact partition whose sizes differ by at most one.
//  4. A shuffle buffer of `buffer` samples, keyed on (seed, epoch, rank), mixes
//     the samples of the range as they stream in (WebDataset's shuffle(n)):
//     once the buffer is full, each sample read replaces a random one that is
//     emitted. buffer <= 1 keeps stream order.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::data {

struct ShardPlanOptions {
  bool shuffle = false;  // shard order and buffer
  uint64_t seed = 0;
  int64_t limit = -1;  // < 0: all
  int64_t shard_rank = 0;
  int64_t shard_count = 1;
  bool pad_shards = false;
  int64_t buffer = 0;  // shuffle buffer, in samples
};

// Samples [begin, end) of shard `shard` (an index into the counts given).
struct ShardSegment {
  int64_t shard = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

struct ShardEpochPlan {
  std::vector<ShardSegment> segments;  // the stream this rank reads, in order
  // emit[k]: the position in the stream (0 .. stream size - 1) of the k-th
  // sample emitted. Holds every stream position once.
  std::vector<int64_t> emit;
  int64_t stream_size() const { return static_cast<int64_t>(emit.size()); }
};

// Throws std::invalid_argument for a rank outside [0, shard_count).
ShardEpochPlan plan_shard_epoch(const std::vector<int64_t>& counts, int64_t epoch,
                                const ShardPlanOptions& options);

// The samples one epoch gives this rank (the plan's stream size), cheaply.
int64_t shard_epoch_items(const std::vector<int64_t>& counts, const ShardPlanOptions& options);

}  // namespace sluice::data

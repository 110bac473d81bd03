// Where a resumed run's data stream starts: an epoch, and inside it how much of one
// split was already consumed, counted over all ranks of a data-parallel run. A
// trainer restoring a mid-epoch checkpoint asks for it (StageContext::
// request_start_position); sources read it when they start producing
// (StageContext::start_position) and begin there without emitting, and so without
// decoding, what was done.
//
// The count is global: with strided sharding (rank r of w takes the epoch's global
// positions r, r+w, r+2w, ...) the first `consumed` global positions are, on rank r,
// its first shard_items_before(consumed, r, w) items. With a per-rank batch b and a
// global batch B = w * b, global batch k is positions [kB, (k+1)B) and rank r's k-th
// batch is its slice of it, so a run resumed on another number of ranks with the
// same global batch continues the same global sample order.
//
// A source adopts it in three lines, when it starts the split `split` of `epoch`:
//   const int64_t skip = items_to_skip(ctx.start_position(), epoch, split, rank, count);
//   next_item += skip;                    // without emitting the skipped items
//   if (skip > 0) ctx.announce_resumed_items(skip);
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace sluice {

struct DataPosition {
  int64_t epoch = 0;     // the epoch to start in: the ones before are done
  std::string split;     // the split of `epoch` that is partly consumed (empty: none)
  int64_t consumed = 0;  // its items consumed, over all ranks (global positions)

  bool mid_epoch() const { return consumed > 0 && !split.empty(); }
};

// Whether `a` comes before `b` in a stream (an earlier epoch, or less consumed).
inline bool position_before(const DataPosition& a, const DataPosition& b) {
  if (a.epoch != b.epoch) return a.epoch < b.epoch;
  return (a.mid_epoch() ? a.consumed : 0) < (b.mid_epoch() ? b.consumed : 0);
}

// How many items of its strided shard (rank `rank` of `count`) lie within the first
// `consumed` global positions of an epoch's split.
inline int64_t shard_items_before(int64_t consumed, int64_t rank, int64_t count) {
  if (count < 1 || consumed <= rank) return 0;
  return (consumed - rank + count - 1) / count;
}

// The items a source reading shard `rank` of `count` skips at the start of `split`
// in `epoch` to begin at `at` (0 for every other split and epoch).
inline int64_t items_to_skip(const DataPosition& at, int64_t epoch, const std::string& split,
                             int64_t rank, int64_t count) {
  if (!at.mid_epoch() || at.epoch != epoch || at.split != split) return 0;
  return shard_items_before(at.consumed, rank, count);
}

}  // namespace sluice

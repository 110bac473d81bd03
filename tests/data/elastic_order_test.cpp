// Elastic determinism of the epoch order: with a per-rank batch b on w ranks (global
// batch B = w * b), rank r's k-th batch is its slice of global positions [kB, (k+1)B)
// of the one-process order, so a run resumed on another number of ranks with the same
// global batch continues the same global sequence; the padding that equalises shards
// only repeats the order's head after its end. And a mid-epoch position (a global
// count) skips exactly the first k batches of every rank.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "pipeline/data_position.h"
#include "stages/data/epoch_order.h"

namespace sluice::data {
namespace {

EpochOrderOptions shuffled(int64_t rank, int64_t count) {
  EpochOrderOptions o;
  o.shuffle = true;
  o.seed = 99;
  o.shard_rank = rank;
  o.shard_count = count;
  o.pad_shards = true;
  return o;
}

TEST(ElasticOrder, RanksSliceEveryGlobalBatchOfTheOneProcessOrder) {
  for (const int64_t n : {1, 7, 64, 65, 101}) {
    const std::vector<int64_t> one = epoch_order(n, 3, shuffled(0, 1));
    for (const int64_t world : {1, 2, 3, 4}) {
      for (const int64_t b : {1, 3, 8}) {
        const int64_t global = world * b;
        std::vector<std::vector<int64_t>> shards;
        for (int64_t r = 0; r < world; ++r) shards.push_back(epoch_order(n, 3, shuffled(r, world)));
        const int64_t padded = static_cast<int64_t>(shards[0].size()) * world;
        ASSERT_LT(padded - n, world) << "n " << n << " world " << world;
        const int64_t steps = (static_cast<int64_t>(shards[0].size()) + b - 1) / b;
        for (int64_t k = 0; k < steps; ++k) {
          std::vector<int64_t> got;
          for (const auto& shard : shards) {
            const auto from = std::min<size_t>(shard.size(), static_cast<size_t>(k * b));
            const auto to = std::min<size_t>(shard.size(), static_cast<size_t>((k + 1) * b));
            got.insert(got.end(), shard.begin() + from, shard.begin() + to);
          }
          // Global positions [kB, (k+1)B): the one-process order, then its head again.
          std::vector<int64_t> want;
          for (int64_t p = k * global; p < std::min((k + 1) * global, padded); ++p) {
            want.push_back(one[static_cast<size_t>(p % n)]);
          }
          std::sort(got.begin(), got.end());
          std::sort(want.begin(), want.end());
          ASSERT_EQ(got, want) << "n " << n << " world " << world << " b " << b << " step " << k;
          // Every rank's skip for a position of k global batches is its first k batches.
          for (int64_t r = 0; r < world; ++r) {
            EXPECT_EQ(std::min<int64_t>(shard_items_before(k * global, r, world),
                                        static_cast<int64_t>(shards[r].size())),
                      std::min<int64_t>(k * b, static_cast<int64_t>(shards[r].size())));
          }
        }
      }
    }
  }
}

TEST(ElasticOrder, ASkipCountsOnlyItsOwnEpochAndSplit) {
  const DataPosition at{2, "train", 50};
  EXPECT_EQ(items_to_skip(at, 2, "train", 0, 1), 50);
  EXPECT_EQ(items_to_skip(at, 2, "train", 1, 4), 13);  // global 1, 5, ..., 49
  EXPECT_EQ(items_to_skip(at, 2, "train", 3, 4), 12);  // global 3, 7, ..., 47
  EXPECT_EQ(items_to_skip(at, 2, "validation", 0, 1), 0);
  EXPECT_EQ(items_to_skip(at, 1, "train", 0, 1), 0);
  EXPECT_EQ(items_to_skip(DataPosition{2, {}, 0}, 2, "train", 0, 1), 0);
  EXPECT_TRUE(position_before(DataPosition{1, "train", 90}, at));
  EXPECT_TRUE(position_before(DataPosition{2, {}, 0}, at));
  EXPECT_FALSE(position_before(at, DataPosition{2, "train", 50}));
}

}  // namespace
}  // namespace sluice::data

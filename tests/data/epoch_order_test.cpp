#include "stages/data/epoch_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace sluice::data {
namespace {

TEST(EpochOrder, WithoutShuffleIsIdentity) {
  const auto order = epoch_order(5, 3, {});
  EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(EpochOrder, ShuffleIsAPermutationThatDependsOnlyOnSeedAndEpoch) {
  EpochOrderOptions o;
  o.shuffle = true;
  o.seed = 42;
  const auto a = epoch_order(1000, 0, o);
  EXPECT_EQ(a, epoch_order(1000, 0, o));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(a, iota);
  EXPECT_NE(a, epoch_order(1000, 1, o));
  o.seed = 43;
  EXPECT_NE(a, epoch_order(1000, 0, o));
}

TEST(EpochOrder, LimitKeepsAFixedPrefixOfTheIndex) {
  EpochOrderOptions o;
  o.shuffle = true;
  o.limit = 10;
  for (int epoch = 0; epoch < 3; ++epoch) {
    auto order = epoch_order(100, epoch, o);
    ASSERT_EQ(order.size(), 10u);
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order.back(), 9);
  }
  o.limit = 1000;
  EXPECT_EQ(epoch_order(100, 0, o).size(), 100u);
}

TEST(EpochOrder, ShardsCoverEverySampleExactlyOnce) {
  for (int64_t world : {1, 2, 3, 7}) {
    for (int64_t n : {0, 1, 5, 100, 101}) {
      std::multiset<int64_t> seen;
      size_t smallest = SIZE_MAX, largest = 0;
      for (int64_t rank = 0; rank < world; ++rank) {
        EpochOrderOptions o;
        o.shuffle = true;
        o.seed = 9;
        o.shard_rank = rank;
        o.shard_count = world;
        const auto shard = epoch_order(n, 2, o);
        seen.insert(shard.begin(), shard.end());
        smallest = std::min(smallest, shard.size());
        largest = std::max(largest, shard.size());
      }
      ASSERT_EQ(seen.size(), static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen.count(i), 1u);
      EXPECT_LE(largest - smallest, 1u);
    }
  }
}

TEST(EpochOrder, RankOutsideWorldIsRejected) {
  EpochOrderOptions o;
  o.shard_rank = 2;
  o.shard_count = 2;
  EXPECT_THROW(epoch_order(10, 0, o), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::data

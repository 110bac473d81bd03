// shard.index's order: every sample once per epoch, deterministic in (seed,
// epoch), equal steps across ranks that together cover the split.
#include "stages/data/shard_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

namespace sluice::data {
namespace {

const std::vector<int64_t> kCounts = {7, 3, 10, 1, 5};  // 26 samples, uneven shards

// Global sample ids (shard offset + position) in emission order.
std::vector<int64_t> emitted(const std::vector<int64_t>& counts, int64_t epoch,
                             const ShardPlanOptions& o) {
  std::vector<int64_t> first(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i) first[i] = first[i - 1] + counts[i - 1];
  const ShardEpochPlan plan = plan_shard_epoch(counts, epoch, o);
  std::vector<int64_t> stream;
  for (const ShardSegment& s : plan.segments) {
    EXPECT_LE(s.end, counts[static_cast<size_t>(s.shard)]);
    for (int64_t k = s.begin; k < s.end; ++k) stream.push_back(first[s.shard] + k);
  }
  EXPECT_EQ(static_cast<int64_t>(stream.size()), plan.stream_size());
  std::vector<int64_t> out;
  for (int64_t pos : plan.emit) out.push_back(stream[static_cast<size_t>(pos)]);
  return out;
}

ShardPlanOptions shuffled(int64_t buffer) {
  ShardPlanOptions o;
  o.shuffle = true;
  o.seed = 42;
  o.buffer = buffer;
  return o;
}

TEST(ShardPlan, EverySampleExactlyOncePerEpoch) {
  for (int64_t buffer : {0, 1, 4, 100}) {
    for (int64_t epoch : {0, 1, 2}) {
      std::vector<int64_t> got = emitted(kCounts, epoch, shuffled(buffer));
      std::sort(got.begin(), got.end());
      std::vector<int64_t> all(26);
      for (int64_t i = 0; i < 26; ++i) all[static_cast<size_t>(i)] = i;
      EXPECT_EQ(got, all) << "buffer " << buffer << " epoch " << epoch;
    }
  }
}

TEST(ShardPlan, ShuffleDependsOnlyOnSeedAndEpoch) {
  const auto a0 = emitted(kCounts, 0, shuffled(8));
  EXPECT_EQ(emitted(kCounts, 0, shuffled(8)), a0);
  EXPECT_NE(emitted(kCounts, 1, shuffled(8)), a0);
  ShardPlanOptions other = shuffled(8);
  other.seed = 43;
  EXPECT_NE(emitted(kCounts, 0, other), a0);
  // Without shuffle: listed order, whatever the epoch.
  ShardPlanOptions plain;
  plain.buffer = 8;
  std::vector<int64_t> in_order(26);
  for (int64_t i = 0; i < 26; ++i) in_order[static_cast<size_t>(i)] = i;
  EXPECT_EQ(emitted(kCounts, 3, plain), in_order);
}

TEST(ShardPlan, TheBufferMixesSamplesAcrossShards) {
  // Shard order alone keeps each shard's samples together; a buffer breaks runs.
  const auto by_shard = emitted(kCounts, 0, shuffled(0));
  const auto mixed = emitted(kCounts, 0, shuffled(10));
  int runs_by_shard = 0, runs_mixed = 0;
  for (size_t i = 1; i < by_shard.size(); ++i) {
    runs_by_shard += by_shard[i] == by_shard[i - 1] + 1;
    runs_mixed += mixed[i] == mixed[i - 1] + 1;
  }
  EXPECT_GE(runs_by_shard, 26 - 5);  // only shard boundaries break the runs
  EXPECT_LT(runs_mixed, 10);
}

TEST(ShardPlan, PaddedRanksTakeEqualStepsAndTogetherCoverTheSplit) {
  for (int64_t world : {1, 2, 3, 4, 7}) {
    std::map<int64_t, int> seen;
    size_t steps = 0;
    for (int64_t rank = 0; rank < world; ++rank) {
      ShardPlanOptions o = shuffled(4);
      o.shard_rank = rank;
      o.shard_count = world;
      o.pad_shards = true;
      const auto got = emitted(kCounts, 1, o);
      if (rank == 0) steps = got.size();
      EXPECT_EQ(got.size(), steps) << "world " << world << " rank " << rank;
      EXPECT_EQ(shard_epoch_items(kCounts, o), static_cast<int64_t>(got.size()));
      for (int64_t id : got) ++seen[id];
    }
    EXPECT_EQ(steps, static_cast<size_t>((26 + world - 1) / world));
    EXPECT_EQ(seen.size(), 26u) << "world " << world;
    int repeated = 0;
    for (const auto& [id, n] : seen) repeated += n - 1;
    EXPECT_EQ(repeated, (world - 26 % world) % world) << "world " << world;
  }
}

TEST(ShardPlan, UnpaddedRanksPartitionTheSplit) {
  std::multiset<int64_t> seen;
  for (int64_t rank = 0; rank < 4; ++rank) {
    ShardPlanOptions o;
    o.shard_rank = rank;
    o.shard_count = 4;
    const auto got = emitted(kCounts, 0, o);
    EXPECT_TRUE(got.size() == 6 || got.size() == 7) << got.size();
    seen.insert(got.begin(), got.end());
  }
  EXPECT_EQ(seen.size(), 26u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 26u);
}

TEST(ShardPlan, LimitKeepsTheFirstSamplesInListedOrder) {
  ShardPlanOptions o = shuffled(4);
  o.limit = 9;  // shard 0 (7) and 2 of shard 1
  std::vector<int64_t> got = emitted(kCounts, 0, o);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(ShardPlan, RejectsARankOutsideTheWorld) {
  ShardPlanOptions o;
  o.shard_rank = 2;
  o.shard_count = 2;
  EXPECT_THROW(plan_shard_epoch(kCounts, 0, o), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::data

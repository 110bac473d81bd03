#include "stages/data/shard_plan.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

#include "pipeline/rng.h"

namespace sluice::data {

namespace {

constexpr uint64_t kShardOrderTag = 0x5348415244ull;  // "SHARD"
constexpr uint64_t kBufferTag = 0x4255464645ull;      // "BUFFE"

struct LimitedShard {
  int64_t shard;
  int64_t count;
};

std::vector<LimitedShard> limited(const std::vector<int64_t>& counts, int64_t limit) {
  std::vector<LimitedShard> out;
  int64_t left = limit < 0 ? INT64_MAX : limit;
  for (size_t i = 0; i < counts.size() && left > 0; ++i) {
    const int64_t take = std::min(counts[i], left);
    if (take > 0) out.push_back({static_cast<int64_t>(i), take});
    left -= take;
  }
  return out;
}

void check_rank(const ShardPlanOptions& o) {
  if (o.shard_count < 1) throw std::invalid_argument("shard_count must be at least 1");
  if (o.shard_rank < 0 || o.shard_rank >= o.shard_count) {
    throw std::invalid_argument("shard_rank " + std::to_string(o.shard_rank) + " is outside [0, " +
                                std::to_string(o.shard_count) + ")");
  }
}

// This rank's range [begin, end) of the n-sample sequence; end may pass n (padding).
std::pair<int64_t, int64_t> rank_range(int64_t n, const ShardPlanOptions& o) {
  const int64_t w = o.shard_count, r = o.shard_rank;
  if (o.pad_shards && n > 0) {
    const int64_t per = (n + w - 1) / w;
    return {r * per, (r + 1) * per};
  }
  return {n * r / w, n * (r + 1) / w};
}

// Cuts the sequence range [begin, end) (positions mod n) into per-shard segments.
std::vector<ShardSegment> segments_of(const std::vector<LimitedShard>& order, int64_t n,
                                      int64_t begin, int64_t end) {
  std::vector<ShardSegment> out;
  int64_t pos = begin;
  while (pos < end) {
    int64_t p = pos % n, start = 0;
    size_t i = 0;
    while (start + order[i].count <= p) start += order[i++].count;
    const int64_t take = std::min(end - pos, order[i].count - (p - start));
    out.push_back({order[i].shard, p - start, p - start + take});
    pos += take;
  }
  return out;
}

// The emission order of a shuffle buffer of `buffer` slots over m streamed items.
std::vector<int64_t> buffer_order(int64_t m, int64_t buffer, CounterRng rng) {
  std::vector<int64_t> emit;
  emit.reserve(static_cast<size_t>(m));
  if (buffer <= 1) {
    for (int64_t i = 0; i < m; ++i) emit.push_back(i);
    return emit;
  }
  std::vector<int64_t> slots;
  slots.reserve(static_cast<size_t>(std::min(buffer, m)));
  for (int64_t i = 0; i < m; ++i) {
    if (static_cast<int64_t>(slots.size()) < buffer) {
      slots.push_back(i);
      continue;
    }
    const auto j = static_cast<size_t>(rng.below(slots.size()));
    emit.push_back(slots[j]);
    slots[j] = i;
  }
  while (!slots.empty()) {
    const auto j = static_cast<size_t>(rng.below(slots.size()));
    emit.push_back(slots[j]);
    slots[j] = slots.back();
    slots.pop_back();
  }
  return emit;
}

}  // namespace

ShardEpochPlan plan_shard_epoch(const std::vector<int64_t>& counts, int64_t epoch,
                                const ShardPlanOptions& o) {
  check_rank(o);
  std::vector<LimitedShard> order = limited(counts, o.limit);
  if (o.shuffle) {
    CounterRng rng(o.seed, static_cast<uint64_t>(epoch), kShardOrderTag);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  }
  int64_t n = 0;
  for (const auto& s : order) n += s.count;
  ShardEpochPlan plan;
  if (n == 0) return plan;
  const auto [begin, end] = rank_range(n, o);
  plan.segments = segments_of(order, n, begin, end);
  CounterRng rng(o.seed,
                 static_cast<uint64_t>(epoch) * 65537u + static_cast<uint64_t>(o.shard_rank),
                 kBufferTag);
  plan.emit = buffer_order(end - begin, o.shuffle ? o.buffer : 0, rng);
  return plan;
}

int64_t shard_epoch_items(const std::vector<int64_t>& counts, const ShardPlanOptions& o) {
  check_rank(o);
  int64_t n = 0;
  for (const auto& s : limited(counts, o.limit)) n += s.count;
  if (n == 0) return 0;
  const auto [begin, end] = rank_range(n, o);
  return end - begin;
}

}  // namespace sluice::data

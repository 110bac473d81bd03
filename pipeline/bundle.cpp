#include "pipeline/bundle.h"

#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "pipeline/node_bodies.h"

namespace sluice::detail {

namespace {
std::atomic<uint64_t> g_next_arena_id{1};
}  // namespace

struct BundleArena::Owned {
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Bundle>> bundles;
  std::unordered_map<std::thread::id, std::unique_ptr<BundlePool>> pools;
};

BundleArena::BundleArena()
    : id_(g_next_arena_id.fetch_add(1, std::memory_order_relaxed)),
      owned_(std::make_unique<Owned>()) {}

BundleArena::~BundleArena() = default;

BundlePool& BundleArena::pool_for_this_thread() {
  std::lock_guard<std::mutex> lock(owned_->mutex);
  auto& pool = owned_->pools[std::this_thread::get_id()];
  if (!pool) pool = std::make_unique<BundlePool>();
  return *pool;
}

Bundle* BundleArena::make_new() {
  auto b = std::make_unique<Bundle>();
  b->arena = this;
  Bundle* raw = b.get();
  std::lock_guard<std::mutex> lock(owned_->mutex);
  owned_->bundles.push_back(std::move(b));
  return raw;
}

size_t BundleArena::created() const {
  std::lock_guard<std::mutex> lock(owned_->mutex);
  return owned_->bundles.size();
}

std::vector<Packet>* create_thread_scratch() {
  static thread_local std::unique_ptr<std::vector<Packet>> owner;
  owner = std::make_unique<std::vector<Packet>>();
  return owner.get();
}

}  // namespace sluice::detail

// What travels on the edges of the TBB graph (internal to the runner).
//
// A Bundle holds all packets descended from one source emission, with the
// emission's sequence number. Bundles travel through the TBB nodes as raw
// pointers: every body that receives one owns one reference and either passes
// it on or releases it, so a hop costs no atomic operation. A node with several
// successors gives each its own reference; a consumer of a shared bundle copies
// on write and keeps the original (the root, which releases the source's
// limiter) alive through `parent`. Bundles are recycled per thread: a
// steady-state run allocates nothing per item. Every bundle belongs to its
// run's BundleArena, which deletes them all when the run ends: those a
// cancelled or failed graph left in its buffers included.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <tbb/flow_graph.h>

#include "pipeline/clock.h"
#include "pipeline/packet.h"

namespace sluice::detail {

// Counts the items a source has in flight and releases the source's limiter
// when one is fully consumed. The source's thread owns the acquiring side (a
// source body is serial); consumers only add to `released`, on its own cache
// line, so the two sides never fight over one. `acquired` is atomic only so
// that the timeline sampler may read it; only the source thread writes it.
struct InFlight {
  // Source side.
  std::atomic<int64_t> acquired{0};
  int64_t peak = 0;
  // Consumer side.
  alignas(64) std::atomic<int64_t> released{0};
  std::atomic<tbb::flow::receiver<tbb::flow::continue_msg>*> decrementer{nullptr};

  void acquire() {
    const int64_t a = acquired.load(std::memory_order_relaxed) + 1;
    acquired.store(a, std::memory_order_relaxed);
    const int64_t now = a - released.load(std::memory_order_relaxed);
    if (now > peak) peak = now;
  }
  // Admitted and not yet fully consumed (from any thread; approximate).
  int64_t current() const {
    return acquired.load(std::memory_order_relaxed) - released.load(std::memory_order_relaxed);
  }
  void release() {
    released.fetch_add(1, std::memory_order_relaxed);
    if (auto* d = decrementer.load(std::memory_order_acquire)) {
      d->try_put(tbb::flow::continue_msg());
    }
  }
};

class BundleArena;

struct Bundle {
  std::atomic<uint32_t> refs{1};
  uint64_t seq = 0;
  std::vector<Packet> packets;
  Ticks emitted = 0;
  Bundle* parent = nullptr;       // one reference on the bundle this was copied from
  InFlight* in_flight = nullptr;  // set on roots only
  BundleArena* arena = nullptr;   // owns this bundle
};
using BundlePtr = Bundle*;

// One thread's free bundles within an arena.
struct BundlePool {
  std::vector<Bundle*> free;
};

// Owns every bundle of one run. Threads take and return bundles through their
// own pool (a thread-local cache keyed by the arena's unique id, so a later
// arena at the same address never sees a stale pool); only creating a bundle
// or a thread's first visit takes the lock. Destroy it after the graph's nodes.
class BundleArena {
 public:
  BundleArena();
  ~BundleArena();
  BundleArena(const BundleArena&) = delete;
  BundleArena& operator=(const BundleArena&) = delete;

  Bundle* make() {
    BundlePool& pool = thread_pool();
    if (pool.free.empty()) return make_new();
    Bundle* b = pool.free.back();
    pool.free.pop_back();
    b->refs.store(1, std::memory_order_relaxed);
    return b;
  }
  void recycle(Bundle* b) { thread_pool().free.push_back(b); }
  size_t created() const;

 private:
  struct Cache {
    uint64_t arena_id = 0;
    BundlePool* pool = nullptr;
  };
  static Cache& cache() {
    static thread_local Cache c;  // trivial: no TLS initialisation call
    return c;
  }
  BundlePool& thread_pool() {
    Cache& c = cache();
    if (__builtin_expect(c.arena_id != id_, 0)) {
      c.pool = &pool_for_this_thread();
      c.arena_id = id_;
    }
    return *c.pool;
  }
  BundlePool& pool_for_this_thread();
  Bundle* make_new();

  const uint64_t id_;
  struct Owned;
  std::unique_ptr<Owned> owned_;
};

inline Bundle* new_bundle(BundleArena& arena) { return arena.make(); }

inline void release(Bundle* b) {
  while (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    InFlight* root = b->in_flight;
    Bundle* parent = b->parent;
    b->in_flight = nullptr;
    b->parent = nullptr;
    b->packets.clear();
    b->arena->recycle(b);
    if (root) root->release();
    b = parent;
  }
}

// Releases the reference a body holds if the body leaves by an exception (a
// stage threw): the bundle returns to its arena at once, its payloads are
// freed and its source's in-flight count drops. dismiss() once passed on.
class ReleaseOnThrow {
 public:
  explicit ReleaseOnThrow(Bundle* b) : b_(b) {}
  ~ReleaseOnThrow() {
    if (b_) release(b_);
  }
  ReleaseOnThrow(const ReleaseOnThrow&) = delete;
  ReleaseOnThrow& operator=(const ReleaseOnThrow&) = delete;
  void hold(Bundle* b) { b_ = b; }
  void dismiss() { b_ = nullptr; }

 private:
  Bundle* b_;
};

// Hands `b` to `consumers` successors, one reference each.
inline Bundle* publish(Bundle* b, uint32_t consumers) {
  if (consumers == 0) {
    release(b);
  } else if (consumers > 1) {
    b->refs.fetch_add(consumers - 1, std::memory_order_relaxed);
  }
  return b;
}

// The bundle to write outputs into: `in` itself when this body holds the only
// reference, else a fresh one that keeps `in` alive as its parent.
inline Bundle* writable(Bundle* in) {
  if (in->refs.load(std::memory_order_acquire) == 1) return in;
  Bundle* out = new_bundle(*in->arena);
  out->seq = in->seq;
  out->emitted = in->emitted;
  out->parent = in;  // takes over this body's reference
  return out;
}

inline uint64_t ticks_between(Ticks a, Ticks b) { return b > a ? b - a : 0; }

}  // namespace sluice::detail

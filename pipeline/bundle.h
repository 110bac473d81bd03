// What travels on the edges of the TBB graph (internal to the runner).
//
// A Bundle holds all packets descended from one source emission, with the
// emission's sequence number. Bundles travel through the TBB nodes as raw
// pointers: every body that receives one owns one reference and either passes
// it on or releases it, so a hop costs no atomic operation. A node with several
// successors gives each its own reference; a consumer of a shared bundle copies
// on write and keeps the original (the root, which releases the source's
// limiter) alive through `parent`. Bundles are recycled per thread: a
// steady-state run allocates nothing per item. (If the graph is cancelled, the
// bundles left in its buffers are not reclaimed.)
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include <tbb/flow_graph.h>

#include "pipeline/clock.h"
#include "pipeline/packet.h"

namespace sluice::detail {

// Counts the items a source has in flight and releases the source's limiter
// when one is fully consumed. The source's thread owns the acquiring side (a
// source body is serial); consumers only add to `released`, on its own cache
// line, so the two sides never fight over one.
struct InFlight {
  // Source side.
  int64_t acquired = 0;
  int64_t peak = 0;
  // Consumer side.
  alignas(64) std::atomic<int64_t> released{0};
  std::atomic<tbb::flow::receiver<tbb::flow::continue_msg>*> decrementer{nullptr};

  void acquire() {
    const int64_t now = ++acquired - released.load(std::memory_order_relaxed);
    if (now > peak) peak = now;
  }
  void release() {
    released.fetch_add(1, std::memory_order_relaxed);
    if (auto* d = decrementer.load(std::memory_order_acquire)) {
      d->try_put(tbb::flow::continue_msg());
    }
  }
};

struct Bundle {
  std::atomic<uint32_t> refs{1};
  uint64_t seq = 0;
  std::vector<Packet> packets;
  Ticks emitted = 0;
  Bundle* parent = nullptr;       // one reference on the bundle this was copied from
  InFlight* in_flight = nullptr;  // set on roots only
};
using BundlePtr = Bundle*;

// Per-thread free list of bundles (with their packet vectors' capacity).
struct BundlePool {
  std::vector<Bundle*> free;
  ~BundlePool() {
    for (Bundle* b : free) delete b;
  }
};
// The calling thread's pool. The thread_local is a plain pointer (no TLS
// initialisation call on the hot path); the pool itself is created on first
// use and destroyed at thread exit (bundle.cpp).
BundlePool* create_thread_pool();
inline BundlePool& thread_pool() {
  static thread_local BundlePool* pool = nullptr;
  if (__builtin_expect(pool == nullptr, 0)) pool = create_thread_pool();
  return *pool;
}
inline constexpr size_t kPoolMax = 1024;

inline Bundle* new_bundle() {
  BundlePool& pool = thread_pool();
  if (pool.free.empty()) return new Bundle();
  Bundle* b = pool.free.back();
  pool.free.pop_back();
  b->refs.store(1, std::memory_order_relaxed);
  return b;
}

inline void release(Bundle* b) {
  while (b && b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    InFlight* root = b->in_flight;
    Bundle* parent = b->parent;
    b->in_flight = nullptr;
    b->parent = nullptr;
    b->packets.clear();
    BundlePool& pool = thread_pool();
    if (pool.free.size() < kPoolMax) {
      pool.free.push_back(b);
    } else {
      delete b;
    }
    if (root) root->release();
    b = parent;
  }
}

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
  Bundle* out = new_bundle();
  out->seq = in->seq;
  out->emitted = in->emitted;
  out->parent = in;  // takes over this body's reference
  return out;
}

inline uint64_t ticks_between(Ticks a, Ticks b) { return b > a ? b - a : 0; }

}  // namespace sluice::detail

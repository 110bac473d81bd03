// A pool of equally sized pixel buffers from buffer_allocator(). A buffer handed
// out returns to the pool when its last user drops it, so a steady stream of
// images or batches allocates (and page-faults) nothing after warm-up. A new
// size or a newly installed allocator (e.g. pinned memory) empties the pool.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "vision/payloads.h"

namespace sluice::data {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static constexpr size_t kMaxFree = 64;

  ByteBuffer get(size_t bytes) {
    ByteBuffer raw;
    BufferAllocator* allocator = &buffer_allocator();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes != bytes_ || allocator != allocator_) {
        free_.clear();
        bytes_ = bytes;
        allocator_ = allocator;
      }
      if (!free_.empty()) {
        raw = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!raw) raw = allocator->allocate(bytes);
    std::weak_ptr<BufferPool> pool = shared_from_this();
    uint8_t* data = raw.get();
    return ByteBuffer(data, [pool, raw, bytes, allocator](uint8_t*) mutable {
      if (auto p = pool.lock()) p->put(std::move(raw), bytes, allocator);
    });
  }

 private:
  void put(ByteBuffer raw, size_t bytes, BufferAllocator* allocator) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes == bytes_ && allocator == allocator_ && free_.size() < kMaxFree) {
      free_.push_back(std::move(raw));
    }
  }

  std::mutex mutex_;
  size_t bytes_ = 0;
  BufferAllocator* allocator_ = nullptr;
  std::vector<ByteBuffer> free_;
};

}  // namespace sluice::data

#include "pipeline/payloads.h"

#include <atomic>
#include <mutex>

namespace sluice {
namespace {

class HeapAllocator : public BufferAllocator {
 public:
  ByteBuffer allocate(size_t bytes) override {
    return ByteBuffer(new uint8_t[bytes], std::default_delete<uint8_t[]>());
  }
  const char* name() const override { return "heap"; }
};

std::mutex g_allocator_mutex;
std::shared_ptr<BufferAllocator> g_allocator = std::make_shared<HeapAllocator>();

}  // namespace

BufferAllocator& buffer_allocator() {
  std::lock_guard<std::mutex> lock(g_allocator_mutex);
  return *g_allocator;
}

void set_buffer_allocator(std::shared_ptr<BufferAllocator> allocator) {
  std::lock_guard<std::mutex> lock(g_allocator_mutex);
  g_allocator = allocator ? std::move(allocator) : std::make_shared<HeapAllocator>();
}

}  // namespace sluice

#include "vision/payloads.h"

#include <mutex>
#include <string>

#include "pipeline/text_escape.h"

namespace sluice {
inline namespace vision_v3 {
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

// "000123.jpg (list_attr_celeba.csv:125)": item text comes from data files,
// printable() keeps it on one line.
std::string sample_text(const Sample& s) {
  std::string t = printable(s.path.empty() ? s.id : s.path);
  if (!s.origin.empty()) t += " (" + printable(s.origin) + ")";
  return t;
}

}  // namespace

std::string payload_text(const Sample& sample) { return "Sample " + sample_text(sample); }

std::string payload_text(const Image& image) { return "Image " + sample_text(image.sample); }

std::string payload_text(const Batch& b) {
  std::string t = "Batch " + std::to_string(b.index) + " of " + b.split + " (epoch " +
                  std::to_string(b.epoch + 1) + ", " + std::to_string(b.size) + " images";
  if (!b.ids.empty()) t += ", first " + printable(b.ids.front());
  return t + ")";
}

BufferAllocator& buffer_allocator() {
  std::lock_guard<std::mutex> lock(g_allocator_mutex);
  return *g_allocator;
}

void set_buffer_allocator(std::shared_ptr<BufferAllocator> allocator) {
  std::lock_guard<std::mutex> lock(g_allocator_mutex);
  g_allocator = allocator ? std::move(allocator) : std::make_shared<HeapAllocator>();
}

}  // namespace vision_v3
}  // namespace sluice

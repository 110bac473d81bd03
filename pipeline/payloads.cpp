#include "pipeline/payloads.h"

#include <atomic>
#include <mutex>
#include <string>

#include "pipeline/packet.h"
#include "pipeline/text_escape.h"

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

std::string describe_payload(const std::any& v) {
  if (auto* i = std::any_cast<int64_t>(&v)) return "Int " + std::to_string(*i);
  if (auto* d = std::any_cast<double>(&v)) return "Float " + std::to_string(*d);
  // Item text comes from data files: printable() keeps it on one line.
  if (auto* s = std::any_cast<std::string>(&v)) {
    return "String \"" + printable(s->size() > 60 ? s->substr(0, 60) + "..." : *s) + "\"";
  }
  auto sample_text = [](const Sample& s) {
    std::string t = printable(s.path.empty() ? s.id : s.path);
    if (!s.origin.empty()) t += " (" + printable(s.origin) + ")";
    return t;
  };
  if (auto* s = std::any_cast<Sample>(&v)) return "Sample " + sample_text(*s);
  if (auto* im = std::any_cast<Image>(&v)) return "Image " + sample_text(im->sample);
  if (auto* b = std::any_cast<Batch>(&v)) {
    std::string t = "Batch " + std::to_string(b->index) + " of " + b->split + " (epoch " +
                    std::to_string(b->epoch) + ", " + std::to_string(b->size) + " images";
    if (!b->ids.empty()) t += ", first " + printable(b->ids.front());
    return t + ")";
  }
  if (auto* c = std::any_cast<Control>(&v))
    return std::string("marker '") + control_kind_name(c->kind) + "'";
  return v.has_value() ? std::string("a value of type ") + v.type().name() : "an empty item";
}

void set_buffer_allocator(std::shared_ptr<BufferAllocator> allocator) {
  std::lock_guard<std::mutex> lock(g_allocator_mutex);
  g_allocator = allocator ? std::move(allocator) : std::make_shared<HeapAllocator>();
}

}  // namespace sluice

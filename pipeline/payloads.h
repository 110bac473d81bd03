// The payload types shared by the built-in stages and plugins, with the port
// type names stages declare ("Int", "Sample", "Image", "Batch", ...).
//
// Ports are type-checked by name before a run: a stage declaring
// `.input(kSamplePort)` can only be wired after one declaring
// `.output(kSamplePort)`. kAnyPort matches every type.
#pragma once

#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice {

inline constexpr const char* kAnyPort = "Any";
inline constexpr const char* kIntPort = "Int";        // int64_t
inline constexpr const char* kFloatPort = "Float";    // double
inline constexpr const char* kStringPort = "String";  // std::string
inline constexpr const char* kSamplePort = "Sample";  // sluice::Sample
inline constexpr const char* kImagePort = "Image";    // sluice::Image
inline constexpr const char* kBatchPort = "Batch";    // sluice::Batch

// Names of the extra attributes a dataset carries along with each sample
// (shared by all samples of one index, so a Sample holds only the values).
using AttributeNames = std::shared_ptr<const std::vector<std::string>>;

// One entry of a dataset index: which file, which label, where it came from.
struct Sample {
  int64_t index = 0;   // stable row number in the dataset (drives augmentation RNG)
  int64_t epoch = 0;
  std::string split;   // "train", "validation", "test"
  std::string id;      // e.g. "000001.jpg"
  std::string path;    // file to read
  int64_t label = 0;   // class id (0/1 for a binary attribute)
  AttributeNames attr_names;
  std::vector<int8_t> attrs;  // values (-1/1) of attr_names, same order
  std::string origin;  // "FILE:LINE" of the index entry, for error messages
};

// A byte buffer that may come from a pool and go back to it when released
// (the deleter decides). Pinned host memory when a CUDA trainer installed a
// pinned allocator.
using ByteBuffer = std::shared_ptr<uint8_t[]>;

// Allocates batch and image buffers. The default uses the heap; the Torch
// trainer replaces it with a pinned-memory allocator when CUDA is present.
class BufferAllocator {
 public:
  virtual ~BufferAllocator() = default;
  virtual ByteBuffer allocate(size_t bytes) = 0;
  virtual const char* name() const = 0;
};
BufferAllocator& buffer_allocator();
void set_buffer_allocator(std::shared_ptr<BufferAllocator> allocator);

// Output pixel scaling requested by the augment stage, applied once per batch
// (on the GPU when training there) rather than per image.
struct Normalization {
  enum class Kind { kNone, kRescale, kMeanStd } kind = Kind::kNone;
  double scale = 1.0;               // kRescale: x * scale
  double mean[3] = {0.0, 0.0, 0.0};  // kMeanStd: (x/255 - mean) / std
  double std[3] = {1.0, 1.0, 1.0};
};

// A decoded image, 8-bit interleaved (HWC), RGB unless channels == 1.
struct Image {
  Sample sample;
  int width = 0;
  int height = 0;
  int channels = 3;
  ByteBuffer pixels;  // height * width * channels bytes, rows packed
  Normalization normalization;  // scaling still to apply (set by image.augment)
  size_t bytes() const { return static_cast<size_t>(width) * height * channels; }
};

// N images of one size, uint8 NHWC, with labels and ids, in stream order.
struct Batch {
  int64_t index = 0;  // batch number within its split and epoch
  int64_t epoch = 0;
  std::string split;
  int size = 0;  // images in this batch (may be < capacity for the last one)
  int height = 0;
  int width = 0;
  int channels = 3;
  ByteBuffer pixels;  // size * height * width * channels bytes
  std::vector<int64_t> labels;
  std::vector<int64_t> sample_indices;
  std::vector<std::string> ids;
  std::vector<std::string> paths;
  AttributeNames attr_names;
  std::vector<int8_t> attrs;  // size x attr_names->size(), row-major
  Normalization normalization;
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
};

// Short description of a payload for error messages ("Sample 000123.jpg
// (list_attr_celeba.csv:125)", "Int 42", ...).
std::string describe_payload(const std::any& value);

}  // namespace sluice

// The payload types of the image data path, shared by the data stages, the
// training stages and plugins: Sample (one dataset entry), Image (decoded
// pixels), Batch (N images of one size), the buffers their pixels live in.
//
// They live outside the core (pipeline/) so that the core's plugin ABI
// (kSdkVersion) does not change when one of them gains a field. Their own ABI
// is the inline namespace below: whoever changes a member of these structs, or
// a signature here, renames vision_v3 to vision_v4 (and so on). A plugin built
// against the old structs then names another C++ type on its ports, and
// `sluice check` refuses to wire it, naming both types.
//
// Ports name these types as template arguments:
//   StageSpec("image.batch").transform<sluice::Image, sluice::Batch>()
// In CMake, link sluice::vision (libsluice_vision.so) to use them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/element_spec.h"
#include "pipeline/port_type.h"

namespace sluice {
inline namespace vision_v3 {

// Names of the extra attributes a dataset carries along with each sample
// (shared by all samples of one index, so a Sample holds only the values).
using AttributeNames = std::shared_ptr<const std::vector<std::string>>;

// One entry of a dataset index: which file, which label, where it came from.
struct Sample {
  int64_t index = 0;  // stable row number in the dataset (drives augmentation RNG)
  int64_t epoch = 0;
  std::string split;  // "train", "validation", "test"
  std::string id;     // e.g. "000001.jpg"
  std::string path;   // file to read
  int64_t label = 0;  // class id (0/1 for a binary attribute)
  // Multi-label: 0/1 per attribute of the label schema (celeba.index label = [...]);
  // empty for a binary or categorical label, which `label` holds.
  std::vector<int8_t> label_values;
  AttributeNames attr_names;
  std::vector<int8_t> attrs;  // values (-1/1) of attr_names, same order
  std::string origin;         // "FILE:LINE" of the index entry, for error messages
  // The encoded file itself (JPEG, PNG, ...) when the sample carries it in memory
  // (read from a shard, or made by image.encode): `encoded_size` bytes of `encoded`.
  // image.decode decodes these bytes instead of reading `path`; empty: read `path`.
  std::shared_ptr<const uint8_t[]> encoded;
  size_t encoded_size = 0;
  std::string encoded_format;  // file extension of the bytes: "jpg", "png", ...
  bool has_encoded() const { return encoded && encoded_size > 0; }
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

// A decoded image, 8-bit interleaved (HWC), RGB unless channels == 1.
struct Image {
  Sample sample;
  int width = 0;
  int height = 0;
  int channels = 3;
  ByteBuffer pixels;            // height * width * channels bytes, rows packed
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
  // size x label_width, row-major: one class id per image (label_width 1), or the
  // 0/1 values of the label schema's K attributes (multi-label, label_width K).
  std::vector<int64_t> labels;
  int label_width = 1;
  std::vector<int64_t> sample_indices;
  std::vector<std::string> ids;
  std::vector<std::string> paths;
  AttributeNames attr_names;
  std::vector<int8_t> attrs;  // size x attr_names->size(), row-major
  Normalization normalization;
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
};

// How error messages name an item ("Sample 000123.jpg (list_attr_celeba.csv:125)",
// "Batch 3 of train (epoch 0, 32 images, first 000001.jpg)"); see port_type.h.
std::string payload_text(const Sample& sample);
std::string payload_text(const Image& image);
std::string payload_text(const Batch& batch);

}  // namespace vision_v3
}  // namespace sluice

SLUICE_PAYLOAD_NAME(sluice::Sample, "Sample");
SLUICE_PAYLOAD_NAME(sluice::Image, "Image");
SLUICE_PAYLOAD_NAME(sluice::Batch, "Batch");

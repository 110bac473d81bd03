// Encoding 8-bit images (RGB or gray, rows packed) back into files in memory:
// JPEG with libjpeg-turbo (TurboJPEG API; quality and chroma subsampling), PNG
// with OpenCV (zlib compression level). The inverse of jpeg_decoder.h, used by
// image.encode to write datasets (shard.write).
//
// One TurboJPEG compressor is kept per thread and replaced after any failure:
// libjpeg-turbo 2.1 leaves a handle in a bad state after a failed call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vision/payloads.h"

namespace sluice::data {

enum class JpegSubsampling { k444, k422, k420 };

struct EncodeOptions {
  bool png = false;  // false: JPEG
  int quality = 95;  // JPEG quality, 1-100
  JpegSubsampling subsampling = JpegSubsampling::k420;
  int png_compression = 3;  // zlib level, 0-9
};

// An encoded file in memory.
struct EncodedImage {
  std::shared_ptr<const uint8_t[]> bytes;
  size_t size = 0;
};

// Encodes `image` (1 or 3 channels; RGB order). Throws std::runtime_error with
// the library's message on failure (an empty image, another channel count).
EncodedImage encode_image(const Image& image, const EncodeOptions& options);

}  // namespace sluice::data

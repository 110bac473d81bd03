// Image file decoding to 8-bit RGB: libjpeg-turbo (TurboJPEG API) for JPEG --
// baseline, progressive, grayscale (expanded to RGB), CMYK/YCCK (converted, Adobe
// inverted convention as written by Photoshop), any chroma subsampling, restart
// markers; a header TurboJPEG refuses or a decode with libjpeg warnings goes to
// libjpeg's own API (libjpeg_decode.h), which decodes what PIL decodes -- libpng for PNG
// (png_decoder.h) and OpenCV for BMP, TIFF, PNM, WebP.
//
// Bad inputs are classified, not thrown, so a pipeline can skip them cheaply.
// The pixel limit is checked from the header (JPEG SOF, PNG IHDR, BMP info
// header, TIFF IFD, PNM header, WebP VP8/VP8L/VP8X chunk; image_header.h) before
// any pixel buffer is allocated, so a decompression bomb costs a header read.
// One TurboJPEG handle is kept per thread, replaced after any error or warning
// so that one bad file cannot fail the good ones decoded after it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vision/payloads.h"

namespace sluice::data {

enum class DecodeStatus {
  kOk,
  kMissingFile,    // no such file, or it cannot be read: not a regular file (a FIFO,
                   // a directory, a device), above kMaxImageBytes (pipeline/file_read.h)
  kEmptyFile,      // zero bytes
  kTruncated,      // the data ends before the image does
  kNotAnImage,     // not a format we can decode
  kTooManyPixels,  // width * height above the limit (from the header)
  kCorrupt,        // a decodable format with invalid data
};

// "ok", "missing_file", "empty_file", "truncated", "not_an_image",
// "too_many_pixels", "corrupt": used as counter names.
const char* decode_status_name(DecodeStatus status);

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kOk;
  std::string message;  // the reason in words, e.g. the libjpeg message
  // Set when the image decoded despite libjpeg warnings (junk bytes before a
  // marker, a scan cut short by the next marker, an odd segment length): the
  // first one. PIL decodes such files and ignores the warnings; so do we, and
  // image.decode counts them.
  std::string warning;
  bool ok() const { return status == DecodeStatus::kOk; }
};

// Returns a buffer of at least the given size for the decoded pixels.
using PixelAllocator = std::function<ByteBuffer(size_t bytes)>;

// A heap allocator (new[]), for tools and tests.
ByteBuffer heap_buffer(size_t bytes);

struct DecodeOptions {
  int64_t max_pixels = 100'000'000;  // refuse larger images (<= 0: no limit)
  bool fast_dct = false;             // TJFLAG_FASTDCT: faster, slightly less exact
};

// Width and height from the header only (JPEG, PNG, BMP, TIFF, PNM, WebP); false
// if unknown.
bool read_image_size(const uint8_t* data, size_t size, int& width, int& height);

// Decodes an in-memory file into `out` (3-channel RGB, rows packed).
DecodeResult decode_image(const uint8_t* data, size_t size, const DecodeOptions& options,
                          const PixelAllocator& allocate, Image& out);

// Reads and decodes a file. The file bytes go through a per-thread buffer.
DecodeResult decode_image_file(const std::string& path, const DecodeOptions& options,
                               const PixelAllocator& allocate, Image& out);

// Reads a whole file; kMissingFile or kEmptyFile when it cannot be used. Never
// blocks on a FIFO or reads a device (read_regular_file).
DecodeResult read_file_bytes(const std::string& path, std::vector<uint8_t>& bytes);

}  // namespace sluice::data

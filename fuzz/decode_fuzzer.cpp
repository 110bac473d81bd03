// Fuzz target: image decoding (stages/data/jpeg_decoder.*) as image.decode uses it.
//
// Feeds: the input bytes as the contents of an image file, through
// sluice::data::decode_image with a pixel limit of 4096 x 4096 (so a large
// header is refused as too_many_pixels rather than exhausting memory) and
// buffers of exactly the requested size (so AddressSanitizer sees any write past
// them), once with the exact DCT and once with fast_dct; then the way
// image.decode classifies the result for its skip policy (the
// skipped.<reason> counter name).
//
// Checks: no crash or sanitizer report; the status is one the skip policy
// counts (never missing_file for bytes in memory) and has a message; a decoded
// image is non-empty, 3-channel, within the pixel limit and has the size that
// read_image_size reads from the header (JPEG, PNG, BMP); both DCT modes agree
// on success and size.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/check.h"
#include "stages/data/jpeg_decoder.h"

namespace {

using sluice::data::DecodeResult;
using sluice::data::DecodeStatus;
using sluice::fuzz::check;

constexpr int64_t kMaxPixels = 4096 * 4096;

struct Decoded {
  DecodeResult result;
  sluice::Image image;
};

Decoded decode(const uint8_t* data, size_t size, bool fast_dct) {
  sluice::data::DecodeOptions options;
  options.max_pixels = kMaxPixels;
  options.fast_dct = fast_dct;
  size_t allocated = 0;
  Decoded d;
  d.result = sluice::data::decode_image(
      data, size, options,
      [&allocated](size_t bytes) {
        allocated = bytes;
        return sluice::data::heap_buffer(bytes);
      },
      d.image);
  if (d.result.ok()) {
    const sluice::Image& im = d.image;
    check(im.width > 0 && im.height > 0, "decoded an empty image");
    check(im.channels == 3, "decoded image is not 3-channel");
    check(static_cast<int64_t>(im.width) * im.height <= kMaxPixels,
          "decoded image exceeds max_pixels");
    check(im.pixels != nullptr && allocated >= im.bytes(), "pixel buffer smaller than the image");
    // Touch every pixel: reads past the buffer show up under AddressSanitizer.
    unsigned sum = 0;
    for (size_t i = 0; i < im.bytes(); ++i) sum += im.pixels.get()[i];
    (void)sum;
  }
  return d;
}

// What image.decode does with a failure under policy = "skip": counts it as
// skipped.<name>. Every status it can see must have a counter.
void check_skip_classification(const DecodeResult& r) {
  const std::string name = sluice::data::decode_status_name(r.status);
  if (r.ok()) {
    check(name == "ok", "ok named " + name);
    return;
  }
  check(name != "unknown" && name != "ok", "status without a skip counter: " + name);
  check(r.status != DecodeStatus::kMissingFile, "missing_file for bytes in memory: " + r.message);
  check(!r.message.empty(), "failure without a message: " + name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Decoded exact = decode(data, size, false);
  check_skip_classification(exact.result);
  if (size == 0) {
    check(exact.result.status == DecodeStatus::kEmptyFile, "zero bytes not empty_file");
    return 0;
  }
  if (exact.result.ok()) {
    int w = 0, h = 0;
    if (sluice::data::read_image_size(data, size, w, h)) {
      check(w == exact.image.width && h == exact.image.height,
            "header says " + std::to_string(w) + "x" + std::to_string(h) + ", decoded " +
                std::to_string(exact.image.width) + "x" + std::to_string(exact.image.height));
    }
  }
  const Decoded fast = decode(data, size, true);
  check_skip_classification(fast.result);
  check(fast.result.ok() == exact.result.ok(),
        std::string("fast_dct changes the outcome: ") +
            sluice::data::decode_status_name(exact.result.status) + " vs " +
            sluice::data::decode_status_name(fast.result.status));
  if (fast.result.ok()) {
    check(fast.image.width == exact.image.width && fast.image.height == exact.image.height,
          "fast_dct changes the image size");
  }
  return 0;
}

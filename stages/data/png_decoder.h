// PNG decoding to 8-bit RGB with libpng, the way OpenCV's IMREAD_COLOR does it
// (16-bit samples stripped to their high byte, alpha and tRNS dropped, palettes
// and gray expanded, Adam7 deinterlaced, no gamma correction), so the pixels are
// the same as before this decoder existed. libpng's default handlers print
// "libpng warning: ..." lines on stderr and OpenCV installs none; here its
// warnings go to the logger (debug level) and its errors into the result, so a
// run's terminal shows only sluice's own lines.
#pragma once

#include <cstdint>

#include "stages/data/jpeg_decoder.h"

namespace sluice::data {

// `width` x `height` is what the IHDR says (read_header_size); the caller has
// checked it against max_pixels. kTruncated when the data ends early, kCorrupt
// for any other libpng error (its message in the result).
DecodeResult decode_png(const uint8_t* data, size_t size, int width, int height,
                        const PixelAllocator& allocate, Image& out);

}  // namespace sluice::data

// Image format detection and width/height from the file header alone, so that
// the decoder can refuse a decompression bomb before any pixel buffer exists.
// JPEG is left to TurboJPEG (jpeg_decoder.cpp); PNG (IHDR), BMP (info header),
// TIFF (ImageWidth/ImageLength of the first IFD, either byte order), PNM
// (P1-P6 ASCII header) and WebP (VP8, VP8L or VP8X chunk) are parsed here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::data {

enum class ImageFormat { kJpeg, kPng, kBmp, kTiff, kPnm, kWebp, kUnknown };

// The format from the first bytes (magic numbers), kUnknown if none matches.
ImageFormat sniff_image_format(const uint8_t* data, size_t size);

enum class HeaderStatus {
  kOk,         // width and height were read (either may be <= 0: an empty image)
  kTruncated,  // the data ends inside the header
  kInvalid,    // the header is malformed, or the format is not parsed here
};

// Width and height of a PNG, BMP, TIFF, PNM or WebP file from its header. A
// dimension that does not fit an int is reported as -1.
HeaderStatus read_header_size(const uint8_t* data, size_t size, ImageFormat format, int& width,
                              int& height);

}  // namespace sluice::data

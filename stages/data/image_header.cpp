#include "stages/data/image_header.h"

#include <climits>
#include <cstring>

namespace sluice::data {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint32_t le24(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
}
uint32_t le16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }

bool pnm_space(uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int clamp_dim(uint64_t v) { return v > static_cast<uint64_t>(INT_MAX) ? -1 : static_cast<int>(v); }

HeaderStatus set(int& width, int& height, uint64_t w, uint64_t h) {
  width = clamp_dim(w);
  height = clamp_dim(h);
  return HeaderStatus::kOk;
}

HeaderStatus png_size(const uint8_t* d, size_t n, int& width, int& height) {
  // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
  if (n < 24) return HeaderStatus::kTruncated;
  if (std::memcmp(d + 12, "IHDR", 4) != 0) return HeaderStatus::kInvalid;
  return set(width, height, be32(d + 16), be32(d + 20));
}

HeaderStatus bmp_size(const uint8_t* d, size_t n, int& width, int& height) {
  // BITMAPFILEHEADER (14), then the info header: size (4), width, height (int32;
  // a negative height means top-down rows).
  if (n < 26) return HeaderStatus::kTruncated;
  const auto w = static_cast<int32_t>(le32(d + 18));
  const auto h = static_cast<int32_t>(le32(d + 22));
  width = w;
  height = h < 0 ? (h == INT32_MIN ? -1 : -h) : h;
  return HeaderStatus::kOk;
}

// ImageWidth (256) and ImageLength (257) from the first IFD. Entries are 12
// bytes: tag (2), type (2), count (4), value or offset (4); SHORT or LONG.
HeaderStatus tiff_size(const uint8_t* d, size_t n, int& width, int& height) {
  if (n < 8) return HeaderStatus::kTruncated;
  const bool le = d[0] == 'I';
  auto u16 = [&](size_t at) { return le ? le16(d + at) : (uint32_t{d[at]} << 8) | d[at + 1]; };
  auto u32 = [&](size_t at) { return le ? le32(d + at) : be32(d + at); };
  const uint64_t ifd = u32(4);
  if (ifd < 8) return HeaderStatus::kInvalid;
  if (ifd + 2 > n) return HeaderStatus::kTruncated;
  const uint32_t entries = u16(ifd);
  int64_t w = -1, h = -1;
  for (uint32_t i = 0; i < entries && (w < 0 || h < 0); ++i) {
    const uint64_t e = ifd + 2 + 12 * uint64_t{i};
    if (e + 12 > n) return HeaderStatus::kTruncated;
    const uint32_t tag = u16(e), type = u16(e + 2), count = u32(e + 4);
    if (tag != 256 && tag != 257) continue;
    if (count < 1 || (type != 3 && type != 4)) return HeaderStatus::kInvalid;
    const int64_t v = type == 3 ? u16(e + 8) : u32(e + 8);
    (tag == 256 ? w : h) = v;
  }
  if (w < 0 || h < 0) return HeaderStatus::kInvalid;
  return set(width, height, static_cast<uint64_t>(w), static_cast<uint64_t>(h));
}

// "P6 <w> <h> ...", read exactly as OpenCV 4.6's PxM decoder reads it
// (ReadNumber in grfmt_pxm.cpp), since OpenCV decodes these files and the size
// checked here must be the size it allocates: before each number any run of
// whitespace and '#' comments (up to and including the next CR or LF), no
// separator needed after the magic, and the one byte after a number consumed
// whatever it is (so in "2#..." the '#' ends the number and starts no comment).
HeaderStatus pnm_size(const uint8_t* d, size_t n, int& width, int& height) {
  size_t pos = 2;
  uint64_t dims[2] = {0, 0};
  for (uint64_t& dim : dims) {
    while (pos < n && (d[pos] < '0' || d[pos] > '9')) {
      if (d[pos] == '#') {
        ++pos;
        while (pos < n && d[pos] != '\n' && d[pos] != '\r') ++pos;
        if (pos < n) ++pos;  // the line end
      } else if (pnm_space(d[pos])) {
        ++pos;
      } else {
        return HeaderStatus::kInvalid;
      }
    }
    if (pos >= n) return HeaderStatus::kTruncated;
    while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
      dim = dim * 10 + (d[pos++] - '0');
      if (dim > UINT32_MAX) dim = uint64_t{UINT32_MAX} + 1;  // stays "too large"
    }
    if (pos >= n) return HeaderStatus::kTruncated;  // the number may go on
    ++pos;                                          // the byte that ended it
  }
  return set(width, height, dims[0], dims[1]);
}

// RIFF (4) size (4) "WEBP" (4), then the first chunk: FourCC (4) size (4) data.
HeaderStatus webp_size(const uint8_t* d, size_t n, int& width, int& height) {
  if (n < 20) return HeaderStatus::kTruncated;
  const uint8_t* chunk = d + 12;
  const uint8_t* p = d + 20;
  if (std::memcmp(chunk, "VP8X", 4) == 0) {  // flags (4), canvas width-1, height-1 (24 bits)
    if (n < 30) return HeaderStatus::kTruncated;
    return set(width, height, uint64_t{le24(p + 4)} + 1, uint64_t{le24(p + 7)} + 1);
  }
  if (std::memcmp(chunk, "VP8L", 4) == 0) {  // 0x2F, then 14 bits width-1, 14 bits height-1
    if (n < 25) return HeaderStatus::kTruncated;
    if (p[0] != 0x2F) return HeaderStatus::kInvalid;
    const uint32_t bits = le32(p + 1);
    return set(width, height, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (std::memcmp(chunk, "VP8 ", 4) == 0) {  // frame tag (3), 9D 01 2A, width, height (14 bits)
    if (n < 30) return HeaderStatus::kTruncated;
    if (p[3] != 0x9D || p[4] != 0x01 || p[5] != 0x2A) return HeaderStatus::kInvalid;
    return set(width, height, le16(p + 6) & 0x3FFF, le16(p + 8) & 0x3FFF);
  }
  return HeaderStatus::kInvalid;
}

}  // namespace

ImageFormat sniff_image_format(const uint8_t* d, size_t n) {
  if (n >= 2 && d[0] == 0xFF && d[1] == 0xD8) return ImageFormat::kJpeg;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n >= 8 && std::memcmp(d, kPng, 8) == 0) return ImageFormat::kPng;
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::kBmp;
  if (n >= 4 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0) ||
                 (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))) {
    return ImageFormat::kTiff;
  }
  // OpenCV's PxM signature: 'P', the type digit, then whitespace.
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6' && pnm_space(d[2])) {
    return ImageFormat::kPnm;
  }
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    return ImageFormat::kWebp;
  }
  return ImageFormat::kUnknown;
}

HeaderStatus read_header_size(const uint8_t* data, size_t size, ImageFormat format, int& width,
                              int& height) {
  switch (format) {
    case ImageFormat::kPng:
      return png_size(data, size, width, height);
    case ImageFormat::kBmp:
      return bmp_size(data, size, width, height);
    case ImageFormat::kTiff:
      return tiff_size(data, size, width, height);
    case ImageFormat::kPnm:
      return pnm_size(data, size, width, height);
    case ImageFormat::kWebp:
      return webp_size(data, size, width, height);
    default:
      return HeaderStatus::kInvalid;
  }
}

}  // namespace sluice::data

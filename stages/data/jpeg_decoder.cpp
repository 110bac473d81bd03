#include "stages/data/jpeg_decoder.h"

#include "pipeline/file_read.h"
#include "stages/data/image_header.h"
#include "stages/data/libjpeg_decode.h"
#include "stages/data/png_decoder.h"

#include <turbojpeg.h>

#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "stages/data/turbojpeg_handle.h"

namespace sluice::data {
namespace {

ThreadDecompressor& thread_decompressor() { return ThreadDecompressor::local(); }

struct TjOutcome {
  bool ok = true;
  bool warning = false;  // the image is complete despite the message
  std::string message;
};

// Runs one TurboJPEG call on this thread's handle; replaces the handle if the
// call reports anything.
template <class Call>
TjOutcome tj_run(Call&& call) {
  ThreadDecompressor& d = thread_decompressor();
  tjhandle tj = d.get();
  if (!tj) return {false, false, "cannot create a TurboJPEG decompressor"};
  if (call(tj) == 0) return {};
  TjOutcome out{false, tjGetErrorCode(tj) == TJERR_WARNING, tjGetErrorStr2(tj)};
  d.discard();
  return out;
}

TjOutcome jpeg_header(const uint8_t* data, size_t size, int& w, int& h, int& subsamp,
                      int& colorspace) {
  return tj_run([&](tjhandle tj) {
    return tjDecompressHeader3(tj, const_cast<unsigned char*>(data),
                               static_cast<unsigned long>(size), &w, &h, &subsamp, &colorspace);
  });
}

DecodeResult fail(DecodeStatus s, std::string msg) {
  DecodeResult r;
  r.status = s;
  r.message = std::move(msg);
  return r;
}

bool too_many(int64_t w, int64_t h, const DecodeOptions& o) {
  return o.max_pixels > 0 && w * h > o.max_pixels;
}

std::string size_text(int64_t w, int64_t h, const DecodeOptions& o) {
  return std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(w * h) +
         " pixels exceeds max_pixels = " + std::to_string(o.max_pixels);
}

// True when the data ends before the first scan's header is complete: the
// marker segments run off the end of the buffer.
bool jpeg_ends_before_scan(const uint8_t* d, size_t n) {
  size_t pos = 2;
  while (pos < n) {
    if (d[pos] != 0xFF) return false;  // not a marker where one must be: corrupt
    while (pos < n && d[pos] == 0xFF) ++pos;
    if (pos >= n) return true;
    const uint8_t marker = d[pos++];
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length
    if (marker == 0xD9) return false;                                    // EOI
    if (pos + 2 > n) return true;
    const size_t len = (size_t{d[pos]} << 8) | d[pos + 1];
    if (len < 2) return false;
    if (pos + len > n) return true;
    if (marker == 0xDA) return false;  // the scan starts: header complete
    pos += len;
  }
  return true;
}

// Adobe (Photoshop) CMYK JPEGs store inverted values: channel = 255 - ink.
void cmyk_to_rgb(const uint8_t* cmyk, size_t npix, uint8_t* dst) {
  for (size_t i = 0; i < npix; ++i) {
    const unsigned k = cmyk[4 * i + 3];
    for (int c = 0; c < 3; ++c)
      dst[3 * i + c] = static_cast<uint8_t>((cmyk[4 * i + c] * k + 127) / 255);
  }
}

DecodeResult finish(int w, int h, ByteBuffer pixels, Image& out) {
  out.width = w;
  out.height = h;
  out.channels = 3;
  out.pixels = std::move(pixels);
  return {};
}

// The libjpeg API path (libjpeg_decode.h): for a header TurboJPEG refuses and for
// a decode with warnings. Decodes what PIL decodes, with the first warning kept.
DecodeResult decode_jpeg_libjpeg(const uint8_t* data, size_t size, const DecodeOptions& options,
                                 const PixelAllocator& allocate, Image& out) {
  LibjpegHeader header;
  const LibjpegOutcome head = libjpeg_read_header(data, size, header);
  if (!head.ok || header.width <= 0 || header.height <= 0) {
    // A JPEG that ends before its first scan is truncated, not corrupt.
    if (head.truncated || jpeg_ends_before_scan(data, size)) {
      return fail(DecodeStatus::kTruncated, "the data ends inside the JPEG header");
    }
    return fail(DecodeStatus::kCorrupt,
                "JPEG header: " + (head.ok ? std::string("no frame header") : head.message));
  }
  const int w = header.width, h = header.height;
  if (too_many(w, h, options)) return fail(DecodeStatus::kTooManyPixels, size_text(w, h, options));
  const size_t npix = static_cast<size_t>(w) * h;
  ByteBuffer pixels = allocate(npix * 3);
  std::vector<uint8_t> cmyk(header.cmyk ? npix * 4 : 0);
  const LibjpegOutcome body = libjpeg_decode(data, size, header, options.fast_dct,
                                             header.cmyk ? cmyk.data() : pixels.get());
  if (!body.ok) return fail(DecodeStatus::kCorrupt, "JPEG data: " + body.message);
  if (body.truncated) {
    return fail(DecodeStatus::kTruncated, "JPEG data: Premature end of JPEG file");
  }
  if (header.cmyk) cmyk_to_rgb(cmyk.data(), npix, pixels.get());
  DecodeResult r = finish(w, h, std::move(pixels), out);
  r.warning = body.message;  // the first warning, header included (or "")
  return r;
}

DecodeResult decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options,
                         const PixelAllocator& allocate, Image& out) {
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  const TjOutcome header = jpeg_header(data, size, w, h, subsamp, colorspace);
  // tjDecompressHeader3 fails on any warning and on sampling factors it has no
  // name for; libjpeg's API reads on as PIL does.
  if (!header.ok || w <= 0 || h <= 0)
    return decode_jpeg_libjpeg(data, size, options, allocate, out);
  if (too_many(w, h, options)) return fail(DecodeStatus::kTooManyPixels, size_text(w, h, options));

  auto* buf = const_cast<unsigned char*>(data);
  const auto len = static_cast<unsigned long>(size);
  const int flags = options.fast_dct ? TJFLAG_FASTDCT : 0;
  const size_t npix = static_cast<size_t>(w) * h;
  ByteBuffer pixels = allocate(npix * 3);
  TjOutcome body;
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    std::vector<uint8_t> cmyk(npix * 4);
    body = tj_run([&](tjhandle tj) {
      return tjDecompress2(tj, buf, len, cmyk.data(), w, 0, h, TJPF_CMYK, flags);
    });
    cmyk_to_rgb(cmyk.data(), npix, pixels.get());
  } else {
    body = tj_run([&](tjhandle tj) {
      return tjDecompress2(tj, buf, len, pixels.get(), w, 0, h, TJPF_RGB, flags);
    });
  }
  // TurboJPEG reports the first warning only, and an error after the last row
  // as any other: libjpeg's API tells what PIL would make of the file.
  if (!body.ok) return decode_jpeg_libjpeg(data, size, options, allocate, out);
  return finish(w, h, std::move(pixels), out);
}

// Every format but JPEG has its size read from the header first: imdecode
// allocates the whole image before it reads any pixel data. PNG goes to libpng
// directly (png_decoder.h), the rest to OpenCV.
DecodeResult decode_opencv(const uint8_t* data, size_t size, ImageFormat format,
                           const DecodeOptions& options, const PixelAllocator& allocate,
                           Image& out) {
  int w = 0, h = 0;
  switch (read_header_size(data, size, format, w, h)) {
    case HeaderStatus::kTruncated:
      return fail(DecodeStatus::kTruncated, "file ends inside the image header");
    case HeaderStatus::kInvalid:
      return fail(DecodeStatus::kCorrupt, "the image header is malformed");
    case HeaderStatus::kOk:
      break;
  }
  if (w <= 0 || h <= 0) return fail(DecodeStatus::kCorrupt, "header gives an empty image");
  if (too_many(w, h, options)) return fail(DecodeStatus::kTooManyPixels, size_text(w, h, options));
  if (format == ImageFormat::kPng) return decode_png(data, size, w, h, allocate, out);
  cv::Mat encoded(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(encoded, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return fail(DecodeStatus::kCorrupt, e.what());
  }
  if (bgr.empty()) {
    bool truncated = false;
    if (format == ImageFormat::kPng) {
      truncated = size < 12 || std::memcmp(data + size - 8, "IEND", 4) != 0;
    } else if (format == ImageFormat::kBmp) {
      const uint32_t file_size = uint32_t{data[2]} | (uint32_t{data[3]} << 8) |
                                 (uint32_t{data[4]} << 16) | (uint32_t{data[5]} << 24);
      truncated = file_size > size;  // bmp_size has checked that 26 bytes are there
    }
    return fail(truncated ? DecodeStatus::kTruncated : DecodeStatus::kCorrupt,
                truncated ? "the data ends before the image does" : "OpenCV cannot decode it");
  }
  if (too_many(bgr.cols, bgr.rows, options)) {
    return fail(DecodeStatus::kTooManyPixels, size_text(bgr.cols, bgr.rows, options));
  }
  ByteBuffer pixels = allocate(static_cast<size_t>(bgr.cols) * bgr.rows * 3);
  cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, pixels.get());
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  out.width = bgr.cols;
  out.height = bgr.rows;
  out.channels = 3;
  out.pixels = std::move(pixels);
  return {};
}

}  // namespace

const char* decode_status_name(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kMissingFile:
      return "missing_file";
    case DecodeStatus::kEmptyFile:
      return "empty_file";
    case DecodeStatus::kTruncated:
      return "truncated";
    case DecodeStatus::kNotAnImage:
      return "not_an_image";
    case DecodeStatus::kTooManyPixels:
      return "too_many_pixels";
    case DecodeStatus::kCorrupt:
      return "corrupt";
  }
  return "unknown";
}

ByteBuffer heap_buffer(size_t bytes) { return ByteBuffer(new uint8_t[bytes]); }

bool read_image_size(const uint8_t* data, size_t size, int& width, int& height) {
  const ImageFormat format = sniff_image_format(data, size);
  if (format == ImageFormat::kJpeg) {
    int subsamp = 0, cs = 0;
    if (jpeg_header(data, size, width, height, subsamp, cs).ok) return true;
    LibjpegHeader header;  // a header TurboJPEG refuses but libjpeg reads
    if (!libjpeg_read_header(data, size, header).ok) return false;
    width = header.width;
    height = header.height;
    return true;
  }
  return read_header_size(data, size, format, width, height) == HeaderStatus::kOk;
}

DecodeResult decode_image(const uint8_t* data, size_t size, const DecodeOptions& options,
                          const PixelAllocator& allocate, Image& out) {
  if (size == 0) return fail(DecodeStatus::kEmptyFile, "zero bytes");
  const ImageFormat format = sniff_image_format(data, size);
  switch (format) {
    case ImageFormat::kJpeg:
      return decode_jpeg(data, size, options, allocate, out);
    case ImageFormat::kUnknown:
      return fail(DecodeStatus::kNotAnImage, "not a JPEG, PNG, BMP, TIFF, PNM or WebP file");
    default:
      return decode_opencv(data, size, format, options, allocate, out);
  }
}

DecodeResult read_file_bytes(const std::string& path, std::vector<uint8_t>& bytes) {
  const FileReadResult r = try_read_regular_file(path, kMaxImageBytes, "image", bytes);
  if (!r.ok()) return fail(DecodeStatus::kMissingFile, r.message);
  if (bytes.empty()) return fail(DecodeStatus::kEmptyFile, "zero bytes");
  return {};
}

DecodeResult decode_image_file(const std::string& path, const DecodeOptions& options,
                               const PixelAllocator& allocate, Image& out) {
  thread_local std::vector<uint8_t> bytes;
  DecodeResult r = read_file_bytes(path, bytes);
  if (!r.ok()) return r;
  r = decode_image(bytes.data(), bytes.size(), options, allocate, out);
  if (bytes.capacity() > (64u << 20)) std::vector<uint8_t>().swap(bytes);
  return r;
}

}  // namespace sluice::data

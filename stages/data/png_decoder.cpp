#include "stages/data/png_decoder.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "pipeline/text_escape.h"

namespace sluice::data {
namespace {

// Everything libpng's callbacks reach. libpng reports errors by longjmp, so the
// frame that calls setjmp (read_rows) holds only this plain state and pointers.
struct PngSource {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  bool ran_out = false;
  char error[256] = {};
};

void on_error(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->error, sizeof src->error, "%s", message ? message : "unknown error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp message) {
  spdlog::debug("libpng warning: {}", printable(message ? message : ""));
}

void on_read(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->size - src->pos < n) {
    src->ran_out = true;
    png_error(png, "the data ends before the image does");
  }
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

// The transformations OpenCV 4.6 applies for a 3-channel 8-bit read (grfmt_png.cpp),
// with RGB order instead of its BGR.
void set_rgb8_transforms(png_structp png, png_infop info) {
  const int color_type = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0) {
    if (depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
}

// Reads the whole image into `rows`; false with src.error set on any libpng error.
bool read_rows(PngSource& src, png_bytep* rows, png_uint_32 width, png_uint_32 height) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
  if (png == nullptr) {
    std::snprintf(src.error, sizeof src.error, "libpng cannot start a read");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &src, on_read);
  png_read_info(png, info);
  if (png_get_image_width(png, info) != width || png_get_image_height(png, info) != height) {
    png_error(png, "the image size differs from the header's");
  }
  set_rgb8_transforms(png, info);
  if (png_get_rowbytes(png, info) != size_t{width} * 3) {
    png_error(png, "unexpected row size after conversion to RGB");
  }
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

DecodeResult decode_png(const uint8_t* data, size_t size, int width, int height,
                        const PixelAllocator& allocate, Image& out) {
  const size_t stride = static_cast<size_t>(width) * 3;
  ByteBuffer pixels = allocate(stride * static_cast<size_t>(height));
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = pixels.get() + y * stride;
  PngSource src;
  src.data = data;
  src.size = size;
  if (!read_rows(src, rows.data(), static_cast<png_uint_32>(width),
                 static_cast<png_uint_32>(height))) {
    DecodeResult r;
    r.status = src.ran_out ? DecodeStatus::kTruncated : DecodeStatus::kCorrupt;
    r.message = std::string("libpng: ") + src.error;
    return r;
  }
  out.width = width;
  out.height = height;
  out.channels = 3;
  out.pixels = std::move(pixels);
  return {};
}

}  // namespace sluice::data

// PNG decoding through libpng: the same pixels as OpenCV's IMREAD_COLOR for every
// colour type, bit depth and interlace, and nothing printed on stderr for a
// warning or an error (OpenCV left libpng's default handlers to print them).
#include "stages/data/png_decoder.h"

#include <png.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <random>
#include <string>
#include <vector>

namespace sluice::data {
namespace {

struct PngSpec {
  int color_type;
  int depth;
  int interlace;
  bool trns;
};

std::string name_of(const PngSpec& s) {
  return "color_type " + std::to_string(s.color_type) + " depth " + std::to_string(s.depth) +
         (s.interlace ? " adam7" : "") + (s.trns ? " tRNS" : "");
}

void append_bytes(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

// Writes a w x h PNG of random samples with libpng itself, so every colour type
// and depth the format allows can be made (OpenCV writes only a few).
std::vector<uint8_t> write_png(const PngSpec& s, int w, int h, uint32_t seed) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, append_bytes, nullptr);
  png_set_IHDR(png, info, w, h, s.depth, s.color_type, s.interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::mt19937 rng(seed);
  std::vector<png_color> palette(256);
  std::vector<png_byte> alpha(256);
  for (int i = 0; i < 256; ++i) {
    palette[i] = {static_cast<png_byte>(rng()), static_cast<png_byte>(rng()),
                  static_cast<png_byte>(rng())};
    alpha[i] = static_cast<png_byte>(rng());
  }
  const int colors = 1 << std::min(s.depth, 8);
  if (s.color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_PLTE(png, info, palette.data(), colors);
    if (s.trns) png_set_tRNS(png, info, alpha.data(), colors, nullptr);
  } else if (s.trns) {
    png_color_16 key{};
    key.gray = key.red = key.green = key.blue = 1;
    png_set_tRNS(png, info, nullptr, 0, &key);
  }
  png_write_info(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  std::vector<std::vector<png_byte>> rows(h, std::vector<png_byte>(row_bytes));
  std::vector<png_bytep> pointers;
  for (auto& row : rows) {
    for (auto& b : row) b = static_cast<png_byte>(rng());
    pointers.push_back(row.data());
  }
  png_write_image(png, pointers.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<PngSpec> every_kind() {
  std::vector<PngSpec> specs;
  const std::vector<std::pair<int, std::vector<int>>> depths = {
      {PNG_COLOR_TYPE_GRAY, {1, 2, 4, 8, 16}},
      {PNG_COLOR_TYPE_GRAY_ALPHA, {8, 16}},
      {PNG_COLOR_TYPE_RGB, {8, 16}},
      {PNG_COLOR_TYPE_RGB_ALPHA, {8, 16}},
      {PNG_COLOR_TYPE_PALETTE, {1, 2, 4, 8}}};
  for (const auto& [type, ds] : depths) {
    for (int d : ds) {
      for (int interlace : {PNG_INTERLACE_NONE, PNG_INTERLACE_ADAM7}) {
        const bool alpha_channel = (type & PNG_COLOR_MASK_ALPHA) != 0;
        specs.push_back({type, d, interlace, false});
        if (!alpha_channel) specs.push_back({type, d, interlace, true});
      }
    }
  }
  return specs;
}

std::vector<uint8_t> opencv_rgb(const std::vector<uint8_t>& bytes) {
  cv::Mat bgr = cv::imdecode(
      cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data())),
      cv::IMREAD_COLOR);
  std::vector<uint8_t> rgb;
  for (int i = 0; i < bgr.rows * bgr.cols; ++i) {
    rgb.insert(rgb.end(), {bgr.data[3 * i + 2], bgr.data[3 * i + 1], bgr.data[3 * i]});
  }
  return rgb;
}

DecodeResult decode(const std::vector<uint8_t>& bytes, Image& out) {
  DecodeOptions o;
  return decode_image(bytes.data(), bytes.size(), o, heap_buffer, out);
}

std::vector<uint8_t> pixels_of(const Image& img) {
  return std::vector<uint8_t>(img.pixels.get(),
                              img.pixels.get() + size_t(img.width) * img.height * 3);
}

TEST(PngDecoder, EveryColorTypeDepthAndInterlaceMatchesOpenCv) {
  const auto specs = every_kind();
  ASSERT_EQ(specs.size(), 52u);  // 26 kinds, each plain and Adam7
  uint32_t seed = 1;
  for (const PngSpec& s : specs) {
    const auto bytes = write_png(s, 37, 23, seed++);
    Image img;
    const DecodeResult r = decode(bytes, img);
    ASSERT_TRUE(r.ok()) << name_of(s) << ": " << r.message;
    EXPECT_EQ(img.width, 37);
    EXPECT_EQ(img.height, 23);
    EXPECT_EQ(pixels_of(img), opencv_rgb(bytes)) << name_of(s);
  }
}

// A chunk: length, type, data, CRC over type and data.
std::vector<uint8_t> chunk(const std::string& type, const std::string& data, bool bad_crc) {
  std::vector<uint8_t> c;
  for (int s = 24; s >= 0; s -= 8) c.push_back(static_cast<uint8_t>(data.size() >> s));
  c.insert(c.end(), type.begin(), type.end());
  c.insert(c.end(), data.begin(), data.end());
  uint32_t crc = static_cast<uint32_t>(crc32(0, c.data() + 4, static_cast<uInt>(c.size() - 4)));
  if (bad_crc) crc ^= 1;
  for (int s = 24; s >= 0; s -= 8) c.push_back(static_cast<uint8_t>(crc >> s));
  return c;
}

// libpng warns about an ancillary chunk with a bad CRC and drops it: the image
// decodes, and the warning must not reach the terminal raw.
TEST(PngDecoder, WarningsAndErrorsDoNotReachStderr) {
  const auto good = write_png({PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, false}, 16, 9, 7);
  auto warned = good;
  const auto text = chunk("tEXt", std::string("Comment\0damaged", 15), true);
  warned.insert(warned.begin() + 33, text.begin(), text.end());  // after IHDR
  auto corrupt = good;
  corrupt[29] ^= 0xFF;  // IHDR's CRC: a critical chunk, an error
  auto cut = good;
  cut.resize(good.size() - 20);  // inside IDAT

  ::testing::internal::CaptureStderr();
  Image a, b, c, d;
  const DecodeResult ra = decode(good, a);
  const DecodeResult rb = decode(warned, b);
  const DecodeResult rc = decode(corrupt, c);
  const DecodeResult rd = decode(cut, d);
  const std::string err = ::testing::internal::GetCapturedStderr();

  EXPECT_EQ(err, "");
  ASSERT_TRUE(ra.ok()) << ra.message;
  ASSERT_TRUE(rb.ok()) << rb.message;
  EXPECT_EQ(pixels_of(a), pixels_of(b));
  EXPECT_EQ(rc.status, DecodeStatus::kCorrupt);
  EXPECT_NE(rc.message.find("CRC"), std::string::npos) << rc.message;
  EXPECT_EQ(rd.status, DecodeStatus::kTruncated) << rd.message;
}

}  // namespace
}  // namespace sluice::data

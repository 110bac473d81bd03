#include "stages/data/jpeg_decoder.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <opencv2/imgcodecs.hpp>

// GCC warns that the replaced operator delete frees what operator new
// returned; both are the malloc/free pair defined here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// The largest single operator new request, to show that a decompression bomb is
// refused before its pixel buffer is allocated.
static std::atomic<size_t> g_largest_new{0};

void* operator new(size_t n) {
  size_t seen = g_largest_new.load();
  while (n > seen && !g_largest_new.compare_exchange_weak(seen, n)) {
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

constexpr int kW = 61, kH = 47;

std::vector<uint8_t> pattern_rgb() {
  std::vector<uint8_t> px(kW * kH * 3);
  for (int y = 0; y < kH; ++y) {
    for (int x = 0; x < kW; ++x) {
      uint8_t* p = &px[(y * kW + x) * 3];
      p[0] = static_cast<uint8_t>(40 + 3 * x);
      p[1] = static_cast<uint8_t>(30 + 4 * y);
      p[2] = static_cast<uint8_t>(200 - 2 * x - y);
    }
  }
  return px;
}

std::vector<uint8_t> tj_encode(const uint8_t* px, int pixel_format, int subsamp, int flags) {
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(h, px, kW, 0, kH, pixel_format, &buf, &size, subsamp, 95, flags), 0)
      << tjGetErrorStr2(h);
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

double mean_abs_diff(const Image& img, const std::vector<uint8_t>& ref) {
  double sum = 0;
  for (size_t i = 0; i < ref.size(); ++i) sum += std::abs(int(img.pixels[i]) - int(ref[i]));
  return sum / ref.size();
}

DecodeResult decode(const std::vector<uint8_t>& bytes, Image& out, int64_t max_pixels = 1 << 26) {
  DecodeOptions o;
  o.max_pixels = max_pixels;
  return decode_image(bytes.data(), bytes.size(), o, heap_buffer, out);
}

TEST(ImageDecoder, JpegSubsamplingsAndProgressive) {
  const auto rgb = pattern_rgb();
  for (int subsamp : {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440, TJSAMP_411}) {
    for (int flags : {0, TJFLAG_PROGRESSIVE}) {
      Image img;
      const DecodeResult r = decode(tj_encode(rgb.data(), TJPF_RGB, subsamp, flags), img);
      ASSERT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(img.width, kW);
      EXPECT_EQ(img.height, kH);
      EXPECT_EQ(img.channels, 3);
      EXPECT_LT(mean_abs_diff(img, rgb), 4.0) << "subsampling " << subsamp << " flags " << flags;
    }
  }
}

TEST(ImageDecoder, GrayscaleIsExpandedToRgb) {
  std::vector<uint8_t> gray(kW * kH);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i % 200 + 20);
  Image img;
  ASSERT_TRUE(decode(tj_encode(gray.data(), TJPF_GRAY, TJSAMP_GRAY, 0), img).ok());
  std::vector<uint8_t> expanded;
  for (uint8_t g : gray) expanded.insert(expanded.end(), {g, g, g});
  EXPECT_LT(mean_abs_diff(img, expanded), 4.0);
  for (int i = 0; i < kW * kH; ++i) {
    EXPECT_EQ(img.pixels[3 * i], img.pixels[3 * i + 1]);
    EXPECT_EQ(img.pixels[3 * i], img.pixels[3 * i + 2]);
  }
}

TEST(ImageDecoder, CmykIsConvertedWithAdobeInversion) {
  // Pure red in inverted (Adobe) CMYK: C = 0 ink -> 255, M = Y = full ink -> 0, K = none -> 255.
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < kW * kH; ++i) cmyk.insert(cmyk.end(), {255, 0, 0, 255});
  Image img;
  const DecodeResult r = decode(tj_encode(cmyk.data(), TJPF_CMYK, TJSAMP_444, 0), img);
  ASSERT_TRUE(r.ok()) << r.message;
  std::vector<uint8_t> red;
  for (int i = 0; i < kW * kH; ++i) red.insert(red.end(), {255, 0, 0});
  EXPECT_LT(mean_abs_diff(img, red), 4.0);
}

TEST(ImageDecoder, RestartMarkers) {
  const auto rgb = pattern_rgb();
  cv::Mat bgr(kH, kW, CV_8UC3);
  for (int i = 0; i < kW * kH; ++i) {
    bgr.data[3 * i] = rgb[3 * i + 2];
    bgr.data[3 * i + 1] = rgb[3 * i + 1];
    bgr.data[3 * i + 2] = rgb[3 * i];
  }
  std::vector<uchar> bytes;
  cv::imencode(".jpg", bgr, bytes,
               {cv::IMWRITE_JPEG_QUALITY, 95, cv::IMWRITE_JPEG_RST_INTERVAL, 2});
  const std::vector<uint8_t> jpeg(bytes.begin(), bytes.end());
  bool has_rst = false;
  for (size_t i = 0; i + 1 < jpeg.size(); ++i) has_rst |= jpeg[i] == 0xFF && jpeg[i + 1] == 0xDD;
  ASSERT_TRUE(has_rst) << "no DRI marker written";
  Image img;
  ASSERT_TRUE(decode(jpeg, img).ok());
  EXPECT_LT(mean_abs_diff(img, rgb), 4.0);
}

TEST(ImageDecoder, PngAndBmpThroughOpenCvAreExact) {
  const auto rgb = pattern_rgb();
  cv::Mat bgr(kH, kW, CV_8UC3);
  for (int i = 0; i < kW * kH; ++i) {
    bgr.data[3 * i] = rgb[3 * i + 2];
    bgr.data[3 * i + 1] = rgb[3 * i + 1];
    bgr.data[3 * i + 2] = rgb[3 * i];
  }
  for (const char* ext : {".png", ".bmp"}) {
    std::vector<uchar> bytes;
    cv::imencode(ext, bgr, bytes);
    Image img;
    const DecodeResult r = decode(std::vector<uint8_t>(bytes.begin(), bytes.end()), img);
    ASSERT_TRUE(r.ok()) << ext << ": " << r.message;
    EXPECT_EQ(mean_abs_diff(img, rgb), 0.0) << ext;
    int w = 0, h = 0;
    EXPECT_TRUE(read_image_size(bytes.data(), bytes.size(), w, h));
    EXPECT_EQ(w, kW);
    EXPECT_EQ(h, kH);
  }
}

class TempFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_decode_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string put(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  DecodeStatus status_of(const std::string& path) {
    Image img;
    DecodeOptions o;
    o.max_pixels = 1 << 20;
    return decode_image_file(path, o, heap_buffer, img).status;
  }
  fs::path dir_;
};

TEST_F(TempFiles, EachBadKindIsClassified) {
  const auto rgb = pattern_rgb();
  const auto jpeg = tj_encode(rgb.data(), TJPF_RGB, TJSAMP_420, 0);
  EXPECT_EQ(status_of(put("good.jpg", jpeg)), DecodeStatus::kOk);
  EXPECT_EQ(status_of((dir_ / "missing.jpg").string()), DecodeStatus::kMissingFile);
  EXPECT_EQ(status_of(dir_.string()), DecodeStatus::kMissingFile);
  EXPECT_EQ(status_of(put("empty.jpg", {})), DecodeStatus::kEmptyFile);
  const std::vector<uint8_t> cut(jpeg.begin(),
                                 jpeg.begin() + static_cast<long>(jpeg.size() * 6 / 10));
  EXPECT_EQ(status_of(put("truncated.jpg", cut)), DecodeStatus::kTruncated);
  const std::vector<uint8_t> header_only(jpeg.begin(), jpeg.begin() + 20);
  EXPECT_EQ(status_of(put("header_only.jpg", header_only)), DecodeStatus::kTruncated);
  const std::string text = "image_id,partition\n000001.jpg,0\n";
  EXPECT_EQ(status_of(put("text.jpg", std::vector<uint8_t>(text.begin(), text.end()))),
            DecodeStatus::kNotAnImage);
  std::vector<uchar> png;
  cv::imencode(".png", cv::Mat(kH, kW, CV_8UC3, cv::Scalar(1, 2, 3)), png);
  png.resize(png.size() / 2);
  EXPECT_EQ(status_of(put("truncated.png", std::vector<uint8_t>(png.begin(), png.end()))),
            DecodeStatus::kTruncated);
  cv::Mat large(1200, 1000, CV_8UC3, cv::Scalar(9, 9, 9));
  std::vector<uchar> large_jpeg;
  cv::imencode(".jpg", large, large_jpeg);
  EXPECT_EQ(status_of(put("large.jpg", std::vector<uint8_t>(large_jpeg.begin(), large_jpeg.end()))),
            DecodeStatus::kTooManyPixels);
}

std::vector<uint8_t> png_bomb(uint32_t w, uint32_t h) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A,
                            0,    0,   0,   13,  'I',  'H',  'D',  'R'};
  for (uint32_t v : {w, h}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  }
  b.insert(b.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // depth, RGB, ..., CRC (not checked)
  b.resize(4096, 0);
  return b;
}

TEST(ImageDecoder, DecompressionBombIsRefusedFromTheHeader) {
  Image img;
  g_largest_new = 0;
  DecodeResult r = decode(png_bomb(100000, 100000), img, 100'000'000);
  EXPECT_EQ(r.status, DecodeStatus::kTooManyPixels) << r.message;
  EXPECT_NE(r.message.find("100000x100000"), std::string::npos) << r.message;
  EXPECT_LT(g_largest_new.load(), size_t{1} << 20);
  EXPECT_EQ(img.pixels, nullptr);

  // A JPEG whose frame header claims 60000 x 60000 pixels.
  const auto rgb = pattern_rgb();
  auto jpeg = tj_encode(rgb.data(), TJPF_RGB, TJSAMP_420, 0);
  bool patched = false;
  for (size_t i = 0; i + 9 < jpeg.size() && !patched; ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = 60000 >> 8;
      jpeg[i + 6] = 60000 & 0xFF;
      jpeg[i + 7] = 60000 >> 8;
      jpeg[i + 8] = 60000 & 0xFF;
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  g_largest_new = 0;
  r = decode(jpeg, img, 100'000'000);
  EXPECT_EQ(r.status, DecodeStatus::kTooManyPixels) << r.message;
  EXPECT_LT(g_largest_new.load(), size_t{1} << 20);
  EXPECT_EQ(img.pixels, nullptr);
}

}  // namespace
}  // namespace sluice::data

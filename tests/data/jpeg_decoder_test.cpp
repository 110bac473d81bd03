#include "stages/data/jpeg_decoder.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>

// GCC warns that the replaced operator delete frees what operator new
// returned; both are the malloc/free pair defined here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// The largest single operator new request, to show that a decompression bomb is
// refused before its pixel buffer is allocated (image_cache_test.cpp reads it too).
std::atomic<size_t> g_largest_new{0};

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
// The nothrow forms too (std::stable_sort's temporary buffer uses them): every
// plain allocation must pair malloc with free, or AddressSanitizer reports an
// alloc-dealloc mismatch in whatever code of this binary frees one.
void* operator new(size_t n, const std::nothrow_t&) noexcept { return std::malloc(n ? n : 1); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return std::malloc(n ? n : 1); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

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

// ---- One bad file must not fail the good ones decoded after it -------------

struct Named {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Overwrites the first SOF0 frame's height and width.
std::vector<uint8_t> with_sof_size(std::vector<uint8_t> jpeg, int w, int h) {
  for (size_t i = 0; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = static_cast<uint8_t>(h >> 8);
      jpeg[i + 6] = static_cast<uint8_t>(h & 0xFF);
      jpeg[i + 7] = static_cast<uint8_t>(w >> 8);
      jpeg[i + 8] = static_cast<uint8_t>(w & 0xFF);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no SOF0 marker";
  return jpeg;
}

std::vector<uint8_t> bmp_bomb(int32_t w, int32_t h) {
  std::vector<uint8_t> b(64, 0);
  b[0] = 'B';
  b[1] = 'M';
  auto put32 = [&](size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) b[at + k] = static_cast<uint8_t>(v >> (8 * k));
  };
  put32(2, 64);
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(w));
  put32(22, static_cast<uint32_t>(h));
  b[26] = 1;
  b[28] = 24;
  return b;
}

std::vector<Named> bad_inputs() {
  const auto rgb = pattern_rgb();
  const auto good = tj_encode(rgb.data(), TJPF_RGB, TJSAMP_420, 0);
  std::vector<Named> bad;
  bad.push_back({"SOF 0x0", with_sof_size(good, 0, 0)});
  bad.push_back({"SOF 65535x100", with_sof_size(good, 65535, 100)});
  bad.push_back({"SOF 100x65535", with_sof_size(good, 100, 65535)});
  bad.push_back({"truncated header", {good.begin(), good.begin() + 20}});
  bad.push_back(
      {"truncated data", {good.begin(), good.begin() + static_cast<long>(good.size() * 6 / 10)}});
  std::vector<uint8_t> garbage = {0xFF, 0xD8};
  for (int i = 0; i < 300; ++i) garbage.push_back(static_cast<uint8_t>(i * 37 + 11));
  bad.push_back({"garbage after SOI", garbage});
  std::vector<uint8_t> two_soi = {0xFF, 0xD8};
  two_soi.insert(two_soi.end(), good.begin(), good.end());
  bad.push_back({"two SOI", two_soi});
  std::vector<uint8_t> bogus = good;  // SOF0 length other than 8 + 3 x components
  for (size_t i = 0; i + 3 < bogus.size(); ++i) {
    if (bogus[i] == 0xFF && bogus[i + 1] == 0xC0) {
      bogus[i + 3] = static_cast<uint8_t>(bogus[i + 3] + 3);
      break;
    }
  }
  bad.push_back({"bogus marker length", bogus});
  bad.push_back({"empty", {}});
  const std::string text = "image_id,partition\n000001.jpg,0\n";
  bad.push_back({"not an image", {text.begin(), text.end()}});
  bad.push_back({"PNG 100000x100000", png_bomb(100000, 100000)});
  bad.push_back({"BMP 100000x100000", bmp_bomb(100000, 100000)});
  return bad;
}

std::vector<Named> good_jpegs() {
  const auto rgb = pattern_rgb();
  std::vector<uint8_t> gray(kW * kH), cmyk;
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i % 200 + 20);
  for (int i = 0; i < kW * kH; ++i) {
    cmyk.insert(cmyk.end(), {static_cast<uint8_t>(i % 255), 30, static_cast<uint8_t>(i % 97), 200});
  }
  return {{"baseline", tj_encode(rgb.data(), TJPF_RGB, TJSAMP_420, 0)},
          {"progressive", tj_encode(rgb.data(), TJPF_RGB, TJSAMP_444, TJFLAG_PROGRESSIVE)},
          {"grayscale", tj_encode(gray.data(), TJPF_GRAY, TJSAMP_GRAY, 0)},
          {"CMYK", tj_encode(cmyk.data(), TJPF_CMYK, TJSAMP_444, 0)}};
}

std::vector<uint8_t> pixels_of(const Image& img) {
  return std::vector<uint8_t>(img.pixels.get(), img.pixels.get() + img.bytes());
}

// Each good JPEG decoded on a thread of its own, with a decompressor nothing
// else has used.
std::vector<std::vector<uint8_t>> fresh_decodes(const std::vector<Named>& good) {
  std::vector<std::vector<uint8_t>> out(good.size());
  for (size_t i = 0; i < good.size(); ++i) {
    std::thread([&, i] {
      Image img;
      const DecodeResult r = decode(good[i].bytes, img);
      ASSERT_TRUE(r.ok()) << good[i].name << ": " << r.message;
      out[i] = pixels_of(img);
    }).join();
  }
  return out;
}

// Decodes `bad` then `good` on the calling thread; "" when `good` came out as
// it does fresh, else what went wrong.
std::string after_bad(const Named& bad, const Named& good, const std::vector<uint8_t>& fresh) {
  Image img;
  if (decode(bad.bytes, img, 1 << 26).ok()) return bad.name + " decoded";
  Image again;
  const DecodeResult r = decode(good.bytes, again);
  if (!r.ok()) return good.name + " after " + bad.name + ": " + r.message;
  if (pixels_of(again) != fresh) return good.name + " after " + bad.name + ": other pixels";
  return {};
}

TEST(ImageDecoder, GoodJpegAfterEveryKindOfBadInputDecodesAsFresh) {
  const auto bad = bad_inputs();
  const auto good = good_jpegs();
  const auto fresh = fresh_decodes(good);
  for (const Named& b : bad) {
    for (size_t g = 0; g < good.size(); ++g) EXPECT_EQ(after_bad(b, good[g], fresh[g]), "");
  }
  // read_image_size shares the decompressor: a bad header there must not fail
  // the next decode either.
  for (const Named& b : bad) {
    int w = 0, h = 0;
    read_image_size(b.bytes.data(), b.bytes.size(), w, h);
    Image img;
    const DecodeResult r = decode(good[0].bytes, img);
    ASSERT_TRUE(r.ok()) << "after read_image_size(" << b.name << "): " << r.message;
    EXPECT_EQ(pixels_of(img), fresh[0]) << b.name;
  }
}

TEST(ImageDecoder, BadAndGoodJpegsInterleavedOnFourThreads) {
  const auto bad = bad_inputs();
  const auto good = good_jpegs();
  const auto fresh = fresh_decodes(good);
  std::atomic<int> failures{0};
  std::vector<std::string> first_failure(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < bad.size(); ++i) {
          const size_t b = (i + static_cast<size_t>(t) * 3) % bad.size();
          const size_t g = (i + static_cast<size_t>(t + round)) % good.size();
          const std::string why = after_bad(bad[b], good[g], fresh[g]);
          if (!why.empty() && failures.fetch_add(1) == 0) first_failure[t] = why;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string why;
  for (const auto& w : first_failure) why += w;
  EXPECT_EQ(failures.load(), 0) << why;
}

// ---- TIFF, PNM and WebP sizes come from the header, before imdecode --------

cv::Mat pattern_bgr() {
  const auto rgb = pattern_rgb();
  cv::Mat bgr(kH, kW, CV_8UC3);
  for (int i = 0; i < kW * kH; ++i) {
    bgr.data[3 * i] = rgb[3 * i + 2];
    bgr.data[3 * i + 1] = rgb[3 * i + 1];
    bgr.data[3 * i + 2] = rgb[3 * i];
  }
  return bgr;
}

std::vector<uint8_t> encoded(const char* ext, std::vector<int> params = {}) {
  std::vector<uchar> bytes;
  cv::Mat image = pattern_bgr();
  if (std::string(ext) == ".pgm") cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
  EXPECT_TRUE(cv::imencode(ext, image, bytes, params)) << ext;
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// A TIFF with only an IFD0 holding ImageWidth and ImageLength (type 3 SHORT or
// 4 LONG), in either byte order.
std::vector<uint8_t> tiff_header(bool little_endian, uint16_t type, uint32_t w, uint32_t h) {
  std::vector<uint8_t> b;
  auto put = [&](uint32_t v, int bytes) {
    for (int k = 0; k < bytes; ++k) {
      const int shift = little_endian ? 8 * k : 8 * (bytes - 1 - k);
      b.push_back(static_cast<uint8_t>(v >> shift));
    }
  };
  b.push_back(little_endian ? 'I' : 'M');
  b.push_back(little_endian ? 'I' : 'M');
  put(42, 2);
  put(8, 4);  // IFD0 right after the header
  put(3, 2);  // entries
  for (const auto& [tag, value] : {std::pair<uint32_t, uint32_t>{256, w}, {257, h}, {258, 8}}) {
    put(tag, 2);
    put(type, 2);
    put(1, 4);
    if (type == 3) {
      put(value, 2);
      put(0, 2);
    } else {
      put(value, 4);
    }
  }
  put(0, 4);  // no next IFD
  b.resize(b.size() + 64, 0);
  return b;
}

std::vector<uint8_t> webp_vp8x(uint32_t w, uint32_t h) {
  std::vector<uint8_t> b = {'R', 'I', 'F', 'F', 0,  0, 0, 0, 'W', 'E', 'B', 'P',
                            'V', 'P', '8', 'X', 10, 0, 0, 0, 0,   0,   0,   0};
  for (uint32_t v : {w - 1, h - 1}) {
    for (int k = 0; k < 3; ++k) b.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  b.resize(128, 0);
  const auto riff = static_cast<uint32_t>(b.size() - 8);
  for (int k = 0; k < 4; ++k) b[4 + k] = static_cast<uint8_t>(riff >> (8 * k));
  return b;
}

void expect_refused_from_header(const std::string& what, const std::vector<uint8_t>& bytes,
                                const std::string& size) {
  Image img;
  const DecodeResult r = decode(bytes, img, 1'000'000);
  EXPECT_EQ(r.status, DecodeStatus::kTooManyPixels) << what << ": " << r.message;
  EXPECT_NE(r.message.find(size + " = "), std::string::npos) << what << ": " << r.message;
  EXPECT_EQ(img.pixels, nullptr) << what;
}

TEST(ImageDecoder, TiffPnmAndWebpSizesAreReadFromTheHeader) {
  struct File {
    const char* what;
    std::vector<uint8_t> bytes;
    bool lossless_rgb;
  };
  const File files[] = {{"PPM", encoded(".ppm"), true},
                        {"PGM", encoded(".pgm"), false},
                        {"TIFF", encoded(".tiff"), true},
                        {"WebP lossy", encoded(".webp", {cv::IMWRITE_WEBP_QUALITY, 90}), false},
                        {"WebP lossless", encoded(".webp", {cv::IMWRITE_WEBP_QUALITY, 101}), true}};
  for (const File& f : files) {
    int w = 0, h = 0;
    EXPECT_TRUE(read_image_size(f.bytes.data(), f.bytes.size(), w, h)) << f.what;
    EXPECT_EQ(w, kW) << f.what;
    EXPECT_EQ(h, kH) << f.what;
    Image img;
    const DecodeResult r = decode(f.bytes, img);
    ASSERT_TRUE(r.ok()) << f.what << ": " << r.message;
    EXPECT_EQ(img.width, kW) << f.what;
    EXPECT_EQ(img.height, kH) << f.what;
    if (f.lossless_rgb) {
      EXPECT_EQ(mean_abs_diff(img, pattern_rgb()), 0.0) << f.what;
    }
  }
  for (bool le : {true, false}) {
    for (uint16_t type : {uint16_t{3}, uint16_t{4}}) {
      int w = 0, h = 0;
      const auto tiff = tiff_header(le, type, 300, 200);
      EXPECT_TRUE(read_image_size(tiff.data(), tiff.size(), w, h));
      EXPECT_EQ(w, 300);
      EXPECT_EQ(h, 200);
    }
  }
}

TEST(ImageDecoder, TiffPnmAndWebpBombsAreRefusedBeforeDecoding) {
  const std::string ppm = "P6\n20000 20000\n255\n....";
  expect_refused_from_header("P6", {ppm.begin(), ppm.end()}, "20000x20000");
  const std::string commented = "P5 # a comment\n# another\n 30000\t30000 255\n....";
  expect_refused_from_header("P5 with comments", {commented.begin(), commented.end()},
                             "30000x30000");
  expect_refused_from_header("TIFF II LONG", tiff_header(true, 4, 20000, 20000), "20000x20000");
  expect_refused_from_header("TIFF MM SHORT", tiff_header(false, 3, 40000, 40000), "40000x40000");
  expect_refused_from_header("WebP VP8X", webp_vp8x(20000, 20000), "20000x20000");
  auto lossy = encoded(".webp", {cv::IMWRITE_WEBP_QUALITY, 90});
  ASSERT_EQ(std::string(lossy.begin() + 12, lossy.begin() + 16), "VP8 ");
  lossy[26] = 16000 & 0xFF;
  lossy[27] = 16000 >> 8;
  lossy[28] = 16000 & 0xFF;
  lossy[29] = 16000 >> 8;
  expect_refused_from_header("WebP VP8", lossy, "16000x16000");
  auto lossless = encoded(".webp", {cv::IMWRITE_WEBP_QUALITY, 101});
  ASSERT_EQ(std::string(lossless.begin() + 12, lossless.begin() + 16), "VP8L");
  const uint32_t bits = (16000 - 1) | ((16000 - 1) << 14) | (uint32_t{lossless[24]} & 0xF0) << 24;
  for (int k = 0; k < 4; ++k) lossless[21 + k] = static_cast<uint8_t>(bits >> (8 * k));
  expect_refused_from_header("WebP VP8L", lossless, "16000x16000");
}

// The PNM size must be read as OpenCV reads it, or the check guards another size
// than the one imdecode allocates. OpenCV ends a number with the byte after it,
// whatever it is, so a '#' right after the width starts no comment: the header
// below is 60000x60000 to OpenCV (a 10 GB buffer), and was 60000x1 to the old
// reader, which let it through. Found by the decode fuzzer (2x2 vs 2x5).
TEST(ImageDecoder, PnmHeaderIsReadAsOpenCvReadsIt) {
  const std::string hidden = "P6 60000#60000\n1 255\n....";
  expect_refused_from_header("P6 with '#' after the width", {hidden.begin(), hidden.end()},
                             "60000x60000");
  struct Case {
    std::string header;
    int width, height;
  };
  const Case cases[] = {{"P5\n2# 3\n255\n", 2, 3},
                        {"P5 2\t3#\n255\n", 2, 3},
                        {"P5 #c\r2 #c\n3 255 ", 2, 3},
                        {"P5\n#\n#\n4\n\n5\n255\n", 4, 5},
                        {"P5 7x9 255 ", 7, 9}};
  for (const Case& c : cases) {
    std::vector<uint8_t> bytes(c.header.begin(), c.header.end());
    bytes.resize(bytes.size() + size_t(c.width) * c.height, 0x80);
    int w = 0, h = 0;
    ASSERT_TRUE(read_image_size(bytes.data(), bytes.size(), w, h)) << c.header;
    EXPECT_EQ(w, c.width) << c.header;
    EXPECT_EQ(h, c.height) << c.header;
    Image img;
    const DecodeResult r = decode(bytes, img);
    ASSERT_TRUE(r.ok()) << c.header << ": " << r.message;
    EXPECT_EQ(img.width, c.width) << c.header;
    EXPECT_EQ(img.height, c.height) << c.header;
  }
  const std::string unseparated = "P52 3 255 ......";  // not PNM to OpenCV either
  Image img;
  EXPECT_EQ(decode({unseparated.begin(), unseparated.end()}, img).status,
            DecodeStatus::kNotAnImage);
}

TEST(ImageDecoder, TiffPnmAndWebpHeadersThatEndEarlyAreTruncated) {
  Image img;
  const std::string pnm = "P6\n61 4";
  EXPECT_EQ(decode({pnm.begin(), pnm.end()}, img).status, DecodeStatus::kTruncated);
  auto tiff = tiff_header(true, 4, 61, 47);
  tiff.resize(20);
  EXPECT_EQ(decode(tiff, img).status, DecodeStatus::kTruncated);
  auto webp = webp_vp8x(61, 47);
  webp.resize(24);
  EXPECT_EQ(decode(webp, img).status, DecodeStatus::kTruncated);
}

}  // namespace
}  // namespace sluice::data

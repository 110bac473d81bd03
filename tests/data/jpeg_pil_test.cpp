// What PIL decodes, sluice decodes, bit-identical. PIL (Debian's python3-pil,
// the library behind Keras' load_img) links the same libjpeg-turbo 2.1.5 and
// ignores libjpeg's warnings; sluice must keep those images too:
//   - generated files of each kind libjpeg only warns about (junk bytes before a
//     marker, a scan cut short by the next marker, progressive or baseline) and a
//     CMYK JPEG whose sampling factors TurboJPEG's header call refuses;
//   - every JPEG of ../shared/data/jpeg-corpus/ (skipped when absent).
// The pixels are compared with PIL's where python3-pil is installed.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <jpeglib.h>

#include "stages/data/jpeg_decoder.h"

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

constexpr int kW = 64, kH = 48;

std::vector<uint8_t> pattern(int channels) {
  std::vector<uint8_t> px(static_cast<size_t>(kW) * kH * channels);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>((i * 7919) % 251);
  return px;
}

std::vector<uint8_t> tj_encode(int flags) {
  const auto rgb = pattern(3);
  tjhandle h = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(h, rgb.data(), kW, 0, kH, TJPF_RGB, &buf, &size, TJSAMP_420, 90, flags), 0);
  std::vector<uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

// A CMYK JPEG through libjpeg's API with the given (h, v) sampling factors per
// component.
std::vector<uint8_t> cmyk_jpeg(const int (&factors)[4][2]) {
  jpeg_compress_struct info;
  jpeg_error_mgr err;
  info.err = jpeg_std_error(&err);
  jpeg_create_compress(&info);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buf, &size);
  info.image_width = kW;
  info.image_height = kH;
  info.input_components = 4;
  info.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 90, TRUE);
  for (int c = 0; c < 4; ++c) {
    info.comp_info[c].h_samp_factor = factors[c][0];
    info.comp_info[c].v_samp_factor = factors[c][1];
  }
  jpeg_start_compress(&info, TRUE);
  auto px = pattern(4);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = px.data() + info.next_scanline * kW * 4;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

// The bytes up to `fraction` of the file, then an end marker: the scan under way
// is cut short by the next marker ("Corrupt JPEG data: premature end of data
// segment"), the file itself is complete.
std::vector<uint8_t> scan_cut_short(std::vector<uint8_t> jpeg, double fraction) {
  jpeg.resize(static_cast<size_t>(jpeg.size() * fraction));
  jpeg.insert(jpeg.end(), {0xFF, 0xD9});
  return jpeg;
}

// Junk bytes before the first DHT marker ("Corrupt JPEG data: 3 extraneous bytes
// before marker 0xc4").
std::vector<uint8_t> junk_before_marker(std::vector<uint8_t> jpeg) {
  for (size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) {
      jpeg.insert(jpeg.begin() + static_cast<long>(i), {0x12, 0x34, 0x56});
      return jpeg;
    }
  }
  ADD_FAILURE() << "no DHT marker";
  return jpeg;
}

// The file without its end marker, then `tail`.
std::vector<uint8_t> without_end_marker(std::vector<uint8_t> jpeg,
                                        std::initializer_list<uint8_t> tail = {}) {
  EXPECT_EQ(jpeg[jpeg.size() - 1], 0xD9);
  jpeg.resize(jpeg.size() - 2);
  jpeg.insert(jpeg.end(), tail);
  return jpeg;
}

struct PilImage {
  bool ok = false;
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// PIL's decode of each file (tests/data/pil_decode.py); nullopt when PIL is not
// installed.
std::optional<std::vector<PilImage>> pil_decode(const std::vector<std::string>& files) {
  const fs::path out = fs::temp_directory_path() / ("sluice_pil_" + std::to_string(::getpid()));
  fs::create_directories(out);
  std::string cmd = std::string(PYTHON3_EXECUTABLE) + " " +
                    quoted(SLUICE_SOURCE_DIR "/tests/data/pil_decode.py") + " " +
                    quoted(out.string());
  for (const auto& f : files) cmd += " " + quoted(f);
  std::vector<PilImage> images(files.size());
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  char line[256];
  while (std::fgets(line, sizeof line, pipe)) {
    std::istringstream in(line);
    size_t i = 0;
    std::string status;
    in >> i >> status;
    if (status != "ok" || i >= images.size()) continue;
    PilImage& im = images[i];
    in >> im.width >> im.height;
    std::ifstream f(out / (std::to_string(i) + ".rgb"), std::ios::binary);
    im.rgb.assign(std::istreambuf_iterator<char>(f), {});
    im.ok = true;
  }
  const int status = ::pclose(pipe);
  fs::remove_all(out);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return std::nullopt;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  return images;
}

std::vector<uint8_t> cut_at(const std::vector<uint8_t>& jpeg, double fraction) {
  return {jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() * fraction)};
}

std::vector<uint8_t> pixels_of(const Image& img) {
  return {img.pixels.get(), img.pixels.get() + img.bytes()};
}

struct Kind {
  std::string name;
  std::vector<uint8_t> bytes;
  bool warns;  // decoded with a libjpeg warning
};

std::vector<Kind> generated_kinds() {
  const auto progressive = tj_encode(TJFLAG_PROGRESSIVE);
  const auto baseline = tj_encode(0);
  const int odd[4][2] = {{2, 1}, {1, 1}, {1, 1}, {1, 2}};
  return {{"progressive scan cut short at 30%", scan_cut_short(progressive, 0.3), true},
          {"progressive scan cut short at 70%", scan_cut_short(progressive, 0.7), true},
          {"baseline scan cut short at 50%", scan_cut_short(baseline, 0.5), true},
          {"junk bytes before a marker", junk_before_marker(baseline), true},
          {"progressive, junk bytes before a marker", junk_before_marker(progressive), true},
          // Every row is out before the stray marker: PIL keeps the image.
          {"a stray SOF marker after the image", without_end_marker(baseline, {0xFF, 0xC9}), true},
          {"CMYK sampled 2x1,1x1,1x1,1x2", cmyk_jpeg(odd), false}};
}

TEST(JpegLikePil, TurboJpegRefusesTheOddCmykHeader) {
  // The premise of the CMYK case: the header call fails, libjpeg must step in.
  const int odd[4][2] = {{2, 1}, {1, 1}, {1, 1}, {1, 2}};
  auto jpeg = cmyk_jpeg(odd);
  tjhandle tj = tjInitDecompress();
  int w = 0, h = 0, samp = 0, cs = 0;
  EXPECT_NE(tjDecompressHeader3(tj, jpeg.data(), jpeg.size(), &w, &h, &samp, &cs), 0);
  EXPECT_NE(std::string(tjGetErrorStr2(tj)).find("subsampling"), std::string::npos);
  tjDestroy(tj);
}

TEST(JpegLikePil, EachWarningKindDecodesWithTheWarningReported) {
  for (const Kind& k : generated_kinds()) {
    for (bool fast_dct : {false, true}) {
      Image img;
      DecodeOptions o;
      o.fast_dct = fast_dct;
      const DecodeResult r = decode_image(k.bytes.data(), k.bytes.size(), o, heap_buffer, img);
      ASSERT_TRUE(r.ok()) << k.name << ": " << decode_status_name(r.status) << ": " << r.message;
      EXPECT_EQ(img.width, kW) << k.name;
      EXPECT_EQ(img.height, kH) << k.name;
      EXPECT_EQ(!r.warning.empty(), k.warns) << k.name << ": " << r.warning;
      int w = 0, h = 0;
      EXPECT_TRUE(read_image_size(k.bytes.data(), k.bytes.size(), w, h)) << k.name;
      EXPECT_EQ(w, kW) << k.name;
    }
  }
}

class TempDir {
 public:
  TempDir() : dir_(fs::temp_directory_path() / ("sluice_jpeg_pil_" + std::to_string(::getpid()))) {
    fs::create_directories(dir_);
  }
  ~TempDir() { fs::remove_all(dir_); }
  std::string put(const std::string& name, const std::vector<uint8_t>& bytes) const {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  }

 private:
  fs::path dir_;
};

struct Tally {
  int pil_decoded = 0;  // files PIL decodes
  int identical = 0;    // of those, decoded by sluice with the same size and bytes
};

// Decodes each file with sluice and PIL; every file PIL decodes must come out
// the same size with the same bytes. Files PIL refuses may get any status.
Tally expect_as_pil(const std::vector<std::string>& files, const std::vector<PilImage>& pil) {
  Tally t;
  for (size_t i = 0; i < files.size(); ++i) {
    Image img;
    const DecodeResult r = decode_image_file(files[i], DecodeOptions{}, heap_buffer, img);
    if (!pil[i].ok) continue;
    ++t.pil_decoded;
    if (!r.ok()) {
      ADD_FAILURE() << files[i] << ": " << decode_status_name(r.status) << ": " << r.message;
    } else if (img.width != pil[i].width || img.height != pil[i].height) {
      ADD_FAILURE() << files[i] << ": " << img.width << "x" << img.height << ", PIL "
                    << pil[i].width << "x" << pil[i].height;
    } else if (pixels_of(img) != pil[i].rgb) {
      ADD_FAILURE() << files[i] << ": pixels differ from PIL's";
    } else {
      ++t.identical;
    }
  }
  return t;
}

TEST(JpegLikePil, GeneratedKindsAreBitIdenticalToPil) {
  TempDir dir;
  std::vector<std::string> files;
  const auto kinds = generated_kinds();
  for (size_t i = 0; i < kinds.size(); ++i) {
    files.push_back(dir.put("kind" + std::to_string(i) + ".jpg", kinds[i].bytes));
  }
  const auto pil = pil_decode(files);
  if (!pil) GTEST_SKIP() << "python3-pil is not installed";
  for (size_t i = 0; i < kinds.size(); ++i) EXPECT_TRUE((*pil)[i].ok) << kinds[i].name;
  EXPECT_EQ(expect_as_pil(files, *pil).identical, static_cast<int>(kinds.size()));
}

// The data ends before the last row is out (libjpeg: "Premature end of JPEG
// file"): PIL says "image file is truncated", even where another warning comes
// first; so does sluice. A progressive file is read whole before its first row,
// and libjpeg reads ahead for a baseline file's last row, so a file without its
// end marker is one of them.
std::vector<Kind> truncated_kinds() {
  const auto progressive = tj_encode(TJFLAG_PROGRESSIVE);
  const auto baseline = tj_encode(0);
  return {{"progressive cut at 70%", cut_at(progressive, 0.7), false},
          {"baseline cut at 70%", cut_at(baseline, 0.7), false},
          {"junk before a marker, cut at 70%", cut_at(junk_before_marker(progressive), 0.7), false},
          {"progressive without its end marker", without_end_marker(progressive), false},
          {"baseline without its end marker", without_end_marker(baseline), false}};
}

TEST(JpegLikePil, DataEndingBeforeTheLastRowIsTruncatedForPilAndSluice) {
  TempDir dir;
  std::vector<std::string> files;
  const auto kinds = truncated_kinds();
  for (size_t i = 0; i < kinds.size(); ++i) {
    files.push_back(dir.put("cut" + std::to_string(i) + ".jpg", kinds[i].bytes));
    Image img;
    const DecodeResult r = decode_image_file(files.back(), DecodeOptions{}, heap_buffer, img);
    EXPECT_EQ(r.status, DecodeStatus::kTruncated) << kinds[i].name << ": " << r.message;
  }
  const auto pil = pil_decode(files);
  if (!pil) GTEST_SKIP() << "python3-pil is not installed";
  for (size_t i = 0; i < kinds.size(); ++i) EXPECT_FALSE((*pil)[i].ok) << kinds[i].name;
}

fs::path corpus_dir() {
  if (const char* env = std::getenv("SLUICE_JPEG_CORPUS")) return env;
  return fs::path(SLUICE_SOURCE_DIR) / ".." / "shared" / "data" / "jpeg-corpus";
}

TEST(JpegLikePil, CorpusFilesPilDecodesAreBitIdentical) {
  const fs::path root = corpus_dir();
  if (!fs::is_directory(root)) GTEST_SKIP() << root << " is absent";
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg"))
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << root;
  const auto pil = pil_decode(files);
  if (!pil) GTEST_SKIP() << "python3-pil is not installed";
  std::vector<std::string> outside, crashtest;  // crashtest/: malformed files
  std::vector<PilImage> pil_outside, pil_crashtest;
  for (size_t i = 0; i < files.size(); ++i) {
    const bool crash = files[i].find("/crashtest/") != std::string::npos;
    (crash ? crashtest : outside).push_back(files[i]);
    (crash ? pil_crashtest : pil_outside).push_back((*pil)[i]);
  }
  const Tally good = expect_as_pil(outside, pil_outside);
  const Tally bad = expect_as_pil(crashtest, pil_crashtest);
  std::cout << "outside crashtest/: " << good.identical << " of " << outside.size()
            << " JPEGs bit-identical to PIL (PIL decodes " << good.pil_decoded
            << "); crashtest/: " << bad.identical << " of " << crashtest.size() << " (PIL decodes "
            << bad.pil_decoded << ")\n";
  EXPECT_GT(good.pil_decoded, 0);
}

}  // namespace
}  // namespace sluice::data

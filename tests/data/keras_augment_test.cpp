// image.augment's transforms against Keras itself: tests/data/keras_augment.py
// runs keras_preprocessing 1.1's ImageDataGenerator.apply_transform (Debian's
// python3-keras-preprocessing; the "legacy" convention) and Keras >= 2.9's
// apply_transform rebuilt from its parts (the "2.9" convention: the same
// matrices, rows and columns swapped), on a test pattern, for each transform
// alone and combined, in each fill mode. Skipped when the package is missing.
//
// Tolerance: 1 grey level for the geometric transforms and the channel shift
// (bilinear weights in 11-bit fixed point, uint8 rounding), also for a
// brightness f <= 1; 2 for f > 1, where Keras truncates its float warp before
// multiplying and sluice multiplies its rounded uint8 warp. Measured: exactly
// these worst cases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stages/data/affine_warp.h"

namespace sluice::data {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> pattern(int h, int w, int ch) {
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * ch);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) {
        const int v = (c == 0)   ? 7 * x + 2 * y
                      : (c == 1) ? 5 * y + ((x / 4 + y / 4) % 2) * 60
                                 : 230 - 4 * x - 3 * y;
        // Kept inside [20, 220] so that brightness and channel shifts clip.
        px[(static_cast<size_t>(y) * w + x) * ch + c] =
            static_cast<uint8_t>(20 + (((v % 201) + 201) % 201));
      }
  return px;
}

struct Case {
  KerasConvention convention;
  KerasTransform t;
  FillMode fill = FillMode::kNearest;
  uint8_t cval = 0;
};

std::string json_case(const Case& k) {
  std::ostringstream o;
  o.precision(17);
  o << "{\"convention\": \"" << keras_convention_name(k.convention)
    << "\", \"theta\": " << k.t.theta_deg << ", \"tx\": " << k.t.tx << ", \"ty\": " << k.t.ty
    << ", \"shear\": " << k.t.shear_deg << ", \"zx\": " << k.t.zx << ", \"zy\": " << k.t.zy
    << ", \"flip_horizontal\": " << (k.t.flip ? "true" : "false")
    << ", \"flip_vertical\": " << (k.t.flip_v ? "true" : "false")
    << ", \"channel_shift_intensity\": ";
  if (k.t.channel_shift_on) {
    o << k.t.channel_shift;
  } else {
    o << "null";
  }
  o << ", \"brightness\": ";
  if (k.t.brightness != 0.0) {
    o << k.t.brightness;
  } else {
    o << "null";
  }
  o << ", \"fill_mode\": \"" << fill_mode_name(k.fill) << "\", \"cval\": " << int(k.cval) << "}";
  return o.str();
}

// Keras' results for `cases` on `src`, or an empty vector when the reference
// cannot run (python3-keras-preprocessing or python3-scipy missing).
std::vector<std::vector<double>> keras_results(const std::vector<uint8_t>& src, int h, int w,
                                               int ch, const std::vector<Case>& cases) {
  const fs::path dir =
      fs::temp_directory_path() / ("sluice_keras_augment_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "image.raw", std::ios::binary)
      .write(reinterpret_cast<const char*>(src.data()), static_cast<std::streamsize>(src.size()));
  {
    std::ofstream spec(dir / "cases.json");
    spec << "{\"image\": \"" << (dir / "image.raw").string() << "\", \"h\": " << h
         << ", \"w\": " << w << ", \"ch\": " << ch << ", \"cases\": [";
    for (size_t i = 0; i < cases.size(); ++i) spec << (i ? ", " : "") << json_case(cases[i]);
    spec << "]}";
  }
  const std::string cmd = std::string(PYTHON3_EXECUTABLE) + " '" + SLUICE_SOURCE_DIR +
                          "/tests/data/keras_augment.py' '" + (dir / "cases.json").string() +
                          "' '" + dir.string() + "'";
  std::vector<std::vector<double>> out;
  if (std::system(cmd.c_str()) == 0) {
    for (size_t i = 0; i < cases.size(); ++i) {
      std::vector<double> v(src.size());
      std::ifstream in(dir / (std::to_string(i) + ".f64"), std::ios::binary);
      in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
      if (!in) ADD_FAILURE() << "no Keras result for case " << i;
      out.push_back(std::move(v));
    }
  }
  fs::remove_all(dir);
  return out;
}

std::vector<uint8_t> sluice_result(const std::vector<uint8_t>& src, int h, int w, int ch,
                                   const Case& k) {
  std::vector<uint8_t> dst(src.size(), 77);
  const ImageSpan span{dst.data(), w, h, ch, static_cast<ptrdiff_t>(w) * ch};
  warp_affine({src.data(), w, h, ch, static_cast<ptrdiff_t>(w) * ch},
              keras_inverse_map(k.t, w, h, w, h, k.convention), k.fill, k.cval, span);
  apply_intensity(k.t, k.convention, span);
  return dst;
}

KerasTransform make(double theta, double tx, double ty, double shear, double zx, double zy,
                    bool fh = false, bool fv = false) {
  KerasTransform t;
  t.theta_deg = theta;
  t.tx = tx;
  t.ty = ty;
  t.shear_deg = shear;
  t.zx = zx;
  t.zy = zy;
  t.flip = fh;
  t.flip_v = fv;
  return t;
}

KerasTransform with_intensity(KerasTransform t, bool shift_on, double shift, double brightness) {
  t.channel_shift_on = shift_on;
  t.channel_shift = shift;
  t.brightness = brightness;
  return t;
}

// The transforms one at a time and combined, in every fill mode.
std::vector<Case> cases_for(KerasConvention conv) {
  const std::vector<KerasTransform> geometric = {make(25, 0, 0, 0, 1, 1),
                                                 make(-70, 0, 0, 0, 1, 1),
                                                 make(0, 6.5, 0, 0, 1, 1),
                                                 make(0, 0, -9.25, 0, 1, 1),
                                                 make(0, 0, 0, 0, 1, 1, false, true),
                                                 make(0, 0, 0, 18, 1, 1),
                                                 make(0, 0, 0, 0, 0.7, 1.3),
                                                 make(0, 0, 0, -30, 1.2, 0.85, true),
                                                 make(33, -4, 7.5, 12, 0.9, 1.15, true, true)};
  std::vector<Case> cases;
  for (FillMode fill :
       {FillMode::kNearest, FillMode::kConstant, FillMode::kReflect, FillMode::kWrap}) {
    for (const KerasTransform& t : geometric) cases.push_back({conv, t, fill, 140});
  }
  const KerasTransform combo = make(-15, 3, -5, 10, 1.1, 0.9, true, false);
  for (const auto& [on, shift, bright] :
       std::vector<std::tuple<bool, double, double>>{{true, 37.5, 0.0},
                                                     {true, -52.0, 0.0},
                                                     {false, 0.0, 0.6},
                                                     {false, 0.0, 1.35},
                                                     {true, 25.0, 1.2}}) {
    cases.push_back({conv, with_intensity(make(0, 0, 0, 0, 1, 1), on, shift, bright)});
    cases.push_back({conv, with_intensity(combo, on, shift, bright), FillMode::kConstant, 9});
  }
  return cases;
}

void expect_matches_keras(KerasConvention conv, int h, int w) {
  const int ch = 3;
  const auto src = pattern(h, w, ch);
  const std::vector<Case> cases = cases_for(conv);
  const auto ref = keras_results(src, h, w, ch, cases);
  if (ref.empty()) GTEST_SKIP() << "python3-keras-preprocessing (or python3-scipy) is missing";
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    const auto got = sluice_result(src, h, w, ch, k);
    const int tolerance = k.t.brightness > 1.0 ? 2 : 1;
    int worst = 0;
    size_t at = 0;
    for (size_t j = 0; j < got.size(); ++j) {
      const int d = std::abs(int(got[j]) - static_cast<int>(std::lround(ref[i][j])));
      if (d > worst) {
        worst = d;
        at = j;
      }
    }
    EXPECT_LE(worst, tolerance) << keras_convention_name(conv) << " case " << i << " "
                                << json_case(k) << ": pixel (" << at / ch % w << ", " << at / ch / w
                                << ") got " << int(got[at]) << ", Keras " << ref[i][at];
  }
}

// keras_preprocessing 1.1 centres each axis on its own extent, so a non-square
// image matches too.
TEST(KerasAugment, LegacyMatchesKerasPreprocessing) {
  expect_matches_keras(KerasConvention::kLegacy, 36, 44);
}

// Keras >= 2.9 centres non-square images with the extents swapped (sluice does
// not), so the comparison is on a square image.
TEST(KerasAugment, Keras29Matches) { expect_matches_keras(KerasConvention::k2_9, 40, 40); }

// The two conventions differ on a shear, an anisotropic zoom and the shifts, and
// (1.1 centres on n/2 + 0.5, 2.9 on n/2 - 0.5) by a pixel on an isotropic zoom;
// the flips alone agree.
TEST(KerasAugment, ConventionsDifferOnlyByTheSwap) {
  const int n = 32, ch = 3;
  const auto src = pattern(n, n, ch);
  auto both_equal = [&](const KerasTransform& t) {
    return sluice_result(src, n, n, ch, {KerasConvention::k2_9, t}) ==
           sluice_result(src, n, n, ch, {KerasConvention::kLegacy, t});
  };
  EXPECT_FALSE(both_equal(make(0, 0, 0, 12, 1, 1)));
  EXPECT_FALSE(both_equal(make(0, 0, 0, 0, 0.8, 1.2)));
  EXPECT_FALSE(both_equal(make(0, 5, 0, 0, 1, 1)));
  EXPECT_FALSE(both_equal(make(0, 0, 0, 0, 1.25, 1.25)));
  EXPECT_TRUE(both_equal(make(0, 0, 0, 0, 1, 1, true, true)));
}

}  // namespace
}  // namespace sluice::data

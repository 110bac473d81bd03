// Checks the warp against an independent transcription of what Keras does:
// keras.preprocessing.image.apply_affine_transform (Keras >= 2.9) building 3x3
// matrices, transform_matrix_offset_center, the row/column swap, then
// scipy.ndimage.affine_transform(order=1) per channel (map_coordinate and the
// spline boundary taps of ni_interpolation.c), then flip_axis on columns.
#include "stages/data/affine_warp.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace sluice::data {
namespace {

using Mat3 = std::array<std::array<double, 3>, 3>;

Mat3 matmul(const Mat3& a, const Mat3& b) {
  Mat3 c{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i][j] += a[i][k] * b[k][j];
  return c;
}

enum Mode { kConstant, kNearest, kReflect, kWrap, kMirror };

// scipy/ndimage/src/ni_interpolation.c: map_coordinate.
double map_coordinate(double in, long len, Mode mode) {
  if (in < 0) {
    switch (mode) {
      case kMirror:
        if (len <= 1) return 0;
        {
          long sz2 = 2 * len - 2;
          in = sz2 * (long)(-in / sz2) + in;
          in = in <= 1 - len ? in + sz2 : -in;
        }
        return in;
      case kReflect:
        if (len <= 1) return 0;
        {
          long sz2 = 2 * len;
          if (in < -sz2) in = sz2 * (long)(-in / sz2) + in;
          in = in < -len ? in + sz2 : (in > -1e-15 ? 1e-15 : -in) - 1;
        }
        return in;
      case kWrap:
        if (len <= 1) return 0;
        {
          long sz = len - 1;
          in += sz * ((long)(-in / sz) + 1);
        }
        return in;
      case kNearest:
        return 0;
      case kConstant:
        return -1;
    }
  } else if (in > len - 1) {
    switch (mode) {
      case kMirror:
        if (len <= 1) return 0;
        {
          long sz2 = 2 * len - 2;
          in -= sz2 * (long)(in / sz2);
          if (in >= len) in = sz2 - in;
        }
        return in;
      case kReflect:
        if (len <= 1) return 0;
        {
          long sz2 = 2 * len;
          in -= sz2 * (long)(in / sz2);
          if (in >= len) in = sz2 - in - 1;
        }
        return in;
      case kWrap:
        if (len <= 1) return 0;
        {
          long sz = len - 1;
          in -= sz * (long)(in / sz);
        }
        return in;
      case kNearest:
        return len - 1;
      case kConstant:
        return -1;
    }
  }
  return in;
}

Mode spline_mode(Mode m) { return (m == kConstant || m == kWrap) ? kMirror : m; }

// scipy.ndimage.affine_transform(x, matrix, offset, order=1, mode, cval) on one
// channel, 2-D, output shape = input shape.
std::vector<double> scipy_affine(const std::vector<double>& in, int rows, int cols,
                                 const double matrix[2][2], const double offset[2], Mode mode,
                                 double cval) {
  std::vector<double> out(in.size());
  const long dims[2] = {rows, cols};
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      const double oc[2] = {double(i), double(j)};
      long taps[2][2];
      double w[2][2];
      bool constant = false;
      for (int h = 0; h < 2; ++h) {
        double cc = matrix[h][0] * oc[0] + matrix[h][1] * oc[1] + offset[h];
        cc = map_coordinate(cc, dims[h], mode);
        if (cc > -1.0 || mode == kNearest) {
          long start = (long)std::floor(cc);
          for (int l = 0; l < 2; ++l) {
            long idx = start + l;
            if (start < 0 || start + 1 >= dims[h]) {
              idx = (long)map_coordinate((double)idx, dims[h], spline_mode(mode));
            }
            taps[h][l] = idx;
          }
          const double t = cc - start;
          w[h][0] = 1.0 - t;
          w[h][1] = t;
        } else {
          constant = true;
          break;
        }
      }
      if (constant) {
        out[i * cols + j] = cval;
        continue;
      }
      double v = 0;
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) v += w[0][a] * w[1][b] * in[taps[0][a] * cols + taps[1][b]];
      out[i * cols + j] = v;
    }
  }
  return out;
}

// keras.preprocessing.image.apply_affine_transform(x, shear=, zx=, zy=, fill_mode=,
// cval=, order=1) with channels last, then flip_axis(x, 1) when flipping.
std::vector<double> keras_reference(const std::vector<uint8_t>& img, int h, int w, int ch,
                                    double shear_deg, double zx, double zy, bool flip, Mode mode,
                                    double cval) {
  Mat3 m = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  bool any = false;
  if (shear_deg != 0) {
    const double s = shear_deg * M_PI / 180.0;
    m = Mat3{{{1, -std::sin(s), 0}, {0, std::cos(s), 0}, {0, 0, 1}}};
    any = true;
  }
  if (zx != 1 || zy != 1) {
    const Mat3 z = {{{zx, 0, 0}, {0, zy, 0}, {0, 0, 1}}};
    m = any ? matmul(m, z) : z;
    any = true;
  }
  // transform_matrix_offset_center(m, h, w)
  const double o_x = double(h) / 2 - 0.5, o_y = double(w) / 2 - 0.5;
  const Mat3 off = {{{1, 0, o_x}, {0, 1, o_y}, {0, 0, 1}}};
  const Mat3 reset = {{{1, 0, -o_x}, {0, 1, -o_y}, {0, 0, 1}}};
  m = matmul(matmul(off, m), reset);
  // col_axis > row_axis: swap columns 0/1, then rows 0/1.
  for (auto& row : m) std::swap(row[0], row[1]);
  std::swap(m[0], m[1]);
  const double matrix[2][2] = {{m[0][0], m[0][1]}, {m[1][0], m[1][1]}};
  const double offset[2] = {m[0][2], m[1][2]};
  std::vector<double> out(img.size());
  for (int c = 0; c < ch; ++c) {
    std::vector<double> plane(h * w);
    for (int i = 0; i < h * w; ++i) plane[i] = img[i * ch + c];
    const auto warped = any ? scipy_affine(plane, h, w, matrix, offset, mode, cval) : plane;
    for (int i = 0; i < h * w; ++i) out[i * ch + c] = warped[i];
  }
  if (flip) {
    for (int r = 0; r < h; ++r)
      for (int x = 0; x < w / 2; ++x)
        for (int c = 0; c < ch; ++c)
          std::swap(out[(r * w + x) * ch + c], out[(r * w + w - 1 - x) * ch + c]);
  }
  return out;
}

// A test pattern with edges, gradients and distinct corners.
std::vector<uint8_t> pattern(int h, int w, int ch) {
  std::vector<uint8_t> px(h * w * ch);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) {
        int v = (c == 0)   ? 7 * x + 2 * y
                : (c == 1) ? 5 * y + ((x / 4 + y / 4) % 2) * 60
                           : 250 - 4 * x - 3 * y;
        px[(y * w + x) * ch + c] = static_cast<uint8_t>(((v % 256) + 256) % 256);
      }
  return px;
}

struct Case {
  double shear, zx, zy;
  bool flip;
};

void expect_matches_keras(FillMode mode, Mode ref_mode, uint8_t cval) {
  const int n = 40, ch = 3;
  const auto src = pattern(n, n, ch);
  const Case cases[] = {{0, 1, 1, false},      {20, 1, 1, false},    {-35, 1, 1, true},
                        {0, 0.7, 1.3, false},  {0, 1.45, 0.8, true}, {15, 1.3, 1.2, false},
                        {-25, 0.6, 1.6, true}, {0, 1, 1, true},      {44, 2.5, 2.2, false}};
  for (const Case& k : cases) {
    const auto ref = keras_reference(src, n, n, ch, k.shear, k.zx, k.zy, k.flip, ref_mode, cval);
    std::vector<uint8_t> dst(src.size(), 77);
    KerasTransform t{k.shear, k.zx, k.zy, k.flip};
    warp_affine({src.data(), n, n, ch, n * ch}, keras_inverse_map(t, n, n, n, n), mode, cval,
                {dst.data(), n, n, ch, n * ch});
    int worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < dst.size(); ++i) {
      const int expected = static_cast<int>(std::lround(ref[i]));
      const int d = std::abs(int(dst[i]) - expected);
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    EXPECT_LE(worst, 1) << fill_mode_name(mode) << " shear " << k.shear << " zoom " << k.zx << ","
                        << k.zy << " flip " << k.flip << ": pixel " << at / ch % n << ","
                        << at / ch / n << " got " << int(dst[at]) << " expected " << ref[at];
  }
}

TEST(AffineWarp, MatchesKerasNearest) { expect_matches_keras(FillMode::kNearest, kNearest, 0); }
TEST(AffineWarp, MatchesKerasConstant) {
  expect_matches_keras(FillMode::kConstant, kConstant, 200);
}
TEST(AffineWarp, MatchesKerasReflect) { expect_matches_keras(FillMode::kReflect, kReflect, 0); }
TEST(AffineWarp, MatchesKerasWrap) { expect_matches_keras(FillMode::kWrap, kWrap, 0); }

TEST(AffineWarp, IdentityIsExactAndFlipMirrors) {
  const int w = 33, h = 21;
  const auto src = pattern(h, w, 3);
  std::vector<uint8_t> dst(src.size());
  warp_affine({src.data(), w, h, 3, w * 3}, keras_inverse_map({}, w, h, w, h), FillMode::kConstant,
              0, {dst.data(), w, h, 3, w * 3});
  EXPECT_EQ(dst, src);
  KerasTransform flip;
  flip.flip = true;
  warp_affine({src.data(), w, h, 3, w * 3}, keras_inverse_map(flip, w, h, w, h),
              FillMode::kConstant, 0, {dst.data(), w, h, 3, w * 3});
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(dst[(y * w + x) * 3 + c], src[(y * w + w - 1 - x) * 3 + c]);
}

TEST(AffineWarp, ResizeAlignsPixelCentres) {
  // Upscaling a constant image stays constant; upscaling a 2x1 ramp by 4 follows
  // the half-pixel-centre bilinear rule (like cv::resize INTER_LINEAR).
  const uint8_t src[2] = {0, 200};
  uint8_t dst[8];
  warp_affine({src, 2, 1, 1, 2}, keras_inverse_map({}, 2, 1, 8, 1), FillMode::kNearest, 0,
              {dst, 8, 1, 1, 8});
  const uint8_t expected[8] = {0, 0, 25, 75, 125, 175, 200, 200};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dst[i], expected[i]) << i;
}

TEST(AffineWarp, WritesIntoAStridedSlot) {
  const auto src = pattern(10, 10, 3);
  std::vector<uint8_t> batch(2 * 6 * 6 * 3, 0);
  warp_affine({src.data(), 10, 10, 3, 30}, keras_inverse_map({}, 10, 10, 6, 6), FillMode::kNearest,
              0, {batch.data() + 6 * 6 * 3, 6, 6, 3, 18});
  for (int i = 0; i < 6 * 6 * 3; ++i) EXPECT_EQ(batch[i], 0);
}

TEST(AffineWarp, SampledParametersFollowKerasRanges) {
  AugmentRanges r;
  r.shear = 10;
  r.zoom_lo = 0.8;
  r.zoom_hi = 1.2;
  r.flip = true;
  int flips = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    CounterRng rng(5, 0, i);
    const KerasTransform t = sample_transform(r, rng);
    EXPECT_GE(t.shear_deg, -10);
    EXPECT_LE(t.shear_deg, 10);
    EXPECT_GE(t.zx, 0.8);
    EXPECT_LE(t.zx, 1.2);
    EXPECT_GE(t.zy, 0.8);
    EXPECT_LE(t.zy, 1.2);
    flips += t.flip;
    CounterRng again(5, 0, i);
    const KerasTransform u = sample_transform(r, again);
    EXPECT_EQ(t.shear_deg, u.shear_deg);
    EXPECT_EQ(t.zx, u.zx);
  }
  EXPECT_NEAR(flips, 1000, 120);
  CounterRng rng(1, 2, 3);
  const KerasTransform none = sample_transform(AugmentRanges{}, rng);
  EXPECT_EQ(none.shear_deg, 0);
  EXPECT_EQ(none.zx, 1);
  EXPECT_FALSE(none.flip);
}

// The other ranges, drawn in Keras' order: a shift below 1 is a fraction of the
// target (tx of the height, ty of the width, as Keras names them), from 1 on
// pixels; each transform draws only when its range is on.
TEST(AffineWarp, SampledRotationShiftsAndIntensitiesFollowKerasRanges) {
  AugmentRanges r;
  r.rotation = 30;
  r.height_shift = 0.25;
  r.width_shift = 6;
  r.flip_v = true;
  r.channel_shift = 20;
  r.brightness_lo = 0.5;
  r.brightness_hi = 1.5;
  int flips = 0;
  double max_tx = 0, max_ty = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    CounterRng rng(9, 1, i);
    const KerasTransform t = sample_transform(r, rng, 64, 40);
    EXPECT_LE(std::abs(t.theta_deg), 30);
    EXPECT_LE(std::abs(t.tx), 0.25 * 40);
    EXPECT_LE(std::abs(t.ty), 6);
    EXPECT_TRUE(t.channel_shift_on);
    EXPECT_LE(std::abs(t.channel_shift), 20);
    EXPECT_GE(t.brightness, 0.5);
    EXPECT_LE(t.brightness, 1.5);
    EXPECT_FALSE(t.flip);
    EXPECT_EQ(t.shear_deg, 0);
    max_tx = std::max(max_tx, std::abs(t.tx));
    max_ty = std::max(max_ty, std::abs(t.ty));
    flips += t.flip_v;
  }
  EXPECT_GT(max_tx, 9.5);  // fractions of the height 40, not of the width 64
  EXPECT_GT(max_ty, 5.8);  // pixels
  EXPECT_NEAR(flips, 1000, 120);
  // Keras' order: theta is the first number drawn, then tx.
  CounterRng a(3, 0, 7), b(3, 0, 7);
  AugmentRanges only_rotation;
  only_rotation.rotation = 10;
  const double u = a.uniform(-10, 10);
  EXPECT_EQ(sample_transform(only_rotation, b).theta_deg, u);
  AugmentRanges rotation_and_shift = only_rotation;
  rotation_and_shift.height_shift = 3;
  CounterRng c(3, 0, 7);
  const KerasTransform t = sample_transform(rotation_and_shift, c, 10, 10);
  EXPECT_EQ(t.theta_deg, u);
  EXPECT_EQ(t.tx, a.uniform(-3, 3));
  // All off: nothing drawn, no intensity pass.
  CounterRng d(1, 2, 3);
  const KerasTransform none = sample_transform(AugmentRanges{}, d);
  EXPECT_FALSE(none.channel_shift_on);
  EXPECT_EQ(none.brightness, 0);
  EXPECT_EQ(none.theta_deg, 0);
}

// Brightness as PIL's ImageEnhance.Brightness computes it (f * v in float,
// truncated, clipped to 255), on every byte value and at every offset of a row
// (the 16-byte SIMD body and its scalar tail).
TEST(AffineWarp, BrightnessTruncatesAndClipsAsPil) {
  const int w = 91, h = 3;
  std::vector<uint8_t> src(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7 % 256);
  for (const double f : {0.3, 0.8, 1.0, 1.37, 2.5}) {
    std::vector<uint8_t> img = src;
    KerasTransform t;
    t.brightness = f;
    apply_intensity(t, KerasConvention::k2_9, {img.data(), w, h, 3, w * 3});
    for (size_t i = 0; i < img.size(); ++i) {
      const float z = static_cast<float>(f) * static_cast<float>(src[i]);
      ASSERT_EQ(img[i], z >= 255.0f ? 255 : static_cast<int>(z)) << "f " << f << " byte " << i;
    }
  }
}

// A NaN, infinite or absurdly large shear or zoom used to reach the int
// conversions as INT_MIN (reading far outside the source); the warp now refuses
// such a map before touching a pixel, in every fill mode.
TEST(AffineWarp, RefusesNonFiniteOrHugeMaps) {
  const int w = 16, h = 12;
  const auto src = pattern(h, w, 3);
  std::vector<uint8_t> dst(static_cast<size_t>(w) * h * 3, 7);
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<KerasTransform> bad;
  for (double v : {nan, inf, -inf, 1e308}) {
    bad.push_back({v, 1.0, 1.0, false});  // shear
    bad.push_back({0.0, v, 1.0, false});  // zx
    bad.push_back({0.0, 1.0, v, true});   // zy
  }
  for (FillMode mode :
       {FillMode::kNearest, FillMode::kConstant, FillMode::kReflect, FillMode::kWrap}) {
    for (const KerasTransform& t : bad) {
      EXPECT_THROW(warp_affine({src.data(), w, h, 3, w * 3}, keras_inverse_map(t, w, h, w, h), mode,
                               0, {dst.data(), w, h, 3, w * 3}),
                   std::invalid_argument)
          << fill_mode_name(mode) << " shear " << t.shear_deg << " zoom " << t.zx << "," << t.zy;
    }
    InverseAffine m;
    m.ty = nan;
    EXPECT_THROW(
        warp_affine({src.data(), w, h, 3, w * 3}, m, mode, 0, {dst.data(), w, h, 3, w * 3}),
        std::invalid_argument);
  }
  EXPECT_EQ(dst, std::vector<uint8_t>(dst.size(), 7)) << "a refused warp wrote pixels";
}

// The extremes the stage allows still warp: shear 90 degrees, zoom 10 and a
// tiny zoom, in every fill mode.
TEST(AffineWarp, WarpsAtTheEdgesOfTheAllowedRanges) {
  const int w = 16, h = 12;
  const auto src = pattern(h, w, 3);
  std::vector<uint8_t> dst(static_cast<size_t>(w) * h * 3);
  for (FillMode mode :
       {FillMode::kNearest, FillMode::kConstant, FillMode::kReflect, FillMode::kWrap}) {
    for (const KerasTransform& t :
         {KerasTransform{90.0, 10.0, 10.0, true}, KerasTransform{-90.0, 1e-9, 10.0, false},
          KerasTransform{45.0, 10.0, 1e-9, true}}) {
      EXPECT_NO_THROW(warp_affine({src.data(), w, h, 3, w * 3}, keras_inverse_map(t, w, h, w, h),
                                  mode, 9, {dst.data(), w, h, 3, w * 3}))
          << fill_mode_name(mode) << " shear " << t.shear_deg;
    }
  }
}

TEST(AffineWarp, FillModeNames) {
  FillMode m;
  EXPECT_TRUE(parse_fill_mode("reflect", m));
  EXPECT_EQ(m, FillMode::kReflect);
  EXPECT_FALSE(parse_fill_mode("mirror", m));
}

}  // namespace
}  // namespace sluice::data

#include "stages/data/affine_warp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace sluice::data {
namespace {

constexpr int kWeightBits = 11;
constexpr int kOne = 1 << kWeightBits;
constexpr int kShift = 2 * kWeightBits;
constexpr uint32_t kHalf = 1u << (kShift - 1);

// The farthest a map may send an output pixel, in source pixels either way: far
// beyond any image the decoder accepts, and small enough that every integer
// conversion below (int taps, their reflections, 32.32 fixed point) is exact.
constexpr double kMaxCoordinate = 1 << 26;

// floor(x) as an int, x first clamped to +-kMaxCoordinate (NaN gives 0): never
// undefined, whatever reaches it.
int floor_to_int(double x) {
  if (!(x == x)) return 0;
  return static_cast<int>(std::floor(std::clamp(x, -kMaxCoordinate, kMaxCoordinate)));
}

// Refuses a map that is not finite or reaches beyond kMaxCoordinate anywhere on
// the output grid (an affine map is extreme at the grid's corners), so that the
// warp below only ever sees coordinates it can convert.
void check_map(const InverseAffine& m, int width, int height) {
  for (double v : {m.a, m.b, m.tx, m.d, m.e, m.ty}) {
    if (!std::isfinite(v)) {
      throw std::invalid_argument(
          "warp_affine: the transform is not finite (a NaN or infinite shear or zoom?)");
    }
  }
  for (double v : {m.a, m.b, m.d, m.e}) {
    if (std::abs(v) > kMaxCoordinate) {
      throw std::invalid_argument("warp_affine: the transform scales by " + std::to_string(v) +
                                  " (a huge shear or zoom?)");
    }
  }
  for (const double c : {0.0, std::max(width - 1, 0) * 1.0}) {
    for (const double r : {0.0, std::max(height - 1, 0) * 1.0}) {
      const double x = m.a * c + m.b * r + m.tx, y = m.d * c + m.e * r + m.ty;
      if (!(std::abs(x) <= kMaxCoordinate && std::abs(y) <= kMaxCoordinate)) {
        throw std::invalid_argument("warp_affine: the transform sends output pixel (" +
                                    std::to_string(int(c)) + ", " + std::to_string(int(r)) +
                                    ") to source (" + std::to_string(x) + ", " + std::to_string(y) +
                                    "), too far outside the image (a huge shear or zoom?)");
      }
    }
  }
}

// Where one axis coordinate samples: neighbours i0, i1 and the weight of i1 in
// 1/kOne units. `outside` means cval (constant mode only).
struct AxisTap {
  int i0 = 0;
  int i1 = 0;
  int w1 = 0;
  bool outside = false;
};

int weight_of(double frac) { return static_cast<int>(frac * kOne + 0.5); }

// scipy.ndimage's map_coordinate (ni_interpolation.c) for one continuous
// coordinate, then the two linear taps with the spline boundary mode.
AxisTap resolve_axis(double x, int n, FillMode mode) {
  AxisTap t;
  if (n <= 1) {
    if (mode == FillMode::kConstant && (x < 0.0 || x > n - 1)) t.outside = true;
    return t;
  }
  const double last = n - 1;
  switch (mode) {
    case FillMode::kConstant:
      if (x < 0.0 || x > last) {
        t.outside = true;
        return t;
      }
      break;
    case FillMode::kNearest:
      x = std::clamp(x, 0.0, last);
      break;
    case FillMode::kReflect: {
      const double sz2 = 2.0 * n;
      if (x < 0.0) {
        if (x < -sz2) x = sz2 * static_cast<double>(static_cast<int64_t>(-x / sz2)) + x;
        x = x < -n ? x + sz2 : (x > -1e-15 ? 1e-15 : -x) - 1.0;
      } else if (x > last) {
        x -= sz2 * static_cast<double>(static_cast<int64_t>(x / sz2));
        if (x >= n) x = sz2 - x - 1.0;
      }
      break;
    }
    case FillMode::kWrap: {
      const double sz = n - 1;
      if (x < 0.0) {
        x += sz * static_cast<double>(static_cast<int64_t>(-x / sz) + 1);
      } else if (x > last) {
        x -= sz * static_cast<double>(static_cast<int64_t>(x / sz));
      }
      break;
    }
  }
  const double f = std::floor(x);
  int i0 = floor_to_int(f);
  int i1 = i0 + 1;
  t.w1 = weight_of(x - f);
  // Integer taps outside the grid: reflect mode reflects them, the others
  // (nearest; constant and wrap use scipy's mirror, whose tap has weight 0 here)
  // clamp.
  if (mode == FillMode::kReflect) {
    if (i0 < 0) i0 = -i0 - 1;
    if (i1 > n - 1) i1 = 2 * n - i1 - 1;
  }
  t.i0 = std::clamp(i0, 0, n - 1);
  t.i1 = std::clamp(i1, 0, n - 1);
  return t;
}

template <int C>
inline void blend(const uint8_t* p00, const uint8_t* p01, const uint8_t* p10, const uint8_t* p11,
                  int wx, int wy, uint8_t* out, int channels) {
  const uint32_t ax = static_cast<uint32_t>(kOne - wx), bx = static_cast<uint32_t>(wx);
  const uint32_t ay = static_cast<uint32_t>(kOne - wy), by = static_cast<uint32_t>(wy);
  const int n = C > 0 ? C : channels;
  for (int ch = 0; ch < n; ++ch) {
    const uint32_t top = p00[ch] * ax + p01[ch] * bx;
    const uint32_t bottom = p10[ch] * ax + p11[ch] * bx;
    out[ch] = static_cast<uint8_t>((top * ay + bottom * by + kHalf) >> kShift);
  }
}

// One output pixel through the general path: scipy's boundary rules per axis.
template <int C>
inline void warp_pixel(const ConstImageView& src, double x, double y, FillMode fill, uint8_t cval,
                       uint8_t* out, int ch) {
  if (x >= 0.0 && x < src.width - 1 && y >= 0.0 && y < src.height - 1) {
    const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
    const uint8_t* p = src.data + y0 * src.stride + x0 * ch;
    blend<C>(p, p + ch, p + src.stride, p + src.stride + ch, weight_of(x - x0), weight_of(y - y0),
             out, ch);
    return;
  }
  const AxisTap tx = resolve_axis(x, src.width, fill);
  const AxisTap ty = resolve_axis(y, src.height, fill);
  if (tx.outside || ty.outside) {
    for (int k = 0; k < ch; ++k) out[k] = cval;
    return;
  }
  const uint8_t* row0 = src.data + ty.i0 * src.stride;
  const uint8_t* row1 = src.data + ty.i1 * src.stride;
  blend<C>(row0 + tx.i0 * ch, row0 + tx.i1 * ch, row1 + tx.i0 * ch, row1 + tx.i1 * ch, tx.w1, ty.w1,
           out, ch);
}

// The columns [lo, hi) of a row whose x = a*c + x_row lies in [0, x_hi), found
// with the same floating-point expression the general path uses (x is monotonic
// in c, so they form one interval).
void interior_columns(double a, double x_row, double x_hi, int width, int& lo, int& hi) {
  auto inside = [&](int c) {
    const double x = a * c + x_row;
    return x >= 0.0 && x < x_hi;
  };
  if (a == 0.0) {
    lo = 0;
    hi = inside(0) ? width : 0;
    return;
  }
  const double c0 = -x_row / a, c1 = (x_hi - x_row) / a;
  // Both ends clamped to the row, so the int conversions below are exact even
  // when a tiny `a` puts them far away.
  const double cmin = std::clamp(std::min(c0, c1), -1.0, width + 1.0),
               cmax = std::clamp(std::max(c0, c1), -1.0, width + 1.0);
  lo = std::clamp(static_cast<int>(std::floor(cmin)) - 1, 0, width);
  hi = std::clamp(static_cast<int>(std::ceil(cmax)) + 2, lo, width);
  while (lo < hi && !inside(lo)) ++lo;
  while (hi > lo && !inside(hi - 1)) --hi;
}

#ifdef __SSE2__
// Rounds the first three of four float lanes (v + 0.5 truncated, saturated to
// 0..255) and stores them as one RGB pixel at `o`. Unless `last`, it writes 4 bytes
// (the fourth is the next pixel's, which its own store overwrites).
inline void store_rgb(__m128 v_plus_half, uint8_t* o, bool last) {
  const __m128i i32 = _mm_cvttps_epi32(v_plus_half);
  const __m128i i16 = _mm_packs_epi32(i32, i32);
  const auto packed = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(i16, i16)));
  if (!last) {
    std::memcpy(o, &packed, 4);
  } else {
    o[0] = static_cast<uint8_t>(packed);
    o[1] = static_cast<uint8_t>(packed >> 8);
    o[2] = static_cast<uint8_t>(packed >> 16);
  }
}
#endif

// out[i] = row0[i] + fy * (row1[i] - row0[i]) for i in [begin, end), as floats.
void blend_rows(const uint8_t* row0, const uint8_t* row1, float fy, int begin, int end,
                float* out) {
  int i = begin;
#ifdef __SSE2__
  const __m128i zero = _mm_setzero_si128();
  const __m128 w = _mm_set1_ps(fy);
  for (; i + 16 <= end; i += 16) {
    const __m128i a8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row0 + i));
    const __m128i b8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row1 + i));
    const __m128i a16[2] = {_mm_unpacklo_epi8(a8, zero), _mm_unpackhi_epi8(a8, zero)};
    const __m128i b16[2] = {_mm_unpacklo_epi8(b8, zero), _mm_unpackhi_epi8(b8, zero)};
    for (int h = 0; h < 2; ++h) {
      const __m128 a0 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(a16[h], zero));
      const __m128 a1 = _mm_cvtepi32_ps(_mm_unpackhi_epi16(a16[h], zero));
      const __m128 b0 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(b16[h], zero));
      const __m128 b1 = _mm_cvtepi32_ps(_mm_unpackhi_epi16(b16[h], zero));
      _mm_storeu_ps(out + i + 8 * h, _mm_add_ps(a0, _mm_mul_ps(w, _mm_sub_ps(b0, a0))));
      _mm_storeu_ps(out + i + 8 * h + 4, _mm_add_ps(a1, _mm_mul_ps(w, _mm_sub_ps(b1, a1))));
    }
  }
#endif
  for (; i < end; ++i) {
    const float a = row0[i];
    out[i] = a + fy * (static_cast<float>(row1[i]) - a);
  }
}

// One output row of a map whose y depends on the column (a rotation, or a
// legacy shear). x and y step in 32.32 fixed point from the exact start (the
// error over a row stays below 2^-18 pixel). In nearest mode every column
// clamps its coordinates to [0, len - 1], which is scipy's rule; otherwise the
// columns whose (x, y) lie inside [0, w-1) x [0, h-1) take the stepping loop
// and the others the general path. Taps are clamped: never outside the image.
template <int C>
void warp_general_row(const ConstImageView& src, const InverseAffine& m, FillMode fill,
                      uint8_t cval, int r, uint8_t* out, int width, int ch) {
  const double x_row = m.b * r + m.tx, y_row = m.e * r + m.ty;
  int lo = 0, hi = width;
  if (fill != FillMode::kNearest) {
    int xlo = 0, xhi = 0, ylo = 0, yhi = 0;
    interior_columns(m.a, x_row, src.width - 1, width, xlo, xhi);
    interior_columns(m.d, y_row, src.height - 1, width, ylo, yhi);
    lo = std::max(xlo, ylo);
    hi = std::max(lo, std::min(xhi, yhi));
  }
  for (int c = 0; c < lo; ++c) {
    warp_pixel<C>(src, m.a * c + x_row, m.d * c + y_row, fill, cval, out + c * ch, ch);
  }
  if (lo < hi) {
    constexpr double kFixed = 4294967296.0;
    constexpr int kDrop = 32 - kWeightBits;
    constexpr int64_t kRound = int64_t{1} << (kDrop - 1);
    const int64_t x_max = static_cast<int64_t>(src.width - 1) << 32;
    const int64_t y_max = static_cast<int64_t>(src.height - 1) << 32;
    int64_t xf = std::llround((m.a * lo + x_row) * kFixed);
    int64_t yf = std::llround((m.d * lo + y_row) * kFixed);
    const int64_t sx = std::llround(m.a * kFixed), sy = std::llround(m.d * kFixed);
    uint8_t* o = out + lo * ch;
    int c = lo;
#ifdef __SSE2__
    if (ch == 3) {
      // Four float lanes per pixel, as in warp_rows: each tap loads 4 bytes
      // (the fourth is the next pixel's, unused), so the image's very last
      // pixel, whose fourth byte lies past the buffer, takes the scalar loop;
      // the fourth lane of each store is overwritten by the next pixel, and
      // the row's last pixel stores 3 bytes.
      const __m128i zero = _mm_setzero_si128();
      const __m128 half = _mm_set1_ps(0.5f);
      auto lanes = [&zero](const uint8_t* q) {
        int32_t v;
        std::memcpy(&v, q, 4);
        const __m128i b = _mm_unpacklo_epi8(_mm_cvtsi32_si128(v), zero);
        return _mm_cvtepi32_ps(_mm_unpacklo_epi16(b, zero));
      };
      for (; c < hi; ++c, xf += sx, yf += sy, o += 3) {
        const int64_t xc = std::clamp<int64_t>(xf, 0, x_max);
        const int64_t yc = std::clamp<int64_t>(yf, 0, y_max);
        const int x0 = std::min(static_cast<int>(xc >> 32), src.width - 2);
        const int y0 = std::min(static_cast<int>(yc >> 32), src.height - 2);
        if (x0 == src.width - 2 && y0 == src.height - 2) break;
        const uint8_t* p = src.data + y0 * src.stride + x0 * 3;
        const __m128 fx = _mm_set1_ps(static_cast<float>(xc - (static_cast<int64_t>(x0) << 32)) *
                                      2.3283064365386963e-10f);
        const __m128 fy = _mm_set1_ps(static_cast<float>(yc - (static_cast<int64_t>(y0) << 32)) *
                                      2.3283064365386963e-10f);
        const __m128 p00 = lanes(p), p01 = lanes(p + 3);
        const __m128 p10 = lanes(p + src.stride), p11 = lanes(p + src.stride + 3);
        const __m128 top = _mm_add_ps(p00, _mm_mul_ps(fx, _mm_sub_ps(p01, p00)));
        const __m128 bottom = _mm_add_ps(p10, _mm_mul_ps(fx, _mm_sub_ps(p11, p10)));
        const __m128 v = _mm_add_ps(_mm_add_ps(top, _mm_mul_ps(fy, _mm_sub_ps(bottom, top))), half);
        store_rgb(v, o, c + 1 == hi);
      }
    }
#endif
    for (; c < hi; ++c, xf += sx, yf += sy, o += ch) {
      const int64_t xc = std::clamp<int64_t>(xf, 0, x_max);
      const int64_t yc = std::clamp<int64_t>(yf, 0, y_max);
      const int x0 = std::min(static_cast<int>(xc >> 32), src.width - 2);
      const int y0 = std::min(static_cast<int>(yc >> 32), src.height - 2);
      const int wx = static_cast<int>((xc - (static_cast<int64_t>(x0) << 32) + kRound) >> kDrop);
      const int wy = static_cast<int>((yc - (static_cast<int64_t>(y0) << 32) + kRound) >> kDrop);
      const uint8_t* p = src.data + y0 * src.stride + x0 * ch;
      blend<C>(p, p + ch, p + src.stride, p + src.stride + ch, wx, wy, o, ch);
    }
  }
  for (int c = hi; c < width; ++c) {
    warp_pixel<C>(src, m.a * c + x_row, m.d * c + y_row, fill, cval, out + c * ch, ch);
  }
}

template <int C>
void warp_rows(const ConstImageView& src, const InverseAffine& m, FillMode fill, uint8_t cval,
               const ImageSpan& dst) {
  const int ch = C > 0 ? C : dst.channels;
  if (m.d != 0.0 && src.width >= 2 && src.height >= 2) {
    for (int r = 0; r < dst.height; ++r) {
      warp_general_row<C>(src, m, fill, cval, r, dst.data + r * dst.stride, dst.width, ch);
    }
    return;
  }
  const double x_hi = src.width - 1, y_hi = src.height - 1;
  thread_local std::vector<float> row_buffer;
  // Padded on both sides: fixed-point rounding may step a tap one pixel out.
  row_buffer.assign(static_cast<size_t>(src.width + 4) * ch + 8, 0.0f);
  float* vrow = row_buffer.data() + 2 * ch;
  for (int r = 0; r < dst.height; ++r) {
    uint8_t* out = dst.data + r * dst.stride;
    const double x_row = m.b * r + m.tx;
    const double y_row = m.e * r + m.ty;
    // Nearest mode clamps the coordinate (scipy's map_coordinate), so every
    // row takes the fast path with clamped vertical taps.
    const bool nearest = fill == FillMode::kNearest && src.width >= 2 && src.height >= 2;
    const double y = nearest ? std::clamp(y_row, 0.0, y_hi) : y_row;
    int lo = 0, hi = 0;
    if (m.d == 0.0 && (nearest || (y >= 0.0 && y < y_hi))) {
      interior_columns(m.a, x_row, x_hi, dst.width, lo, hi);
    }
    const bool fast_row = m.d == 0.0 && (nearest || lo < hi);
    int y0 = 0;
    float fy = 0.0f;
    if (fast_row) {
      y0 = std::min(static_cast<int>(y), src.height - 2);
      fy = static_cast<float>(y - y0);
      const uint8_t* row0 = src.data + y0 * src.stride;
      if (nearest) {
        blend_rows(row0, row0 + src.stride, fy, 0, src.width * ch, vrow);
      } else {
        const double x_first = m.a * lo + x_row, x_last = m.a * (hi - 1) + x_row;
        const int begin = static_cast<int>(std::min(x_first, x_last)) * ch;
        const int end = (static_cast<int>(std::max(x_first, x_last)) + 2) * ch;
        blend_rows(row0, row0 + src.stride, fy, begin, end, vrow);
      }
    }
    // Columns outside [0, width - 1): the nearest edge column, or the general path.
    auto outside = [&](int c) {
      const double x = m.a * c + x_row;
      if (nearest && fast_row) {
        const float* v = vrow + (x < 0.0 ? 0 : (src.width - 1) * ch);
        for (int k = 0; k < ch; ++k) out[c * ch + k] = static_cast<uint8_t>(v[k] + 0.5f);
      } else {
        warp_pixel<C>(src, x, m.d * c + y_row, fill, cval, out + c * ch, ch);
      }
    };
    for (int c = 0; c < lo; ++c) outside(c);
    if (lo < hi) {
      // Fast path, separable within the row: the two source rows were blended
      // once above; interpolate horizontally along the row.
      uint8_t* o = out + lo * ch;
      int c = lo;
#ifdef __SSE2__
      if (ch == 3) {
        // Four lanes per pixel (the fourth is the next pixel's first channel,
        // overwritten by the next store); the row's last pixel stores 3 bytes.
        const __m128 half = _mm_set1_ps(0.5f);
        // x in 32.32 fixed point from the exact start; the error over a row
        // stays below 2^-20 pixel.
        const double x_lo = m.a * c + x_row;
        const auto step = static_cast<int64_t>(std::llround(m.a * 4294967296.0));
        int64_t xf = static_cast<int64_t>(std::llround(x_lo * 4294967296.0));
        for (; c < hi; ++c, o += 3, xf += step) {
          const int x0 = static_cast<int>(xf >> 32);
          const __m128 f =
              _mm_set1_ps(static_cast<float>(static_cast<uint32_t>(xf)) * 2.3283064365386963e-10f);
          const __m128 l = _mm_loadu_ps(vrow + x0 * 3);
          const __m128 r = _mm_loadu_ps(vrow + x0 * 3 + 3);
          const __m128 v = _mm_add_ps(_mm_add_ps(l, _mm_mul_ps(f, _mm_sub_ps(r, l))), half);
          store_rgb(v, o, c + 1 == hi);
        }
      }
#endif
      for (; c < hi; ++c, o += ch) {
        const double x = m.a * c + x_row;
        const int x0 = static_cast<int>(x);
        const float fx = static_cast<float>(x - x0);
        const float* v = vrow + x0 * ch;
        for (int k = 0; k < ch; ++k) {
          o[k] = static_cast<uint8_t>(v[k] + fx * (v[k + ch] - v[k]) + 0.5f);
        }
      }
    }
    for (int c = std::max(hi, lo); c < dst.width; ++c) outside(c);
  }
}

}  // namespace

const char* fill_mode_name(FillMode mode) {
  switch (mode) {
    case FillMode::kNearest:
      return "nearest";
    case FillMode::kConstant:
      return "constant";
    case FillMode::kReflect:
      return "reflect";
    case FillMode::kWrap:
      return "wrap";
  }
  return "unknown";
}

bool parse_fill_mode(const std::string& name, FillMode& mode) {
  for (FillMode m :
       {FillMode::kNearest, FillMode::kConstant, FillMode::kReflect, FillMode::kWrap}) {
    if (name == fill_mode_name(m)) {
      mode = m;
      return true;
    }
  }
  return false;
}

const char* keras_convention_name(KerasConvention c) {
  return c == KerasConvention::kLegacy ? "legacy" : "2.9";
}

bool parse_keras_convention(const std::string& name, KerasConvention& c) {
  if (name == "2.9") {
    c = KerasConvention::k2_9;
  } else if (name == "legacy") {
    c = KerasConvention::kLegacy;
  } else {
    return false;
  }
  return true;
}

namespace {

// Keras' shift draw for a float range: U[-s, s], a fraction of `size` when s < 1.
double draw_shift(double range, int size, CounterRng& rng) {
  const double v = rng.uniform(-range, range);
  return range < 1.0 ? v * size : v;
}

using Mat3 = double[3][3];

void matmul(const Mat3 a, const Mat3 b, Mat3 out) {
  Mat3 c = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) c[i][j] += a[i][k] * b[k][j];
  std::memcpy(out, c, sizeof c);
}

}  // namespace

KerasTransform sample_transform(const AugmentRanges& ranges, CounterRng& rng, int dst_width,
                                int dst_height) {
  KerasTransform t;
  if (ranges.rotation != 0.0) t.theta_deg = rng.uniform(-ranges.rotation, ranges.rotation);
  if (ranges.height_shift != 0.0) t.tx = draw_shift(ranges.height_shift, dst_height, rng);
  if (ranges.width_shift != 0.0) t.ty = draw_shift(ranges.width_shift, dst_width, rng);
  if (ranges.shear != 0.0) t.shear_deg = rng.uniform(-ranges.shear, ranges.shear);
  if (ranges.zoom_lo != 1.0 || ranges.zoom_hi != 1.0) {
    t.zx = rng.uniform(ranges.zoom_lo, ranges.zoom_hi);
    t.zy = rng.uniform(ranges.zoom_lo, ranges.zoom_hi);
  }
  if (ranges.flip) t.flip = rng.uniform() < 0.5;
  if (ranges.flip_v) t.flip_v = rng.uniform() < 0.5;
  if (ranges.channel_shift != 0.0) {
    t.channel_shift_on = true;
    t.channel_shift = rng.uniform(-ranges.channel_shift, ranges.channel_shift);
  }
  if (ranges.brightness_hi != 0.0) {
    t.brightness = rng.uniform(ranges.brightness_lo, ranges.brightness_hi);
  }
  return t;
}

InverseAffine keras_inverse_map(const KerasTransform& t, int src_width, int src_height,
                                int dst_width, int dst_height, KerasConvention convention) {
  // Keras' matrix M = rotation @ shift @ shear @ zoom on its (axis 0, axis 1)
  // coordinates relative to the centre: (x, y) under 2.9, (row, col) in legacy.
  const double th = t.theta_deg * M_PI / 180.0, s = t.shear_deg * M_PI / 180.0;
  const Mat3 rot = {{std::cos(th), -std::sin(th), 0}, {std::sin(th), std::cos(th), 0}, {0, 0, 1}};
  const Mat3 shift = {{1, 0, t.tx}, {0, 1, t.ty}, {0, 0, 1}};
  const Mat3 shear = {{1, -std::sin(s), 0}, {0, std::cos(s), 0}, {0, 0, 1}};
  const Mat3 zoom = {{t.zx, 0, 0}, {0, t.zy, 0}, {0, 0, 1}};
  Mat3 m;
  matmul(rot, shift, m);
  matmul(m, shear, m);
  matmul(m, zoom, m);
  // Keras' centre: n/2 - 0.5 since 2.9, n/2 + 0.5 in keras_preprocessing 1.1.
  const double half = convention == KerasConvention::k2_9 ? -0.5 : 0.5;
  const double oc = dst_width / 2.0 + half, orow = dst_height / 2.0 + half;
  // Target-grid map of the warp: xt = p*cw + q*rw + u, yt = g*cw + h*rw + v.
  double p, q, g, h, u0, v0;
  if (convention == KerasConvention::k2_9) {
    p = m[0][0], q = m[0][1], u0 = m[0][2];
    g = m[1][0], h = m[1][1], v0 = m[1][2];
  } else {
    p = m[1][1], q = m[1][0], u0 = m[1][2];
    g = m[0][1], h = m[0][0], v0 = m[0][2];
  }
  double u = oc + u0 - p * oc - q * orow;
  double v = orow + v0 - g * oc - h * orow;
  // The flips come after the warp in Keras: output (c, r) reads the warped
  // grid at cw = W - 1 - c, rw = H - 1 - r.
  if (t.flip) {
    u += p * (dst_width - 1), v += g * (dst_width - 1);
    p = -p, g = -g;
  }
  if (t.flip_v) {
    u += q * (dst_height - 1), v += h * (dst_height - 1);
    q = -q, h = -h;
  }
  const double kx = static_cast<double>(src_width) / dst_width;
  const double ky = static_cast<double>(src_height) / dst_height;
  InverseAffine out;
  out.a = kx * p;
  out.b = kx * q;
  out.tx = kx * (u + 0.5) - 0.5;
  out.d = ky * g;
  out.e = ky * h;
  out.ty = ky * (v + 0.5) - 0.5;
  return out;
}

namespace {

// Keras >= 2.9's brightness alone: min(255, trunc(f * v)) in float, as PIL's
// blend with black computes it, 16 bytes at a time; the same values as the
// lookup table below.
void scale_brightness(const ImageSpan& img, float f) {
  const int row_bytes = img.width * img.channels;
  for (int r = 0; r < img.height; ++r) {
    uint8_t* p = img.data + r * img.stride;
    int i = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128();
    const __m128 k = _mm_set1_ps(f);
    for (; i + 16 <= row_bytes; i += 16) {
      const __m128i v8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const __m128i v16[2] = {_mm_unpacklo_epi8(v8, zero), _mm_unpackhi_epi8(v8, zero)};
      __m128i o16[2];
      for (int h = 0; h < 2; ++h) {
        const __m128 lo = _mm_mul_ps(k, _mm_cvtepi32_ps(_mm_unpacklo_epi16(v16[h], zero)));
        const __m128 hi = _mm_mul_ps(k, _mm_cvtepi32_ps(_mm_unpackhi_epi16(v16[h], zero)));
        // Truncation, then saturation at 255 (f * v < 2^31 for f <= 10).
        o16[h] = _mm_packs_epi32(_mm_cvttps_epi32(lo), _mm_cvttps_epi32(hi));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p + i), _mm_packus_epi16(o16[0], o16[1]));
    }
#endif
    for (; i < row_bytes; ++i) {
      const float z = f * static_cast<float>(p[i]);
      p[i] = z >= 255.0f ? 255 : static_cast<uint8_t>(z);
    }
  }
}

}  // namespace

void apply_intensity(const KerasTransform& t, KerasConvention convention, const ImageSpan& img) {
  const bool bright = t.brightness != 0.0;
  if (!t.channel_shift_on && !bright) return;
  if (!t.channel_shift_on && convention == KerasConvention::k2_9 && t.brightness > 0.0) {
    return scale_brightness(img, static_cast<float>(t.brightness));
  }
  const int row_bytes = img.width * img.channels;
  // The image's range: only the channel shift and legacy brightness need it.
  int lo = 0, hi = 255;
  if (t.channel_shift_on || convention == KerasConvention::kLegacy) {
    lo = 255, hi = 0;
    for (int r = 0; r < img.height; ++r) {
      const uint8_t* p = img.data + r * img.stride;
      for (int i = 0; i < row_bytes; ++i) {
        lo = std::min<int>(lo, p[i]);
        hi = std::max<int>(hi, p[i]);
      }
    }
  }
  auto shifted = [&](int v) {
    return t.channel_shift_on ? std::clamp(v + t.channel_shift, double(lo), double(hi)) : v;
  };
  // Legacy brightness first stretches (array_to_img(scale=True), float32).
  const float top = static_cast<float>(shifted(hi));
  const float f = static_cast<float>(t.brightness);
  uint8_t level[256];
  for (int v = 0; v < 256; ++v) {
    const double x = shifted(v);
    if (!bright) {
      level[v] = static_cast<uint8_t>(x + 0.5);
      continue;
    }
    float y = static_cast<float>(x);
    if (convention == KerasConvention::kLegacy && top > 0.0f) y = y / top * 255.0f;
    // fromarray's astype('uint8') truncates; PIL's blend with black then
    // truncates f * v and clips.
    const float z = f * static_cast<float>(static_cast<int>(y));
    level[v] = z <= 0.0f ? 0 : (z >= 255.0f ? 255 : static_cast<uint8_t>(z));
  }
  for (int r = 0; r < img.height; ++r) {
    uint8_t* p = img.data + r * img.stride;
    for (int i = 0; i < row_bytes; ++i) p[i] = level[p[i]];
  }
}

void warp_affine(const ConstImageView& src, const InverseAffine& map, FillMode fill, uint8_t cval,
                 const ImageSpan& dst) {
  if (src.channels != dst.channels || src.channels < 1 || src.channels > 4) {
    throw std::invalid_argument("warp_affine: channel counts must match and be 1 to 4");
  }
  if (src.width <= 0 || src.height <= 0) throw std::invalid_argument("warp_affine: empty source");
  if (dst.width < 0 || dst.height < 0) throw std::invalid_argument("warp_affine: negative size");
  check_map(map, dst.width, dst.height);
  switch (src.channels) {
    case 1:
      return warp_rows<1>(src, map, fill, cval, dst);
    case 3:
      return warp_rows<3>(src, map, fill, cval, dst);
    default:
      return warp_rows<0>(src, map, fill, cval, dst);
  }
}

}  // namespace sluice::data

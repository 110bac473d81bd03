#include "stages/data/affine_warp.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sluice::data {
namespace {

constexpr int kWeightBits = 11;
constexpr int kOne = 1 << kWeightBits;
constexpr int kShift = 2 * kWeightBits;
constexpr uint32_t kHalf = 1u << (kShift - 1);

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
  int i0 = static_cast<int>(f);
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

template <int C>
void warp_rows(const ConstImageView& src, const InverseAffine& m, FillMode fill, uint8_t cval,
               const ImageSpan& dst) {
  const int ch = dst.channels;
  const int sw = src.width, sh = src.height;
  const double x_hi = sw - 1, y_hi = sh - 1;
  for (int r = 0; r < dst.height; ++r) {
    uint8_t* out = dst.data + r * dst.stride;
    const double x_row = m.b * r + m.tx;
    const double y_row = m.e * r + m.ty;
    for (int c = 0; c < dst.width; ++c, out += ch) {
      const double x = m.a * c + x_row;
      const double y = m.d * c + y_row;
      if (x >= 0.0 && x < x_hi && y >= 0.0 && y < y_hi) {
        const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
        const uint8_t* p = src.data + y0 * src.stride + x0 * ch;
        blend<C>(p, p + ch, p + src.stride, p + src.stride + ch, weight_of(x - x0),
                 weight_of(y - y0), out, ch);
        continue;
      }
      const AxisTap tx = resolve_axis(x, sw, fill);
      const AxisTap ty = resolve_axis(y, sh, fill);
      if (tx.outside || ty.outside) {
        for (int k = 0; k < ch; ++k) out[k] = cval;
        continue;
      }
      const uint8_t* row0 = src.data + ty.i0 * src.stride;
      const uint8_t* row1 = src.data + ty.i1 * src.stride;
      blend<C>(row0 + tx.i0 * ch, row0 + tx.i1 * ch, row1 + tx.i0 * ch, row1 + tx.i1 * ch, tx.w1,
               ty.w1, out, ch);
    }
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

KerasTransform sample_transform(const AugmentRanges& ranges, CounterRng& rng) {
  KerasTransform t;
  if (ranges.shear != 0.0) t.shear_deg = rng.uniform(-ranges.shear, ranges.shear);
  if (ranges.zoom_lo != 1.0 || ranges.zoom_hi != 1.0) {
    t.zx = rng.uniform(ranges.zoom_lo, ranges.zoom_hi);
    t.zy = rng.uniform(ranges.zoom_lo, ranges.zoom_hi);
  }
  if (ranges.flip) t.flip = rng.uniform() < 0.5;
  return t;
}

InverseAffine keras_inverse_map(const KerasTransform& t, int src_width, int src_height,
                                int dst_width, int dst_height) {
  const double s = t.shear_deg * M_PI / 180.0;
  const double f = t.flip ? -1.0 : 1.0;
  const double oc = dst_width / 2.0 - 0.5, orow = dst_height / 2.0 - 0.5;
  const double kx = static_cast<double>(src_width) / dst_width;
  const double ky = static_cast<double>(src_height) / dst_height;
  // Target-grid map: xt = p*c + q*r + u, yt = e0*r + v.
  const double p = f * t.zx, q = -t.zy * std::sin(s);
  const double u = oc - p * oc - q * orow;
  const double e0 = t.zy * std::cos(s);
  const double v = orow - e0 * orow;
  InverseAffine m;
  m.a = kx * p;
  m.b = kx * q;
  m.tx = kx * (u + 0.5) - 0.5;
  m.d = 0.0;
  m.e = ky * e0;
  m.ty = ky * (v + 0.5) - 0.5;
  return m;
}

void warp_affine(const ConstImageView& src, const InverseAffine& map, FillMode fill, uint8_t cval,
                 const ImageSpan& dst) {
  if (src.channels != dst.channels || src.channels < 1 || src.channels > 4) {
    throw std::invalid_argument("warp_affine: channel counts must match and be 1 to 4");
  }
  if (src.width <= 0 || src.height <= 0) throw std::invalid_argument("warp_affine: empty source");
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

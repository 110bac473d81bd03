// Keras ImageDataGenerator augmentation (Keras >= 2.9 `apply_affine_transform`,
// bilinear `order=1`, scipy.ndimage fill modes) fused with the resize to the
// target size: one inverse-mapped warp that writes each output pixel once,
// straight into its destination (e.g. a batch slot).
//
// The exact map. Output pixel (c, r) of a W x H target (column c, row r), source
// image sw x sh, shear s (radians), zoom zx (horizontal), zy (vertical), flip
// f = -1 if flipped else +1, centre oc = W/2 - 0.5, or = H/2 - 0.5:
//
//   xt = f*zx*(c - oc) - zy*sin(s)*(r - or) + oc     (Keras' matrix, target grid)
//   yt =                 zy*cos(s)*(r - or) + or
//   x  = (xt + 0.5) * sw/W - 0.5                     (resize, pixel centres aligned)
//   y  = (yt + 0.5) * sh/H - 0.5
//
// i.e. Keras' shear_matrix [[1, -sin s, 0], [0, cos s, 0]] times zoom_matrix
// diag(zx, zy), offset to the centre, with its 2.9 row/column swap so that zx
// scales x; zx > 1 shows more of the image (zooms out), as in Keras. The flip is
// applied after the warp, as ImageDataGenerator.apply_transform does, which is
// the sign f on the c term. The pixel at source (x, y) is interpolated
// bilinearly with scipy.ndimage.affine_transform's boundary rules, on the source
// grid:
//   nearest   coordinates clamped to the edge          (a a | a b c d | d d)
//   constant  cval wherever x or y is outside [0, len-1], no blending at edges
//   reflect   half-sample symmetric                     (b a | a b c d | d c)
//   wrap      scipy's "wrap": period len - 1, first and last samples overlap
// When sw = W and sh = H this is exactly Keras' transform (to uint8 rounding).
// Differences from Keras: Keras resizes first (PIL, nearest by default) and
// warps the resized image; here the two are one bilinear warp. Keras centres
// non-square images with the row and column extents swapped; here oc uses W.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pipeline/rng.h"

namespace sluice::data {

enum class FillMode { kNearest, kConstant, kReflect, kWrap };

const char* fill_mode_name(FillMode mode);
// "nearest", "constant", "reflect", "wrap"; false for anything else.
bool parse_fill_mode(const std::string& name, FillMode& mode);

// One drawn transform.
struct KerasTransform {
  double shear_deg = 0.0;
  double zx = 1.0;
  double zy = 1.0;
  bool flip = false;
};

// ImageDataGenerator's ranges: shear_range (degrees), zoom_range [lo, hi]
// (a float z means [1 - z, 1 + z]), horizontal_flip.
struct AugmentRanges {
  double shear = 0.0;
  double zoom_lo = 1.0;
  double zoom_hi = 1.0;
  bool flip = false;
};

// Draws as Keras' get_random_transform does, in its order: shear ~ U[-s, s],
// then zx, zy ~ U[lo, hi] independently (both 1 when lo = hi = 1), then flip with
// probability 0.5.
KerasTransform sample_transform(const AugmentRanges& ranges, CounterRng& rng);

// Output (c, r) -> source (x, y):  x = a*c + b*r + tx,  y = d*c + e*r + ty.
struct InverseAffine {
  double a = 1, b = 0, tx = 0;
  double d = 0, e = 1, ty = 0;
};

// The map documented above.
InverseAffine keras_inverse_map(const KerasTransform& t, int src_width, int src_height,
                                int dst_width, int dst_height);

struct ConstImageView {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;
  ptrdiff_t stride = 0;  // bytes per row
};

struct ImageSpan {
  uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;
  ptrdiff_t stride = 0;
};

// Writes every pixel of `dst` from `src` through `map`. Channel counts must match
// (1 to 4). Bilinear with 11-bit fixed-point weights; results are within 1 of
// the exact value rounded.
void warp_affine(const ConstImageView& src, const InverseAffine& map, FillMode fill, uint8_t cval,
                 const ImageSpan& dst);

}  // namespace sluice::data

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
//
// With rotation and shifts the target-grid map is Keras' full matrix
// rotation @ shift @ shear @ zoom about the centre (keras_inverse_map), which
// gives yt an x term; such maps take the warp's general per-pixel path. The
// vertical flip is the sign on the r terms, as the horizontal one is on c.
// Under KerasConvention::kLegacy (keras_preprocessing 1.1) the matrix is not
// swapped and the centre is n/2 + 0.5, as 1.1's transform_matrix_offset_center
// has it. Channel shift and brightness follow the warp (apply_intensity).
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

// Which Keras builds the matrix. k2_9: Keras >= 2.9, which swaps rows and
// columns of the affine matrix ("M' = PMP"): zx scales x, a shear moves x along
// y, Keras' tx (drawn from height_shift) moves x, and brightness multiplies the
// pixels as they are. kLegacy: keras_preprocessing 1.1 / Keras <= 2.8, without
// the swap: zx scales rows, a shear moves rows along columns, tx moves rows, and
// brightness first stretches the image so that its maximum is 255
// (array_to_img(scale=True)). Rotations differ only in direction, flips and an
// isotropic zoom not at all.
enum class KerasConvention { k2_9, kLegacy };

const char* keras_convention_name(KerasConvention c);
// "2.9", "legacy"; false for anything else.
bool parse_keras_convention(const std::string& name, KerasConvention& c);

// One drawn transform, with Keras' transform_parameters' meaning: tx, ty in
// target pixels (tx from height_shift, ty from width_shift, as Keras draws them);
// brightness 0 and channel_shift_on false mean none.
struct KerasTransform {
  double shear_deg = 0.0;
  double zx = 1.0;
  double zy = 1.0;
  bool flip = false;
  double theta_deg = 0.0;
  double tx = 0.0;
  double ty = 0.0;
  bool flip_v = false;
  bool channel_shift_on = false;
  double channel_shift = 0.0;
  double brightness = 0.0;
};

// ImageDataGenerator's ranges: shear_range (degrees), zoom_range [lo, hi]
// (a float z means [1 - z, 1 + z]), horizontal_flip, rotation_range (degrees),
// width/height_shift_range (a float: below 1 a fraction of the target size,
// otherwise pixels), vertical_flip, channel_shift_range, brightness_range
// [lo, hi] (none when brightness_hi is 0).
struct AugmentRanges {
  double shear = 0.0;
  double zoom_lo = 1.0;
  double zoom_hi = 1.0;
  bool flip = false;
  double rotation = 0.0;
  double width_shift = 0.0;
  double height_shift = 0.0;
  bool flip_v = false;
  double channel_shift = 0.0;
  double brightness_lo = 0.0;
  double brightness_hi = 0.0;
};

// Draws as Keras' get_random_transform does, in its order: theta ~ U[-r, r],
// tx ~ U[-h, h] (times the target height when h < 1), ty likewise from
// width_shift and the width, shear ~ U[-s, s], zx, zy ~ U[lo, hi] independently
// (both 1 when lo = hi = 1), horizontal then vertical flip with probability 0.5,
// channel shift ~ U[-c, c], brightness ~ U[lo, hi]. A range that is off draws
// nothing, so a config with only shear, zoom and flip draws what it drew
// before the other transforms existed.
KerasTransform sample_transform(const AugmentRanges& ranges, CounterRng& rng, int dst_width = 0,
                                int dst_height = 0);

// Output (c, r) -> source (x, y):  x = a*c + b*r + tx,  y = d*c + e*r + ty.
struct InverseAffine {
  double a = 1, b = 0, tx = 0;
  double d = 0, e = 1, ty = 0;
};

// The map documented above, generalised: Keras' rotation @ shift @ shear @ zoom
// matrix about the target's centre (row/column swapped under k2_9), then the
// horizontal and vertical flips, then the resize to the source grid.
InverseAffine keras_inverse_map(const KerasTransform& t, int src_width, int src_height,
                                int dst_width, int dst_height,
                                KerasConvention convention = KerasConvention::k2_9);

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

// What ImageDataGenerator.apply_transform does after the warp, in its order, on
// the warped image in place: the channel shift (add t.channel_shift to every
// channel, clip to the image's own minimum and maximum over all channels), then
// brightness (PIL ImageEnhance.Brightness: trunc(f * v), clipped to 255; under
// kLegacy after stretching the image to a maximum of 255). No pass when neither
// is drawn.
void apply_intensity(const KerasTransform& t, KerasConvention convention, const ImageSpan& img);

}  // namespace sluice::data

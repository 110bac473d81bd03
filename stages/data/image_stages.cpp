// image.decode: decodes each Sample's file, or the encoded bytes it carries (read
// from a shard), to an RGB Image (TurboJPEG for JPEG, OpenCV for PNG/BMP/...). A bad file (missing,
// empty, truncated, not an image, too many pixels, corrupt) is skipped, counted as
// "skipped.<reason>" and logged once with its path (policy = "skip"), or fails
// the run (policy = "fail"). A JPEG that decodes despite libjpeg warnings (junk
// before a marker, a scan cut short) is kept, as PIL keeps it, and counted as
// "decoded_with_warnings".
//
// image.augment: Keras ImageDataGenerator augmentation fused with the resize
// to width x height: one bilinear inverse-mapped warp (affine_warp.h has the
// exact matrix). Randomness depends only on (seed, epoch, sample index). The
// output stays uint8; `rescale` or `normalize = "imagenet"` is recorded in the
// Image and applied once per batch downstream.
//
// Example config:
//   [stages.decode]
//   use = "image.decode"
//   input = "index"
//   policy = "skip"
//   max_pixels = 50_000_000
//
//   [stages.augment]
//   use = "image.augment"
//   input = "decode"
//   width = 224
//   height = 224
//   shear = 0.2          # degrees, as Keras' shear_range
//   zoom = 0.2           # [0.8, 1.2]; or zoom = [0.9, 1.3]
//   flip = true
//   rotation = 15        # degrees, as Keras' rotation_range
//   width_shift = 0.1    # a fraction of the width (< 1) or pixels (>= 1)
//   height_shift = 0.1
//   vertical_flip = false
//   brightness = [0.8, 1.2]
//   channel_shift = 0    # intensity, as Keras' channel_shift_range
//   keras_convention = "2.9"   # or "legacy": keras_preprocessing 1.1 / Keras <= 2.8
//   fill_mode = "nearest"
//   rescale = 0.00392156862745098
#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "pipeline/registry.h"
#include "pipeline/text_escape.h"
#include "stages/data/affine_warp.h"
#include "stages/data/buffer_pool.h"
#include "stages/data/data_specs.h"
#include "stages/data/data_stages.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::data {
namespace {

// image.augment's limits: a zoom beyond 10 samples a tenth of the image's
// pixels or fewer; a shear beyond 90 degrees folds the image over.
constexpr double kMaxZoom = 10.0;
constexpr double kMaxShear = 90.0;
constexpr double kMaxRotation = 360.0;
constexpr double kMaxShift = 16384.0;
constexpr double kMaxBrightness = 10.0;

// The rules of image.augment's parameters that their ParamSpecs cannot state: the
// constructor throws these messages and the check hook reports them. Written so
// that NaN fails too.
std::string zoom_problem(const std::vector<double>& zoom) {
  if (zoom.size() != 1 && zoom.size() != 2) {
    return "zoom: give one value z (range [1-z, 1+z]) or a pair [lo, hi]";
  }
  if (zoom.size() == 1 && !(zoom[0] >= 0.0 && zoom[0] < 1.0)) {
    return "zoom: a single value z means [1 - z, 1 + z] and needs 0 <= z < 1, got " +
           format_param_value(zoom[0]);
  }
  const double lo = zoom.size() == 1 ? 1.0 - zoom[0] : zoom[0];
  const double hi = zoom.size() == 1 ? 1.0 + zoom[0] : zoom[1];
  if (!(lo > 0 && lo <= hi && hi <= kMaxZoom)) {
    return "zoom: the pair [lo, hi] must satisfy 0 < lo <= hi <= 10, got " +
           format_param_value(zoom);
  }
  return {};
}

std::string brightness_problem(const std::vector<double>& b) {
  if (b.empty()) return {};
  if (b.size() != 2 || !(b[0] > 0.0 && b[0] <= b[1])) {
    return "brightness: give a pair [lo, hi] with 0 < lo <= hi (Keras' brightness_range), got " +
           format_param_value(b);
  }
  return {};
}

std::string scaling_problem(double rescale, const std::string& normalize) {
  if (normalize == "imagenet" && rescale != 0.0) return "rescale: use either rescale or normalize";
  return {};
}

void check_augment_params(const ParamCheck& c) {
  const Params& p = c.params();
  if (auto why = zoom_problem(p.get_floats("zoom")); !why.empty()) c.error("zoom", why);
  if (auto why = brightness_problem(p.get_floats("brightness")); !why.empty()) {
    c.error("brightness", why);
  }
  if (auto why = scaling_problem(p.get_float("rescale"), p.get_string("normalize")); !why.empty()) {
    c.error(c.given("rescale") ? "rescale" : "normalize", why);
  }
}

// Why image.augment's output depends on the run's random numbers with these
// parameters (empty: it only resizes, the same every epoch).
std::string augment_randomness(const Params& p) {
  if (p.get_strings("augment_splits").empty()) return {};
  std::string why;
  auto add = [&why](const std::string& s) { why += (why.empty() ? "" : ", ") + s; };
  if (p.get_float("shear") != 0.0) add("shear " + format_param_value(p.get_float("shear")));
  const std::vector<double> zoom = p.get_floats("zoom");
  const bool no_zoom = (zoom.size() == 1 && zoom[0] == 0.0) ||
                       (zoom.size() == 2 && zoom[0] == 1.0 && zoom[1] == 1.0);
  if (!no_zoom) add("zoom " + format_param_value(zoom));
  if (p.get_bool("flip")) add("flip");
  for (const char* name : {"rotation", "width_shift", "height_shift", "channel_shift"}) {
    if (p.get_float(name) != 0.0)
      add(std::string(name) + " " + format_param_value(p.get_float(name)));
  }
  if (p.get_bool("vertical_flip")) add("vertical_flip");
  if (!p.get_floats("brightness").empty()) {
    add("brightness " + format_param_value(p.get_floats("brightness")));
  }
  if (why.empty()) return {};
  return "random " + why + " on splits " + format_param_value(p.get_strings("augment_splits"));
}

constexpr DecodeStatus kBadKinds[] = {DecodeStatus::kMissingFile,   DecodeStatus::kEmptyFile,
                                      DecodeStatus::kTruncated,     DecodeStatus::kNotAnImage,
                                      DecodeStatus::kTooManyPixels, DecodeStatus::kCorrupt};

class DecodeStage : public Transform {
 public:
  explicit DecodeStage(const Params& p) : fail_(p.get_string("policy") == "fail") {
    options_.max_pixels = p.get_int("max_pixels");
    options_.fast_dct = p.get_bool("fast_dct");
  }

  void open(StageContext& ctx) override {
    log_ = &ctx.log();
    for (DecodeStatus s : kBadKinds) {
      skipped_[static_cast<int>(s)] = &ctx.counter(std::string("skipped.") + decode_status_name(s));
    }
    warnings_ = &ctx.counter("decoded_with_warnings");
  }

  void process(std::any& in, Emitter& out) override {
    Sample& sample = payload_as<Sample>(in);
    Image image;
    const auto allocate = [this](size_t bytes) { return pool_->get(bytes); };
    // Bytes that came with the sample (a shard member) are decoded even when
    // empty: the path then names no file on disk ("SHARD.tar:MEMBER").
    const DecodeResult r =
        sample.encoded
            ? decode_image(sample.encoded.get(), sample.encoded_size, options_, allocate, image)
            : decode_image_file(sample.path, options_, allocate, image);
    if (r.ok()) {
      if (!r.warning.empty()) count_warning(sample.path, r.warning);
      image.sample = std::move(sample);
      out.emit(std::move(image));
      return;
    }
    // Paths come from data files: printable() keeps a newline or an escape
    // sequence in one from splitting or recolouring the log line.
    const std::string what =
        printable(sample.path) + ": " + decode_status_name(r.status) + ": " + printable(r.message);
    if (fail_) throw std::runtime_error(what + " (policy = \"fail\")");
    skipped_[static_cast<int>(r.status)]->add();
    std::lock_guard<std::mutex> lock(logged_mutex_);
    if (logged_.insert(sample.path).second) {
      log_->warn("skipping {} ({}): {}: {}", printable(sample.path), printable(sample.origin),
                 decode_status_name(r.status), printable(r.message));
    }
  }

 private:
  // Decoded despite a libjpeg warning, as PIL decodes it: counted, the first one logged.
  void count_warning(const std::string& path, const std::string& warning) {
    warnings_->add();
    if (!warning_logged_.exchange(true)) {
      log_->info("{}: decoded despite a libjpeg warning: {} (counted in decoded_with_warnings)",
                 printable(path), printable(warning));
    }
  }

  bool fail_;
  DecodeOptions options_;
  spdlog::logger* log_ = nullptr;
  Counter* warnings_ = nullptr;
  std::atomic<bool> warning_logged_{false};
  Counter* skipped_[8] = {};
  std::mutex logged_mutex_;
  std::unordered_set<std::string> logged_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
};

class AugmentStage : public Transform {
 public:
  explicit AugmentStage(const Params& p)
      : width_(static_cast<int>(p.get_int("width"))),
        height_(static_cast<int>(p.get_int("height"))),
        seed_param_(p.get_int("seed")),
        augment_splits_(p.get_strings("augment_splits")) {
    ranges_.shear = p.get_float("shear");
    const std::vector<double> zoom = p.get_floats("zoom");
    if (auto why = zoom_problem(zoom); !why.empty()) throw std::invalid_argument(why);
    ranges_.zoom_lo = zoom.size() == 1 ? 1.0 - zoom[0] : zoom[0];
    ranges_.zoom_hi = zoom.size() == 1 ? 1.0 + zoom[0] : zoom[1];
    if (!(ranges_.shear >= 0.0 && ranges_.shear <= kMaxShear)) {
      throw std::invalid_argument("shear: must be in [0, 90] degrees, got " +
                                  format_param_value(ranges_.shear));
    }
    ranges_.flip = p.get_bool("flip");
    ranges_.rotation = p.get_float("rotation");
    ranges_.width_shift = p.get_float("width_shift");
    ranges_.height_shift = p.get_float("height_shift");
    ranges_.flip_v = p.get_bool("vertical_flip");
    ranges_.channel_shift = p.get_float("channel_shift");
    const std::vector<double> brightness = p.get_floats("brightness");
    if (auto why = brightness_problem(brightness); !why.empty()) throw std::invalid_argument(why);
    if (!brightness.empty()) {
      ranges_.brightness_lo = brightness[0];
      ranges_.brightness_hi = brightness[1];
    }
    if (!parse_keras_convention(p.get_string("keras_convention"), convention_)) {
      throw std::invalid_argument("keras_convention: unknown convention '" +
                                  p.get_string("keras_convention") + "'");
    }
    if (!parse_fill_mode(p.get_string("fill_mode"), fill_)) {
      throw std::invalid_argument("fill_mode: unknown mode '" + p.get_string("fill_mode") + "'");
    }
    const double cval = p.get_float("cval");
    if (!(cval >= 0.0 && cval <= 255.0)) {
      throw std::invalid_argument("cval: must be in [0, 255], got " + format_param_value(cval));
    }
    cval_ = static_cast<uint8_t>(cval + 0.5);
    const double rescale = p.get_float("rescale");
    const std::string& normalize = p.get_string("normalize");
    if (auto why = scaling_problem(rescale, normalize); !why.empty()) {
      throw std::invalid_argument(why);
    }
    if (normalize == "imagenet") {
      norm_.kind = Normalization::Kind::kMeanStd;
      const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
      for (int c = 0; c < 3; ++c) {
        norm_.mean[c] = mean[c];
        norm_.std[c] = std[c];
      }
    } else if (rescale != 0.0) {
      norm_.kind = Normalization::Kind::kRescale;
      norm_.scale = rescale;
    }
  }

  void open(StageContext& ctx) override {
    seed_ = seed_param_ >= 0 ? static_cast<uint64_t>(seed_param_) : ctx.seed();
  }

  void process(std::any& in, Emitter& out) override {
    Image& src = payload_as<Image>(in);
    CounterRng rng(seed_, static_cast<uint64_t>(src.sample.epoch),
                   static_cast<uint64_t>(src.sample.index));
    const bool random = std::find(augment_splits_.begin(), augment_splits_.end(),
                                  src.sample.split) != augment_splits_.end();
    const KerasTransform t =
        random ? sample_transform(ranges_, rng, width_, height_) : KerasTransform{};
    Image dst;
    dst.width = width_;
    dst.height = height_;
    dst.channels = src.channels;
    dst.pixels = pool_->get(dst.bytes());
    dst.normalization = norm_;
    const ImageSpan span{dst.pixels.get(), width_, height_, dst.channels,
                         static_cast<ptrdiff_t>(width_) * dst.channels};
    warp_affine({src.pixels.get(), src.width, src.height, src.channels,
                 static_cast<ptrdiff_t>(src.width) * src.channels},
                keras_inverse_map(t, src.width, src.height, width_, height_, convention_), fill_,
                cval_, span);
    apply_intensity(t, convention_, span);
    dst.sample = std::move(src.sample);
    src.pixels.reset();
    out.emit(std::move(dst));
  }

 private:
  int width_, height_;
  int64_t seed_param_;
  std::vector<std::string> augment_splits_;
  uint64_t seed_ = 0;
  AugmentRanges ranges_;
  KerasConvention convention_ = KerasConvention::k2_9;
  FillMode fill_ = FillMode::kNearest;
  uint8_t cval_ = 0;
  Normalization norm_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
};

}  // namespace

void register_image_stages(Registry& r) {
  r.add<DecodeStage>(
      StageSpec("image.decode")
          .doc("Decodes each Sample's image file to 8-bit RGB (TurboJPEG; OpenCV for PNG/BMP).",
               "Bad files (missing_file, empty_file, truncated, not_an_image, too_many_pixels, "
               "corrupt) are skipped and counted as skipped.<reason>, or fail the run under "
               "policy = \"fail\". The pixel limit is checked from the header, before "
               "allocation.")
          .transform<Sample, Image>()
          .output_spec(decode_spec)
          .parallel()
          .param(ParamSpec::string("policy", "skip", "what a bad image does: skip or fail")
                     .one_of({"skip", "fail"}))
          .param(ParamSpec::integer("max_pixels", 100'000'000,
                                    "refuse images with more pixels (0: no limit)")
                     .min(0))
          .param(ParamSpec::boolean("fast_dct", false, "faster, slightly less exact JPEG IDCT")));
  r.add<AugmentStage>(
      StageSpec("image.augment")
          .doc("Keras ImageDataGenerator's transforms fused with the resize: one warp.",
               "Output pixel (c, r) samples the source at x = (xt + 0.5) sw/W - 0.5, "
               "y = (yt + 0.5) sh/H - 0.5 with xt = f zx (c - oc) - zy sin(s) (r - or) + oc, "
               "yt = zy cos(s) (r - or) + or (Keras 2.9 apply_affine_transform, scipy fill "
               "modes, bilinear) for shear, zoom and flip; rotation and shifts join Keras' "
               "matrix in the same warp, channel shift and brightness follow it. "
               "keras_convention = \"legacy\" reproduces keras_preprocessing 1.1. "
               "Randomness depends on (seed, epoch, sample index).")
          .transform<Image, Image>()
          .output_spec(augment_spec)
          .random(augment_randomness)
          .parallel()
          .param(ParamSpec::integer("width", 224, "output width").range(1, 16384))
          .param(ParamSpec::integer("height", 224, "output height").range(1, 16384))
          .param(ParamSpec::number("shear", 0.0, "shear range in degrees: uniform in [-s, s]")
                     .range(0, kMaxShear))
          .param(ParamSpec::numbers("zoom", {0.0},
                                    "zoom z for [1-z, 1+z] (0 <= z < 1), or a [lo, hi] pair "
                                    "(0 < lo <= hi); zx, zy drawn independently")
                     .list_size(1, 2)
                     .range(0, kMaxZoom))
          .param(ParamSpec::boolean("flip", false, "horizontal flip with probability 0.5"))
          .param(ParamSpec::number("rotation", 0.0,
                                   "rotation range in degrees: uniform in [-r, r] (Keras' "
                                   "rotation_range)")
                     .range(0, kMaxRotation))
          .param(ParamSpec::number("width_shift", 0.0,
                                   "shift range: uniform in [-s, s], a fraction of the width when "
                                   "s < 1, else pixels (Keras' width_shift_range; under \"2.9\" "
                                   "it moves the image vertically, as Keras >= 2.9 does)")
                     .range(0, kMaxShift))
          .param(ParamSpec::number("height_shift", 0.0,
                                   "as width_shift, of the height (Keras' height_shift_range; "
                                   "horizontal under \"2.9\")")
                     .range(0, kMaxShift))
          .param(ParamSpec::boolean("vertical_flip", false, "vertical flip with probability 0.5"))
          .param(ParamSpec::numbers("brightness", {},
                                    "[lo, hi]: multiply by a factor uniform in [lo, hi] (Keras' "
                                    "brightness_range; empty: none)")
                     .list_size(0, 2)
                     .range(0, kMaxBrightness))
          .param(ParamSpec::number("channel_shift", 0.0,
                                   "add a shift uniform in [-c, c] to every channel, clipped to "
                                   "the image's range (Keras' channel_shift_range)")
                     .range(0, 255))
          .param(ParamSpec::string("keras_convention", "2.9",
                                   "2.9: Keras >= 2.9's matrix; legacy: keras_preprocessing 1.1 / "
                                   "Keras <= 2.8 (no row/column swap: shear, anisotropic zoom, "
                                   "shifts and brightness differ)")
                     .one_of({"2.9", "legacy"}))
          .param(ParamSpec::string("fill_mode", "nearest", "points outside the image")
                     .one_of({"nearest", "constant", "reflect", "wrap"}))
          .param(ParamSpec::number("cval", 0.0, "fill value for fill_mode = constant (0-255)")
                     .range(0, 255))
          .param(ParamSpec::number("rescale", 0.0,
                                   "multiply pixels by this, once per batch (0: none), e.g. "
                                   "1/255")
                     .range(-1e6, 1e6))
          .param(ParamSpec::string("normalize", "none",
                                   "imagenet: (x/255 - mean) / std, once per batch")
                     .one_of({"none", "imagenet"}))
          .param(ParamSpec::integer("seed", -1, "augmentation seed (-1: from pipeline.seed)"))
          .param(ParamSpec::strings("augment_splits", {"train"},
                                    "splits that get random transforms; others are only "
                                    "resized (as a Keras validation generator)"))
          .check(check_augment_params));
}

}  // namespace sluice::data

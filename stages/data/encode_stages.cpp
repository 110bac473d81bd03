// image.resize: a deterministic resize to width x height, for preparing a
// dataset (no randomness, every split alike). fit = "stretch" scales the whole
// image to the new size (as image.augment without augmentation does); fit =
// "crop" first cuts the largest centred region of the target's aspect ratio, so
// faces keep their proportions. OpenCV's area interpolation (or bilinear).
//
// image.encode: encodes each Image back into a file in memory (JPEG with
// TurboJPEG, quality and chroma subsampling; PNG with OpenCV, compression level)
// and emits its Sample carrying the bytes (encoded, encoded_size,
// encoded_format), with id, label, label_values, attributes, split and index
// kept, for shard.write (or image.decode, which decodes them). Images with a
// pending rescale or normalisation are refused at check time: the bytes would
// lose it.
//
// Example config:
//   [stages.resize]
//   use = "image.resize"
//   input = "decode"
//   width = 178
//   height = 218
//   fit = "crop"
//
//   [stages.encode]
//   use = "image.encode"
//   input = "resize"
//   format = "jpg"
//   quality = 95
//   subsampling = "420"
#include <algorithm>
#include <memory>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/choice_list.h"
#include "pipeline/registry.h"
#include "stages/data/buffer_pool.h"
#include "stages/data/data_stages.h"
#include "stages/data/image_encoder.h"

namespace sluice::data {
namespace {

enum class Fit { kStretch, kCrop };
const ChoiceList<Fit>& fits() {
  static const ChoiceList<Fit> kFits("fit", {{"stretch", Fit::kStretch}, {"crop", Fit::kCrop}});
  return kFits;
}

const ChoiceList<int>& interpolations() {
  static const ChoiceList<int> kInterpolations(
      "interpolation", {{"area", cv::INTER_AREA}, {"linear", cv::INTER_LINEAR}});
  return kInterpolations;
}

const ChoiceList<JpegSubsampling>& subsamplings() {
  static const ChoiceList<JpegSubsampling> kSubsamplings("subsampling",
                                                         {{"420", JpegSubsampling::k420},
                                                          {"422", JpegSubsampling::k422},
                                                          {"444", JpegSubsampling::k444}});
  return kSubsamplings;
}

// The centred region of a w x h image with the aspect ratio of tw x th.
cv::Rect centred_crop(int w, int h, int tw, int th) {
  // Compare w/h with tw/th without rounding: w * th against tw * h.
  const int64_t lhs = static_cast<int64_t>(w) * th, rhs = static_cast<int64_t>(tw) * h;
  int cw = w, ch = h;
  if (lhs > rhs) cw = static_cast<int>(std::max<int64_t>(1, (rhs + th / 2) / th));
  if (lhs < rhs) ch = static_cast<int>(std::max<int64_t>(1, (lhs + tw / 2) / tw));
  return cv::Rect((w - cw) / 2, (h - ch) / 2, cw, ch);
}

class ResizeStage : public Transform {
 public:
  explicit ResizeStage(const Params& p)
      : width_(static_cast<int>(p.get_int("width"))),
        height_(static_cast<int>(p.get_int("height"))),
        fit_(fits().parse(p.get_string("fit"))),
        interpolation_(interpolations().parse(p.get_string("interpolation"))) {}

  void process(std::any& in, Emitter& out) override {
    Image& src = payload_as<Image>(in);
    const int type = CV_8UC(src.channels);
    const cv::Mat whole(src.height, src.width, type, src.pixels.get());
    const cv::Mat region =
        fit_ == Fit::kCrop ? whole(centred_crop(src.width, src.height, width_, height_)) : whole;
    Image dst;
    dst.width = width_;
    dst.height = height_;
    dst.channels = src.channels;
    dst.normalization = src.normalization;
    dst.pixels = pool_->get(dst.bytes());
    cv::Mat target(height_, width_, type, dst.pixels.get());
    if (region.cols == width_ && region.rows == height_) {
      region.copyTo(target);
    } else {
      cv::resize(region, target, target.size(), 0, 0, interpolation_);
    }
    dst.sample = std::move(src.sample);
    out.emit(std::move(dst));
  }

 private:
  int width_, height_;
  Fit fit_;
  int interpolation_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
};

ElementSpec resize_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx) {
  ElementSpec out = in.at(0);
  ImageSpec image = out.image.value_or(ImageSpec{});
  image.width = static_cast<int>(p.get_int("width"));
  image.height = static_cast<int>(p.get_int("height"));
  image.size_from = ctx.stage_id();
  out.type = payload_name<Image>();
  out.image = image;
  return out;
}

class EncodeStage : public Transform {
 public:
  explicit EncodeStage(const Params& p) {
    const std::string& format = p.get_string("format");
    options_.png = format == "png";
    format_ = options_.png ? "png" : "jpg";
    options_.quality = static_cast<int>(p.get_int("quality"));
    options_.subsampling = subsamplings().parse(p.get_string("subsampling"));
    options_.png_compression = static_cast<int>(p.get_int("png_compression"));
  }

  void open(StageContext& ctx) override { bytes_ = &ctx.counter("bytes"); }

  void process(std::any& in, Emitter& out) override {
    Image& image = payload_as<Image>(in);
    if (image.normalization.kind != Normalization::Kind::kNone) {
      throw std::runtime_error(
          "the image has a pending rescale or normalisation, which its "
          "encoded bytes cannot keep");
    }
    EncodedImage encoded = encode_image(image, options_);
    image.pixels.reset();
    Sample sample = std::move(image.sample);
    sample.encoded = std::move(encoded.bytes);
    sample.encoded_size = encoded.size;
    sample.encoded_format = format_;
    bytes_->add(static_cast<int64_t>(encoded.size));
    out.emit(std::move(sample));
  }

 private:
  EncodeOptions options_;
  std::string format_;
  Counter* bytes_ = nullptr;
};

ElementSpec encode_spec(const Params&, const std::vector<ElementSpec>& in, SpecContext&) {
  ElementSpec out = in.at(0);
  out.type = payload_name<Sample>();
  out.image.reset();
  return out;
}

void accept_unscaled(const Params&, const ElementSpec& in, SpecContext& ctx) {
  if (in.image && in.image->normalization.kind != Normalization::Kind::kNone) {
    ctx.error("", "its input images have a pending scaling (" + in.image->pixel_string() +
                      ", set by stage '" + in.image->size_from +
                      "'), which encoded files cannot keep; drop rescale/normalize upstream "
                      "and scale when the shards are read");
  }
}

}  // namespace

void register_encode_stages(Registry& r) {
  r.add<ResizeStage>(
      StageSpec("image.resize")
          .doc("Deterministic resize to width x height (stretch, or centred crop to the "
               "aspect ratio first).",
               "No randomness: every split is treated alike, for preparing datasets. "
               "Interpolation: OpenCV INTER_AREA (area) or INTER_LINEAR (linear).")
          .transform<Image, Image>()
          .output_spec(resize_spec)
          .parallel()
          .param(ParamSpec::integer("width", 224, "output width").range(1, 16384))
          .param(ParamSpec::integer("height", 224, "output height").range(1, 16384))
          .param(ParamSpec::string("fit", "stretch",
                                   "stretch: scale the whole image; crop: cut the centred "
                                   "region of the output's aspect ratio, then scale")
                     .one_of(fits().names()))
          .param(ParamSpec::string("interpolation", "area", "area or linear")
                     .one_of(interpolations().names())));
  r.add<EncodeStage>(
      StageSpec("image.encode")
          .doc("Encodes each Image to JPEG (TurboJPEG) or PNG (OpenCV); emits its Sample "
               "carrying the bytes.",
               "id, label, label_values, attributes, split and index are kept; "
               "encoded_format is \"jpg\" or \"png\". Counts encoded bytes as 'bytes'.")
          .transform<Image, Sample>()
          .output_spec(encode_spec)
          .accepts(accept_unscaled)
          .parallel()
          .param(ParamSpec::string("format", "jpg", "jpg or png").one_of({"jpg", "png"}))
          .param(ParamSpec::integer("quality", 95, "JPEG quality").range(1, 100))
          .param(ParamSpec::string("subsampling", "420", "JPEG chroma subsampling")
                     .one_of(subsamplings().names()))
          .param(ParamSpec::integer("png_compression", 3, "PNG zlib level").range(0, 9)));
}

}  // namespace sluice::data

// image.random_erasing: Random Erasing (Zhong et al., AAAI 2020), the way
// torchvision's transforms.RandomErasing does it. With probability `p`, draw a
// rectangle whose area is a uniform fraction of the image in `scale` and whose
// aspect ratio h/w is log-uniform in `ratio`; round h and w half to even; retry
// up to 10 times until it fits strictly inside the image, then place it
// uniformly and fill it with `value` (one value for all channels or one per
// channel) or, with fill = "random", with uniform random bytes. If no draw fits,
// the image passes unchanged, as in torchvision.
//
// Values are 8-bit pixel values (0-255): this stage runs before the batch-level
// normalization, so value = 0 is black. To erase to the dataset mean as
// torchvision does after Normalize with value=0, give the mean (e.g.
// value = [124, 116, 104] for ImageNet statistics).
//
// Draws come from ctx.rng(epoch, sample index): the same images are erased at
// the same places whatever the thread count.
//
// Example config:
//   [stages.erase]
//   use = "image.random_erasing"
//   input = "augment"
//   p = 0.5
//   scale = [0.02, 0.33]
//   ratio = [0.3, 3.3]
//   value = [0.0]
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "example_stages.h"
#include "pipeline/stage.h"
#include "vision/payloads.h"

namespace sluice_example {
namespace {

using sluice::Image;

// Thrown by the constructor and reported by `sluice check` (the check hook below).
const char* const kNotMinMax = "must be given as [min, max]";

bool min_max(const std::vector<double>& v) { return v.size() == 2 && v[0] <= v[1]; }

// StageSpec::check: the rule the ParamSpecs cannot state, reported at the key.
void check_ranges(const sluice::ParamCheck& c) {
  for (const char* key : {"scale", "ratio"}) {
    if (!min_max(c.params().get_floats(key))) c.error(key, std::string(key) + " " + kNotMinMax);
  }
}

class RandomErasing : public sluice::Transform {
 public:
  explicit RandomErasing(const sluice::Params& p)
      : p_(p.get_float("p")),
        scale_(p.get_floats("scale")),
        ratio_(p.get_floats("ratio")),
        value_(p.get_floats("value")),
        random_fill_(p.get_string("fill") == "random") {
    for (const char* key : {"scale", "ratio"}) {
      if (!min_max(p.get_floats(key)))
        throw std::invalid_argument(std::string(key) + " " + kNotMinMax);
    }
    log_ratio_[0] = std::log(ratio_[0]);
    log_ratio_[1] = std::log(ratio_[1]);
  }

  void open(sluice::StageContext& ctx) override {
    ctx_ = &ctx;
    erased_ = &ctx.counter("erased");
    kept_ = &ctx.counter("kept");
  }

  void process(std::any& in, sluice::Emitter& out) override {
    Image& img = sluice::payload_as<Image>(in);
    sluice::CounterRng rng =
        ctx_->rng(static_cast<uint64_t>(img.sample.epoch), static_cast<uint64_t>(img.sample.index));
    Rect r;
    if (rng.uniform() < p_ && draw_rect(img.height, img.width, rng, r)) {
      erase(img, r, rng);
      erased_->add();
    } else {
      kept_->add();
    }
    out.emit(std::move(img));
  }

 private:
  struct Rect {
    int top = 0, left = 0, height = 0, width = 0;
  };

  // torchvision's RandomErasing.get_params: up to 10 tries.
  bool draw_rect(int img_h, int img_w, sluice::CounterRng& rng, Rect& r) const {
    const double area = static_cast<double>(img_h) * img_w;
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double erase_area = area * rng.uniform(scale_[0], scale_[1]);
      const double aspect = std::exp(rng.uniform(log_ratio_[0], log_ratio_[1]));
      // Python's round(): half to even, which nearbyint does in the default mode.
      const int h = static_cast<int>(std::nearbyint(std::sqrt(erase_area * aspect)));
      const int w = static_cast<int>(std::nearbyint(std::sqrt(erase_area / aspect)));
      if (!(h < img_h && w < img_w)) continue;
      r.height = h;
      r.width = w;
      r.top = static_cast<int>(rng.below(static_cast<uint64_t>(img_h - h + 1)));
      r.left = static_cast<int>(rng.below(static_cast<uint64_t>(img_w - w + 1)));
      return true;
    }
    return false;
  }

  void erase(Image& img, const Rect& r, sluice::CounterRng& rng) const {
    const int c = img.channels;
    if (!random_fill_ && value_.size() != 1 && static_cast<int>(value_.size()) != c) {
      throw std::runtime_error("value has " + std::to_string(value_.size()) +
                               " entries but the image has " + std::to_string(c) + " channels");
    }
    // Copy on write: the buffer may be shared with another holder of this image.
    if (img.pixels.use_count() > 1) {
      sluice::ByteBuffer copy = sluice::buffer_allocator().allocate(img.bytes());
      std::memcpy(copy.get(), img.pixels.get(), img.bytes());
      img.pixels = std::move(copy);
    }
    uint8_t fill[4] = {0, 0, 0, 0};
    for (int k = 0; k < c && k < 4; ++k) {
      const double v = value_.size() == 1 ? value_[0] : value_[static_cast<size_t>(k)];
      fill[k] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
    const size_t row_bytes = static_cast<size_t>(img.width) * c;
    for (int y = r.top; y < r.top + r.height; ++y) {
      uint8_t* px =
          img.pixels.get() + static_cast<size_t>(y) * row_bytes + static_cast<size_t>(r.left) * c;
      const size_t n = static_cast<size_t>(r.width) * c;
      if (random_fill_) {
        for (size_t i = 0; i < n; i += 8) {
          uint64_t bits = rng.next();
          for (size_t b = i; b < std::min(n, i + 8); ++b, bits >>= 8) {
            px[b] = static_cast<uint8_t>(bits);
          }
        }
      } else {
        for (size_t i = 0; i < n; ++i) px[i] = fill[i % static_cast<size_t>(c)];
      }
    }
  }

  double p_;
  std::vector<double> scale_;
  std::vector<double> ratio_;
  std::vector<double> value_;
  bool random_fill_;
  double log_ratio_[2] = {0.0, 0.0};
  sluice::StageContext* ctx_ = nullptr;
  sluice::Counter* erased_ = nullptr;
  sluice::Counter* kept_ = nullptr;
};

}  // namespace

void register_random_erasing(sluice::Registry& registry) {
  using sluice::ParamSpec;
  registry.add<RandomErasing>(
      sluice::StageSpec("image.random_erasing")
          .doc("Random Erasing (Zhong et al.) as torchvision's RandomErasing, on 8-bit images.",
               "With probability p, erases one rectangle of area fraction in `scale` and aspect\n"
               "ratio (h/w, log-uniform) in `ratio`, filled with `value` (0-255, one value or\n"
               "one per channel) or random bytes. Draws depend only on (seed, epoch, sample\n"
               "index). Counters: erased, kept.")
          .transform<sluice::Image, sluice::Image>()
          // Caught by `sluice check` instead of failing on the first image. The
          // output spec is the input's (same port type): erasing keeps the size.
          .accepts(
              [](const sluice::Params& p, const sluice::ElementSpec& in, sluice::SpecContext& ctx) {
                const size_t values = p.get_floats("value").size();
                const int channels = in.image ? in.image->channels : 0;
                if (p.get_string("fill") == "value" && values != 1 && channels > 0 &&
                    static_cast<int>(values) != channels) {
                  ctx.error("value", "gives " + std::to_string(values) +
                                         " fill values but the input images have " +
                                         std::to_string(channels) +
                                         " channels (give one, or one per "
                                         "channel)");
                }
              })
          // Its output depends on the run's random numbers whenever p > 0: a
          // stage that must not follow randomness (image.cache) refuses it.
          .random([](const sluice::Params& p) {
            return p.get_float("p") > 0.0
                       ? "erases with probability p = " + std::to_string(p.get_float("p"))
                       : std::string();
          })
          .parallel()
          .param(ParamSpec::number("p", 0.5, "probability of erasing an image").range(0.0, 1.0))
          .param(ParamSpec::numbers("scale", {0.02, 0.33},
                                    "[min, max] erased area as a fraction of the image")
                     .range(0.0, 1.0)
                     .list_size(2, 2))
          .param(ParamSpec::numbers("ratio", {0.3, 3.3}, "[min, max] aspect ratio h/w of the area")
                     .range(1e-6, 1e6)
                     .list_size(2, 2))
          .param(ParamSpec::numbers("value", {0.0}, "fill value(s), 0-255: one, or one per channel")
                     .range(0.0, 255.0)
                     .list_size(1, 4))
          .param(ParamSpec::string("fill", "value", "fill with `value` or with random bytes")
                     .one_of({"value", "random"}))
          .check(check_ranges));
}

}  // namespace sluice_example

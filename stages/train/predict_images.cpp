#include "stages/train/predict_images.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "stages/data/affine_warp.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::train {
namespace {

// torchvision: Resize(256) on the shorter side, CenterCrop(224), as one map.
data::InverseAffine imagenet_map(int sw, int sh, int crop) {
  constexpr double kResize = 256.0;
  const int rw = sw <= sh ? static_cast<int>(kResize) : static_cast<int>(kResize * sw / sh);
  const int rh = sh <= sw ? static_cast<int>(kResize) : static_cast<int>(kResize * sh / sw);
  const double off_x = std::round((rw - crop) / 2.0);
  const double off_y = std::round((rh - crop) / 2.0);
  data::InverseAffine m;
  m.a = static_cast<double>(sw) / rw;
  m.e = static_cast<double>(sh) / rh;
  m.tx = (off_x + 0.5) * m.a - 0.5;
  m.ty = (off_y + 0.5) * m.e - 0.5;
  return m;
}

}  // namespace

Batch load_image_batch(const std::vector<std::string>& paths, const InputSpec& input,
                       Preprocess mode) {
  Batch b;
  b.split = "predict";
  b.size = static_cast<int>(paths.size());
  b.channels = 3;
  if (mode == Preprocess::kImagenet) {
    b.height = b.width = 224;
    b.normalization.kind = Normalization::Kind::kMeanStd;
    const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
    for (int c = 0; c < 3; ++c) {
      b.normalization.mean[c] = mean[c];
      b.normalization.std[c] = stdv[c];
    }
  } else {
    if (input.height <= 0 || input.width <= 0) {
      throw std::runtime_error("the checkpoint records no input size (it saw no batch)");
    }
    b.height = input.height;
    b.width = input.width;
    b.normalization = input.normalization;
  }
  b.pixels = data::heap_buffer(b.image_bytes() * paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    Image img;
    const auto r = data::decode_image_file(paths[i], {}, data::heap_buffer, img);
    if (!r.ok()) {
      throw std::runtime_error(paths[i] + ": " + data::decode_status_name(r.status) +
                               (r.message.empty() ? "" : ": " + r.message));
    }
    const data::ConstImageView src{img.pixels.get(), img.width, img.height, 3,
                                   static_cast<ptrdiff_t>(img.width) * 3};
    const data::ImageSpan dst{b.pixels.get() + i * b.image_bytes(), b.width, b.height, 3,
                              static_cast<ptrdiff_t>(b.width) * 3};
    const auto map = mode == Preprocess::kImagenet
                         ? imagenet_map(img.width, img.height, 224)
                         : data::keras_inverse_map({}, img.width, img.height, b.width, b.height);
    data::warp_affine(src, map, data::FillMode::kNearest, 0, dst);
    b.labels.push_back(0);
    b.sample_indices.push_back(static_cast<int64_t>(i));
    b.ids.push_back(paths[i]);
    b.paths.push_back(paths[i]);
  }
  return b;
}

}  // namespace sluice::train

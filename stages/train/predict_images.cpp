#include "stages/train/predict_images.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "stages/data/affine_warp.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::train {
namespace {

namespace fs = std::filesystem;

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

// The batch's geometry and scaling for `count` images, pixels allocated.
Batch empty_batch(size_t count, const InputSpec& input, Preprocess mode) {
  Batch b;
  b.split = "predict";
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
  b.pixels = data::heap_buffer(b.image_bytes() * std::max<size_t>(count, 1));
  return b;
}

// Decodes `path` into the next slot of `b`; the reason it cannot, or "".
std::string add_image(const std::string& path, Preprocess mode, Batch& b) {
  Image img;
  const auto r = data::decode_image_file(path, {}, data::heap_buffer, img);
  if (!r.ok()) {
    return std::string(data::decode_status_name(r.status)) +
           (r.message.empty() ? "" : ": " + r.message);
  }
  const size_t i = static_cast<size_t>(b.size);
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
  b.ids.push_back(path);
  b.paths.push_back(path);
  ++b.size;
  return {};
}

bool is_image_file(const fs::path& p) {
  static const std::set<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp",
                                             ".ppm", ".tif",  ".tiff"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExt.count(ext) > 0;
}

// The image files under `dir`, recursively; symlinked folders are not entered (no
// loops). Folders that cannot be listed go to `failed`.
void list_folder(const fs::path& dir, std::vector<std::string>& files,
                 std::vector<ImageFailure>& failed) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code sec;
    if (it->is_regular_file(sec) && is_image_file(it->path())) files.push_back(it->path().string());
  }
  if (ec) failed.push_back({dir.string(), "cannot list the folder: " + ec.message()});
}

}  // namespace

Batch load_image_batch(const std::vector<std::string>& paths, const InputSpec& input,
                       Preprocess mode) {
  Batch b = empty_batch(paths.size(), input, mode);
  for (const std::string& path : paths) {
    const std::string why = add_image(path, mode, b);
    if (!why.empty()) throw std::runtime_error(path + ": " + why);
  }
  return b;
}

Batch load_image_batch(const std::vector<std::string>& paths, const InputSpec& input,
                       Preprocess mode, std::vector<ImageFailure>& failed) {
  Batch b = empty_batch(paths.size(), input, mode);
  for (const std::string& path : paths) {
    const std::string why = add_image(path, mode, b);
    if (!why.empty()) failed.push_back({path, why});
  }
  return b;
}

std::vector<std::string> expand_image_paths(const std::vector<std::string>& args,
                                            std::vector<ImageFailure>& failed) {
  std::vector<std::string> out;
  for (const std::string& arg : args) {
    std::error_code ec;
    const fs::file_status st = fs::status(arg, ec);
    if (fs::is_directory(st)) {
      std::vector<std::string> files;
      list_folder(arg, files, failed);
      std::sort(files.begin(), files.end());
      if (files.empty()) failed.push_back({arg, "no image files in the folder"});
      out.insert(out.end(), files.begin(), files.end());
    } else if (!fs::exists(st)) {
      failed.push_back({arg, "no such file or folder"});
    } else {
      out.push_back(arg);  // a file as named, whatever its extension; decoding judges it
    }
  }
  return out;
}

}  // namespace sluice::train

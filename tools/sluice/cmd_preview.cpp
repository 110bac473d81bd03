// `sluice preview`: runs a pipeline config up to its augmentation stage and
// writes a grid of the first augmented images, as the pipeline produces them
// (same seed, same transforms), so users can see their augmentation.
#include <cmath>
#include <iostream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"
#include "tools/sluice/image_output.h"
#include "tools/sluice/preview_images.h"
#include "vision/payloads.h"

namespace sluice::cli {
namespace {

// A grid of 1024 224x224 tiles is already a 150 MB image.
constexpr int64_t kMaxPreviewImages = 1024;

int preview_cmd(const std::vector<std::string>& args) {
  std::string config_path, out_path;
  std::vector<std::string> overrides, plugins;
  int64_t count = 16, seed = -1;
  po::options_description o("options");
  o.add_options()("config", po::value(&config_path)->required(), "pipeline config (TOML)")(
      "out", po::value(&out_path)->required(), "grid image to write (.png)")(
      "count", po::value(&count)->default_value(16), "number of images")(
      "set", po::value(&overrides)->composing(), "override a parameter: STAGE.KEY=VALUE")(
      "plugin", po::value(&plugins)->composing(), "load stages from a plugin library (repeatable)")(
      "seed", po::value(&seed)->default_value(-1),
      "run seed (-1: pipeline.seed); another seed draws other augmentations");
  po::positional_options_description pos;
  pos.add("config", 1);
  po::variables_map vm;
  if (auto code = parse_command_line("preview", "CONFIG --out grid.png [--count 16] [--seed N]",
                                     args, o, pos, vm)) {
    return *code;
  }
  if (!option_ok("preview", "seed", ParamSpec::integer("seed", -1, "run seed").min(-1), seed) ||
      !option_ok("preview", "count",
                 ParamSpec::integer("count", 16, "images in the grid").range(1, kMaxPreviewImages),
                 count)) {
    return kExitConfigError;
  }
  if (std::string bad = check_image_output(out_path); !bad.empty()) {
    std::cerr << "sluice preview: " << bad << '\n';
    return kExitConfigError;
  }
  PreviewImages preview =
      preview_images(config_path, overrides, static_cast<size_t>(count), plugins, seed);
  if (preview.code != kExitOk) {
    print_diagnostics(std::cerr, preview.diagnostics);
    if (!preview.error.empty()) std::cerr << "sluice preview: " << preview.error << '\n';
    return preview.code;
  }
  const auto& images = preview.images;
  int tile_w = 0, tile_h = 0;
  for (const Image& im : images) {
    tile_w = std::max(tile_w, im.width);
    tile_h = std::max(tile_h, im.height);
  }
  const int n = static_cast<int>(images.size());
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int rows = (n + cols - 1) / cols;
  const int gap = 2;
  cv::Mat grid(rows * (tile_h + gap) + gap, cols * (tile_w + gap) + gap, CV_8UC3,
               cv::Scalar(255, 255, 255));
  for (int i = 0; i < n; ++i) {
    const Image& im = images[static_cast<size_t>(i)];
    cv::Mat src(im.height, im.width, im.channels == 1 ? CV_8UC1 : CV_8UC3, im.pixels.get());
    cv::Mat bgr;
    cv::cvtColor(src, bgr, im.channels == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
    const int x = gap + (i % cols) * (tile_w + gap), y = gap + (i / cols) * (tile_h + gap);
    bgr.copyTo(grid(cv::Rect(x, y, im.width, im.height)));
  }
  if (std::string failed = write_image(out_path, grid); !failed.empty()) {
    std::cerr << "sluice preview: " << failed << '\n';
    return kExitFailure;
  }
  std::cout << "wrote " << n << " images from stage '" << preview.tap << "' to " << out_path
            << '\n';
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(preview, "write a grid of augmented samples as a pipeline config produces them",
               preview_cmd);

}  // namespace sluice::cli

// A synthetic CelebA: procedurally drawn 178x218 faces (skin, hair, pose,
// background, clothes, lighting, noise) with all 40 attributes, written in the
// Kaggle layout (list_attr_celeba.csv, list_eval_partition.csv,
// img_align_celeba/img_align_celeba/NNNNNN.jpg), and hair_colour.csv: a
// categorical attribute with 4 values for csv.index (see hair_colour below).
//
// `Male` is visible but not given away by one pixel region: it shifts the
// distributions of jaw shape, hair length, beard, brow thickness and make-up,
// with overlap and nuisance variation, so a small CNN learns it well while a
// linear model on raw pixels does not. Every image depends only on (seed, index);
// images are drawn in parallel.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace sluice::data {

inline constexpr int kCelebaWidth = 178;
inline constexpr int kCelebaHeight = 218;
inline constexpr int kCelebaAttributeCount = 40;

struct SynthFace {
  cv::Mat bgr;  // kCelebaHeight x kCelebaWidth, CV_8UC3, BGR (OpenCV order)
  std::array<int8_t, kCelebaAttributeCount> attrs{};  // -1/1, celeba_attribute_names() order
  // The colour the hair is drawn in: "black", "brown", "blond" or "gray" (as the
  // Black_Hair, Brown_Hair, Blond_Hair and Gray_Hair attributes); empty for red
  // hair (CelebA has no attribute for it) and for bald faces (no hair to see).
  std::string hair_colour;
};

// The hair_colour values, in the order hair_colour.csv's header documents them.
const std::vector<std::string>& synthetic_hair_colours();

// Draws face `index` (0-based) for `seed`.
SynthFace draw_synthetic_face(uint64_t seed, int64_t index);

// CelebA-like partition: the first ~81% train (0), then ~10% validation (1), the
// rest test (2), by index, as in the original release.
int synthetic_partition(int64_t index, int64_t count);

struct SynthOptions {
  std::string out;  // dataset root to create
  int64_t count = 1000;
  uint64_t seed = 0;
  int jpeg_quality = 92;
};

// The file beside list_attr_celeba.csv listing every face with a hair_colour:
// columns path (relative to the dataset root), hair_colour, split (train,
// validation, test), for
//   [stages.index]
//   use = "csv.index"
//   file = "ROOT/hair_colour.csv"
//   label_column = "hair_colour"
//   split_column = "split"
inline constexpr const char* kHairColourFile = "hair_colour.csv";

// Writes the dataset; calls `progress(done, total)` now and then (may be empty).
// Throws std::runtime_error on I/O failure, naming the path.
void write_synthetic_celeba(const SynthOptions& options,
                            const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace sluice::data

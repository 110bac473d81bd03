// A synthetic CelebA: procedurally drawn 178x218 faces (skin, hair, pose,
// background, clothes, lighting, noise) with all 40 attributes, written in the
// Kaggle layout (list_attr_celeba.csv, list_eval_partition.csv,
// img_align_celeba/img_align_celeba/NNNNNN.jpg).
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

#include <opencv2/core.hpp>

namespace sluice::data {

inline constexpr int kCelebaWidth = 178;
inline constexpr int kCelebaHeight = 218;
inline constexpr int kCelebaAttributeCount = 40;

struct SynthFace {
  cv::Mat bgr;  // kCelebaHeight x kCelebaWidth, CV_8UC3, BGR (OpenCV order)
  std::array<int8_t, kCelebaAttributeCount> attrs{};  // -1/1, celeba_attribute_names() order
};

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

// Writes the dataset; calls `progress(done, total)` now and then (may be empty).
// Throws std::runtime_error on I/O failure, naming the path.
void write_synthetic_celeba(const SynthOptions& options,
                            const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace sluice::data

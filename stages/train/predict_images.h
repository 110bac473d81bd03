// Turns image files into a Batch the trainer can score, with the preprocessing of the
// model: a checkpoint's (resize to its training size, as the augment stage does with
// augmentation off, and its pixel scaling) or torchvision's ImageNet evaluation
// transform (resize the shorter side to 256, centre crop 224, mean/std).
#pragma once

#include <string>
#include <vector>

#include "stages/train/trainer.h"
#include "vision/payloads.h"

namespace sluice::train {

enum class Preprocess { kTraining, kImagenet };

// One image per slot; throws std::runtime_error naming the file that cannot be read.
Batch load_image_batch(const std::vector<std::string>& paths, const InputSpec& input,
                       Preprocess mode);

// A file that could not be scored, and why.
struct ImageFailure {
  std::string path;
  std::string message;
};

// As above, but a file that cannot be read is left out of the batch (its paths and
// ids hold the images it has, in order) and recorded in `failed`.
Batch load_image_batch(const std::vector<std::string>& paths, const InputSpec& input,
                       Preprocess mode, std::vector<ImageFailure>& failed);

// The files to score from command-line arguments: a file as given; a folder, every
// image under it (recursively, by extension: jpg, jpeg, png, bmp, ppm, tif, tiff),
// sorted. A missing path or an unreadable folder goes to `failed`.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& args,
                                            std::vector<ImageFailure>& failed);

}  // namespace sluice::train

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

}  // namespace sluice::train

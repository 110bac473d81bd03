// validation_split: one set of samples cut into train and validation by a seed,
// as Keras's image_dataset_from_directory(validation_split, subset, seed) does.
//
// The samples are permuted by a counter-based shuffle keyed on the seed alone;
// the LAST floor(fraction * n) samples of that permutation are validation, the
// rest train. The count is computed as Keras's int(validation_split * n), in
// double precision (so 0.29 * 100 gives 28, as in Keras). The result depends on
// the seed and on the samples' order only: never on the epoch or thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/payloads.h"

namespace sluice::data {

// The number of validation samples of `n`: int(fraction * n), as Keras.
int64_t validation_count(double fraction, int64_t n);

// Sets Sample::split of every sample to "train" or "validation".
void apply_validation_split(std::vector<Sample>& samples, double fraction, uint64_t seed);

// The splits a source with validation_split emits: `requested`, else train then
// validation.
std::vector<std::string> validation_split_subsets(const std::vector<std::string>& requested);

}  // namespace sluice::data

// Element specs of the data stages (pipeline/element_spec.h): what each index
// source emits, read cheaply from its parameters and its index file's header,
// and how decode, augment and batch transform it. Registered on the stages'
// StageSpecs in index_sources.cpp, image_stages.cpp and batch_stage.cpp.
//
//   celeba.index(label = "Male")  -> Sample{label: binary "Male" (Female/Male)}
//   image.decode                  -> Image{variable size x3 uint8, ...}
//   image.augment(64x80, 1/255)   -> Image{80x64x3 uint8->rescale 1/255, ...}
//   image.batch(32)               -> Batch{32 x 80x64x3 uint8->rescale 1/255, ...}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/element_spec.h"
#include "pipeline/params.h"

namespace sluice::data {

// Index files at most this large are read at check time (csv.index labels).
inline constexpr uintmax_t kSpecScanLimitBytes = 64ull << 20;

// The names of a binary CelebA attribute's classes, label 0 then label 1:
// "not Smiling"/"Smiling"; "Female"/"Male" for Male, whose -1 means female.
std::vector<std::string> celeba_class_names(const std::string& attribute);
// Binary label named by `label`, its classes by `class_names` (default:
// celeba_class_names), or a multi-label one when `label` names several
// attributes (or "all"); checks that `root` holds a CelebA attribute file whose
// header has the label and the extra attributes as columns.
ElementSpec celeba_index_spec(const Params& p, SpecContext& ctx);
// Label classes: the sorted sub-folder names of `root`, or their union over
// the split folders (dir_index.h); splits: the ones `split` names.
ElementSpec dir_index_spec(const Params& p, SpecContext& ctx);
// Checks the columns; below kSpecScanLimitBytes also reads the label column:
// integers give classes 0..max, names give their sorted distinct values.
ElementSpec csv_index_spec(const Params& p, SpecContext& ctx);

// Image of variable size, 3 channels, uint8; label and attributes carried on.
ElementSpec decode_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx);
// Image of width x height with the requested rescale or normalisation.
ElementSpec augment_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx);
// Batch of batch_size images of the input's geometry.
ElementSpec batch_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx);

}  // namespace sluice::data

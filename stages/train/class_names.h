// The names a classifier's outputs are shown with (binary: its two classes;
// categorical: its N classes; multi-label: its K attributes): eval.classifier's
// table, predict.csv's columns and `sluice predict`. The checkpoint's label schema
// is the source of truth (a model trained on CelebA's "Smiling" prints "Smiling"
// and "not Smiling"); names given explicitly (positive_name/negative_name,
// --positive-name/--negative-name) override it; a checkpoint that records no
// schema (written before schemas were recorded, or trained on a label no stage
// described) falls back to "positive" and "negative". Every name is printable()d:
// a control character in a checkpoint's class name does not reach the terminal raw.
#pragma once

#include <string>
#include <vector>

#include "pipeline/element_spec.h"

namespace sluice::train {

struct BinaryClassNames {
  std::string negative;  // label 0
  std::string positive;  // label 1
  std::string origin;    // where they came from, for the log
};

// `negative`/`positive`: the names given explicitly, empty when not given.
BinaryClassNames binary_class_names(const LabelSpec& recorded, const std::string& negative,
                                    const std::string& positive);

// The number of outputs a head needs for `label`: 1 for a binary (or unknown)
// label, N for a categorical one with N classes, K for a multi-label one with K
// attributes.
int label_outputs(const LabelSpec& label);

// The name of each of `outputs` outputs of a categorical or multi-label model:
// the checkpoint's class or attribute names when it records as many, else the
// output numbers "0", "1", ...
std::vector<std::string> output_names(const LabelSpec& recorded, size_t outputs);

}  // namespace sluice::train

// The names a binary classifier's two outputs are shown with: eval.classifier's
// table, predict.csv's columns and `sluice predict`. The checkpoint's label schema
// is the source of truth (a model trained on CelebA's "Smiling" prints "Smiling"
// and "not Smiling"); names given explicitly (positive_name/negative_name,
// --positive-name/--negative-name) override it; a checkpoint that records no
// schema (written before schemas were recorded, or trained on a label no stage
// described) falls back to "positive" and "negative".
#pragma once

#include <string>

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

}  // namespace sluice::train

#include "stages/train/class_names.h"

#include "pipeline/text_escape.h"

namespace sluice::train {

BinaryClassNames binary_class_names(const LabelSpec& recorded, const std::string& negative,
                                    const std::string& positive) {
  BinaryClassNames names{"negative", "positive", "no label schema in the checkpoint"};
  if (recorded.kind == LabelSpec::Kind::kBinary && recorded.names.size() == 2) {
    names = {recorded.names[0], recorded.names[1],
             "the checkpoint's label, " + recorded.to_string()};
  } else if (recorded.kind == LabelSpec::Kind::kBinary && !recorded.attribute.empty()) {
    names = {"not " + recorded.attribute, recorded.attribute,
             "the checkpoint's label, binary \"" + recorded.attribute + "\""};
  }
  if (!negative.empty() || !positive.empty()) names.origin = "given explicitly";
  if (!negative.empty()) names.negative = negative;
  if (!positive.empty()) names.positive = positive;
  // Names a checkpoint carries reach the terminal and the CSV: escaped.
  names.negative = printable(names.negative);
  names.positive = printable(names.positive);
  names.origin = printable(names.origin);
  return names;
}

int label_outputs(const LabelSpec& label) {
  switch (label.kind) {
    case LabelSpec::Kind::kCategorical:
    case LabelSpec::Kind::kMultiLabel:
      return static_cast<int>(label.names.size());
    default:
      return 1;
  }
}

std::vector<std::string> output_names(const LabelSpec& recorded, size_t outputs) {
  const bool named = (recorded.kind == LabelSpec::Kind::kCategorical ||
                      recorded.kind == LabelSpec::Kind::kMultiLabel) &&
                     recorded.names.size() == outputs;
  std::vector<std::string> names;
  if (named) {
    for (const std::string& n : recorded.names) names.push_back(printable(n));
    return names;
  }
  for (size_t i = 0; i < outputs; ++i) names.push_back(std::to_string(i));
  return names;
}

}  // namespace sluice::train

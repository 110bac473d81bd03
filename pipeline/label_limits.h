// The most classes a categorical label may have. Metrics keep per-class counts
// and a sparse confusion matrix (memory linear in classes), but a model's head
// and each batch's probabilities grow with the class count too: a manifest or
// config declaring more is refused by `sluice check` (docs/reliability.md).
#pragma once

#include <cstddef>
#include <string>

namespace sluice {

inline constexpr size_t kMaxLabelClasses = 100000;

// "declares N classes, more than the 100000 a categorical label may have"; empty
// when `classes` is within the limit.
inline std::string too_many_classes(size_t classes) {
  if (classes <= kMaxLabelClasses) return {};
  return "declares " + std::to_string(classes) + " classes, more than the " +
         std::to_string(kMaxLabelClasses) + " a categorical label may have";
}

}  // namespace sluice

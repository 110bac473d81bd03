#include "stages/train/distributed_validation.h"

#include <cmath>
#include <stdexcept>

namespace sluice::train {

void DistributedValidation::add(const std::vector<float>& probs, const Batch& b, double loss_sum) {
  if (b.size <= 0) return;
  const auto n = static_cast<size_t>(b.size);
  const size_t outputs = probs.size() / n, labels = b.labels.size() / n;
  const size_t k =
      b.attr_names && b.attrs.size() >= n * b.attr_names->size() ? b.attr_names->size() : 0;
  if (k > 0) attr_names_ = b.attr_names;
  if (count_ > 0 &&
      (static_cast<int64_t>(outputs) != outputs_ || static_cast<int64_t>(labels) != labels_ ||
       static_cast<int64_t>(k) != attrs_)) {
    throw std::runtime_error("distributed validation: " + payload_text(b) +
                             " differs in shape from the batches before it");
  }
  outputs_ = static_cast<int64_t>(outputs);
  labels_ = static_cast<int64_t>(labels);
  attrs_ = static_cast<int64_t>(k);
  for (size_t i = 0; i < n; ++i) {
    rows_.insert(rows_.end(), probs.begin() + static_cast<ptrdiff_t>(i * outputs),
                 probs.begin() + static_cast<ptrdiff_t>((i + 1) * outputs));
    for (size_t j = 0; j < labels; ++j)
      rows_.push_back(static_cast<float>(b.labels[i * labels + j]));
    for (size_t j = 0; j < k; ++j) rows_.push_back(b.attrs[i * k + j]);
  }
  loss_sum_ += loss_sum;
  count_ += b.size;
}

void DistributedValidation::clear() {
  rows_.clear();
  loss_sum_ = 0.0;
  count_ = 0;
}

void DistributedValidation::gather_into(Distributed& dist, LabelMetrics& metrics) {
  // The row layout from the ranks that have rows (a rank may have none).
  const bool has = count_ > 0;
  std::vector<double> sums = {loss_sum_,
                              static_cast<double>(count_),
                              has ? static_cast<double>(outputs_) : 0.0,
                              has ? static_cast<double>(labels_) : 0.0,
                              has ? static_cast<double>(attrs_) : 0.0,
                              has ? 1.0 : 0.0};
  dist.sum(sums);
  if (sums[5] == 0) return;  // no validation anywhere
  const auto mean = [&](double v) { return static_cast<int64_t>(std::lround(v / sums[5])); };
  const int64_t outputs = mean(sums[2]), labels = mean(sums[3]), k = mean(sums[4]);
  if (has && (outputs != outputs_ || labels != labels_ || k != attrs_)) {
    throw std::runtime_error(
        "distributed validation: ranks score different outputs, labels or attributes");
  }
  const int64_t width = outputs + labels + k;
  const auto rows = dist.all_gather_rows(rows_, width);
  const size_t n = rows.size() / static_cast<size_t>(width);
  std::vector<float> probs;
  std::vector<int64_t> label_values;
  std::vector<int8_t> attrs;
  probs.reserve(n * static_cast<size_t>(outputs));
  label_values.reserve(n * static_cast<size_t>(labels));
  for (size_t i = 0; i < n; ++i) {
    const float* row = rows.data() + i * static_cast<size_t>(width);
    probs.insert(probs.end(), row, row + outputs);
    for (int64_t j = 0; j < labels; ++j) {
      label_values.push_back(static_cast<int64_t>(std::lround(row[outputs + j])));
    }
    for (int64_t j = 0; j < k; ++j) attrs.push_back(static_cast<int8_t>(row[outputs + labels + j]));
  }
  metrics.add_batch(probs, label_values, attr_names_ && k > 0 ? attr_names_ : nullptr, attrs);
  metrics.add_loss(sums[0], static_cast<int64_t>(sums[1]));
}

}  // namespace sluice::train

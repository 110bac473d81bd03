// Binary classification metrics (accuracy, precision, recall, F1, ROC AUC, confusion
// matrix) accumulated over batches, with accuracy broken down by other attributes
// (e.g. Eyeglasses, Young) so users see where a model fails. No Torch here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::train {

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t total() const { return tp + fp + tn + fn; }
};

// Accuracy of the samples whose attribute is +1 and of those whose attribute is -1.
struct AttributeAccuracy {
  std::string name;
  int64_t positive_count = 0, positive_correct = 0;
  int64_t negative_count = 0, negative_correct = 0;
};

struct MetricsReport {
  int64_t count = 0;
  double loss = 0.0;  // mean binary cross-entropy; NaN when no loss was recorded
  double accuracy = 0.0, precision = 0.0, recall = 0.0, f1 = 0.0;
  double roc_auc = 0.0;  // NaN when only one class is present
  Confusion confusion;
  std::vector<AttributeAccuracy> attributes;

  nlohmann::json to_json() const;
  // A readable table: the scores, the confusion matrix, the attribute breakdown.
  std::string to_table(const std::string& positive_name = "positive",
                       const std::string& negative_name = "negative") const;
};

class BinaryMetrics {
 public:
  explicit BinaryMetrics(double threshold = 0.5) : threshold_(threshold) {}

  // One sample: P(label == 1), the true label (0/1), attribute values (-1/1).
  void add(float probability, int64_t label);
  // A batch: `attrs` is row-major size x attr_names.size() (may be empty).
  void add_batch(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                 const std::shared_ptr<const std::vector<std::string>>& attr_names,
                 const std::vector<int8_t>& attrs);
  void add_loss(double loss_sum, int64_t count);
  void reset();

  int64_t count() const { return static_cast<int64_t>(scores_.size()); }
  MetricsReport report() const;

 private:
  double threshold_;
  std::vector<std::pair<float, int8_t>> scores_;  // (probability, label)
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
  std::shared_ptr<const std::vector<std::string>> attr_names_;
  std::vector<AttributeAccuracy> attributes_;
};

// Area under the ROC curve of (score, label) pairs; ties count one half.
double roc_auc(std::vector<std::pair<float, int8_t>> scores);

// One line per epoch to metrics.jsonl and a row to metrics.csv in `dir`, appending to
// what is there (a resumed run continues the same files).
class MetricsLog {
 public:
  explicit MetricsLog(std::string dir);
  void write(const std::vector<std::pair<std::string, double>>& record);

 private:
  std::string dir_;
};

}  // namespace sluice::train

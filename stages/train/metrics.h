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

// The values train.vgg records per epoch, in column order. Their names are the one
// list of epoch metric names: metrics.csv's header, metrics.jsonl's keys, the words
// of the epoch log line and the values `monitor` accepts all come from it.
enum class EpochMetric {
  kEpoch,
  kLoss,
  kAccuracy,
  kValLoss,
  kValAccuracy,
  kValPrecision,
  kValRecall,
  kValF1,
  kValAuc,
  kValTop5Accuracy,  // categorical labels of 5 classes or more
  kTrainImages,
  kValImages,
  kImagesPerSecond,
  kSeconds,
  kLearningRate,  // the optimizer's, at the epoch's end
};

struct EpochMetricInfo {
  EpochMetric metric;
  const char* name;  // "val_accuracy"
  bool monitorable;  // a score or loss early stopping may watch
  bool integral;     // a count (epoch, images): written as an integer, 3 not 3.0
};

// Every epoch metric, in column order.
const std::vector<EpochMetricInfo>& epoch_metrics();
const char* epoch_metric_name(EpochMetric metric);
// Whether `name` is an epoch metric that counts (epoch, train_images, val_images).
bool epoch_metric_is_integral(const std::string& name);
// What train.vgg's `monitor` accepts: the monitorable metrics' names, then the
// abbreviations earlier epoch log lines printed ("acc", "val_acc") as aliases.
std::vector<std::string> monitor_names();
// The metric a monitor name stands for: "val_acc" -> "val_accuracy"; other names
// are returned unchanged.
std::string canonical_metric_name(const std::string& name);

// One epoch's values (NaN where there is none, written as null / an empty cell).
class EpochRecord {
 public:
  EpochRecord();
  void set(EpochMetric metric, double value);
  double get(EpochMetric metric) const;
  // By name or alias; NaN for a name that is not an epoch metric.
  double get(const std::string& name) const;
  // (name, value) in column order.
  std::vector<std::pair<std::string, double>> items() const;
  // "epoch 3: loss 0.2000 accuracy 0.9100 | val_loss ... | 812.5 img/s, 1m 02s":
  // every value named as in metrics.csv.
  std::string log_line(const std::string& duration) const;

 private:
  std::vector<double> values_;
};

// One line per epoch to metrics.jsonl and a row to metrics.csv in `dir`, appending to
// what is there (a resumed run continues the same files, see keep_epochs).
class MetricsLog {
 public:
  explicit MetricsLog(std::string dir);
  void write(const std::vector<std::pair<std::string, double>>& record);
  void write(const EpochRecord& record) { write(record.items()); }
  // A run resuming from a checkpoint with `epochs_done` epochs: drops the rows of
  // later epochs from both files (rewritten atomically), so that the epochs the
  // resumed run redoes are not listed twice. Returns how many rows were dropped.
  int64_t keep_epochs(int64_t epochs_done);

 private:
  std::string dir_;
};

}  // namespace sluice::train

// Metrics for each label kind, accumulated over batches of predictions (no Torch):
//   binary       BinaryMetrics (metrics.h): accuracy, precision, recall, F1, ROC AUC,
//                the 2 x 2 confusion matrix, accuracy by attribute;
//   categorical  top-1 and top-5 accuracy, per-class precision/recall/F1 (and their
//                macro means), the confusion matrix (sparse: the cells that are not
//                zero; memory linear in classes and images, never classes squared);
//   multi-label  per-attribute accuracy, precision, recall, F1 and ROC AUC, and the
//                mean of each over the attributes.
// LabelMetrics picks the one for a label kind, for train.vgg's validation and
// eval.classifier, and reduces each to the scores an epoch record holds.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/element_spec.h"
#include "stages/train/metrics.h"

namespace sluice::train {

struct ClassScores {
  std::string name;
  int64_t support = 0;  // images of this class
  double precision = 0.0, recall = 0.0, f1 = 0.0;
};

struct CategoricalReport {
  int64_t count = 0;
  double loss = 0.0;  // mean cross-entropy; NaN when none was recorded
  double top1 = 0.0, top5 = 0.0;
  double macro_precision = 0.0, macro_recall = 0.0, macro_f1 = 0.0;  // over classes present
  std::vector<ClassScores> classes;
  // (true class, predicted class) -> images, for the cells that are not zero.
  std::map<std::pair<size_t, size_t>, int64_t> confusion;

  int64_t confused(size_t truth, size_t predicted) const;
  // The confusion matrix as "rows" ([true][predicted]) up to kDenseConfusionClasses
  // classes, as "cells" ([true, predicted, images], non-zero only) above.
  nlohmann::json to_json() const;
  // The matrix itself up to kTableConfusionClasses classes; above, the most
  // frequent confusions.
  std::string to_table() const;
};

inline constexpr size_t kDenseConfusionClasses = 100;
inline constexpr size_t kTableConfusionClasses = 30;

class CategoricalMetrics {
 public:
  explicit CategoricalMetrics(std::vector<std::string> class_names);
  // `probabilities`: images x classes, row-major; `labels`: one class id per image.
  void add_batch(const std::vector<float>& probabilities, const std::vector<int64_t>& labels);
  void add_loss(double loss_sum, int64_t count);
  void reset();
  CategoricalReport report() const;

 private:
  std::vector<std::string> names_;
  std::map<std::pair<size_t, size_t>, int64_t> confusion_;
  std::vector<int64_t> support_, predicted_;  // per class: images of it, predictions of it
  std::vector<size_t> order_;                 // scratch for add_batch
  int64_t count_ = 0, top1_ = 0, top5_ = 0;
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
};

struct AttributeScores {
  std::string name;
  int64_t positives = 0;  // images with the attribute
  double accuracy = 0.0, precision = 0.0, recall = 0.0, f1 = 0.0;
  double roc_auc = 0.0;  // NaN when only one class is present
};

struct MultiLabelReport {
  int64_t count = 0;
  double loss = 0.0;  // mean over images of the attributes' mean BCE; NaN when none
  std::vector<AttributeScores> attributes;
  // Means over the attributes (AUC: over those where it is defined).
  double mean_accuracy = 0.0, mean_precision = 0.0, mean_recall = 0.0, mean_f1 = 0.0;
  double mean_auc = 0.0;

  nlohmann::json to_json() const;
  std::string to_table() const;
};

class MultiLabelMetrics {
 public:
  MultiLabelMetrics(std::vector<std::string> attribute_names, double threshold = 0.5);
  // `probabilities` and `labels`: images x attributes, row-major.
  void add_batch(const std::vector<float>& probabilities, const std::vector<int64_t>& labels);
  void add_loss(double loss_sum, int64_t count);
  void reset();
  MultiLabelReport report() const;

 private:
  std::vector<std::string> names_;
  double threshold_;
  std::vector<std::vector<std::pair<float, int8_t>>> scores_;  // per attribute
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
};

// The values of a validation pass an epoch record holds: accuracy is top-1
// (categorical) or the mean per-attribute accuracy (multi-label); precision,
// recall, F1 and AUC are macro means (categorical: no AUC, NaN). top5: categorical
// labels of 5 classes or more (NaN otherwise, where it is always 1).
struct ValidationScores {
  int64_t count = 0;
  double loss = 0.0, accuracy = 0.0, precision = 0.0, recall = 0.0, f1 = 0.0, auc = 0.0;
  double top5 = std::numeric_limits<double>::quiet_NaN();
};

class LabelMetrics {
 public:
  // `outputs`: the model's outputs per image; names from output_names (class_names.h).
  LabelMetrics(LabelSpec::Kind kind, std::vector<std::string> output_names, double threshold = 0.5);
  LabelSpec::Kind kind() const { return kind_; }
  // A batch's predictions (images x outputs) against its labels; attributes feed the
  // binary accuracy breakdown only.
  void add_batch(const std::vector<float>& probabilities, const std::vector<int64_t>& labels,
                 const std::shared_ptr<const std::vector<std::string>>& attr_names,
                 const std::vector<int8_t>& attrs);
  void add_loss(double loss_sum, int64_t count);
  void reset();
  ValidationScores scores() const;
  nlohmann::json to_json() const;
  // Binary: the names of label 1 and label 0 head the confusion matrix.
  std::string to_table(const std::string& positive_name, const std::string& negative_name) const;

 private:
  LabelSpec::Kind kind_;
  BinaryMetrics binary_;
  CategoricalMetrics categorical_;
  MultiLabelMetrics multi_;
};

}  // namespace sluice::train

// The evaluation part of `sluice report`: eval.classifier's eval.json (scores,
// confusion matrix, attribute breakdown) and eval_predictions.csv (per-image
// scores), from which the ROC curve and the most confidently wrong images come.
#pragma once

#include <filesystem>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/sluice/report_run.h"

namespace sluice::cli {

// Adds "eval", "roc" and "wrong" to `run` (or notes saying what is absent).
void add_evaluation(const std::filesystem::path& dir, const ReportOptions& options,
                    nlohmann::json& run);

// The ROC curve of (score, label 0/1) pairs: false and true positive rates with
// every distinct score taken as threshold, from (0, 0) to (1, 1). Empty when a
// class is absent.
struct RocCurve {
  std::vector<double> fpr, tpr;
};
RocCurve roc_curve(std::vector<std::pair<double, int>> scores);

}  // namespace sluice::cli

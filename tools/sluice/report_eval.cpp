#include "tools/sluice/report_eval.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tools/sluice/report_images.h"

namespace sluice::cli {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c != '\r') {
      cells.back() += c;
    }
  }
  return cells;
}

RocCurve roc_curve(std::vector<std::pair<double, int>> scores) {
  RocCurve roc;
  const auto positives =
      std::count_if(scores.begin(), scores.end(), [](const auto& s) { return s.second == 1; });
  const auto negatives = static_cast<int64_t>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return roc;
  std::sort(scores.begin(), scores.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  int64_t tp = 0, fp = 0;
  roc.fpr.push_back(0.0);
  roc.tpr.push_back(0.0);
  for (size_t i = 0; i < scores.size(); ++i) {
    (scores[i].second == 1 ? tp : fp) += 1;
    // One point per threshold: after the last sample of a run of equal scores.
    if (i + 1 == scores.size() || scores[i + 1].first != scores[i].first) {
      roc.fpr.push_back(static_cast<double>(fp) / static_cast<double>(negatives));
      roc.tpr.push_back(static_cast<double>(tp) / static_cast<double>(positives));
    }
  }
  return roc;
}

namespace {

struct Prediction {
  std::string id, path;
  int label = 0;
  double score = 0.0;
};

std::vector<Prediction> read_predictions(const fs::path& path) {
  std::istringstream in(read_report_file(path));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split_csv_line(line);
  if (header != std::vector<std::string>{"id", "path", "label", "score"}) {
    throw ReportError(path.string() + ":1: expected the header id,path,label,score");
  }
  std::vector<Prediction> rows;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = split_csv_line(line);
    Prediction p;
    char* end = nullptr;
    bool ok = cells.size() == 4;
    if (ok) {
      p.id = cells[0];
      p.path = cells[1];
      p.label = static_cast<int>(std::strtol(cells[2].c_str(), &end, 10));
      ok = end != cells[2].c_str() && *end == '\0';
      p.score = std::strtod(cells[3].c_str(), &end);
      ok = ok && end != cells[3].c_str() && *end == '\0' && std::isfinite(p.score);
    }
    if (!ok) {
      throw ReportError(path.string() + ":" + std::to_string(line_no) +
                        ": expected id,path,label,score with a numeric label and score");
    }
    rows.push_back(std::move(p));
  }
  return rows;
}

// The wrongly classified images, most confident first.
json most_confidently_wrong(std::vector<Prediction> rows, double threshold,
                            const ReportOptions& options) {
  const auto wrongness = [](const Prediction& p) { return p.label == 1 ? 1 - p.score : p.score; };
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const Prediction& p) {
                              return (p.label != 0 && p.label != 1) ||
                                     (p.score >= threshold) == (p.label == 1);
                            }),
             rows.end());
  std::stable_sort(rows.begin(), rows.end(), [&](const Prediction& a, const Prediction& b) {
    return wrongness(a) > wrongness(b);
  });
  if (rows.size() > options.wrong) rows.resize(options.wrong);
  json out = json::array();
  for (const Prediction& p : rows) {
    out.push_back({{"id", p.id},
                   {"path", p.path},
                   {"label", p.label},
                   {"score", p.score},
                   {"image", image_file_data_uri(p.path, options.image_side)}});
  }
  return out;
}

}  // namespace

void add_evaluation(const fs::path& dir, const ReportOptions& options, json& run) {
  const fs::path report = dir / "eval.json";
  std::error_code ec;
  if (!fs::is_regular_file(report, ec)) {
    run["notes"].push_back(
        "no eval.json (eval.classifier with report = \"RUN_DIR/eval.json\" writes it): no "
        "evaluation");
    return;
  }
  json eval = parse_report_json(report);
  if (!eval.is_object() || !eval.contains("confusion")) {
    throw ReportError(report.string() + ": not an eval.classifier report (no \"confusion\")");
  }
  run["eval"] = eval;
  const fs::path scores = dir / "eval_predictions.csv";
  if (!fs::is_regular_file(scores, ec)) {
    run["notes"].push_back(
        "no eval_predictions.csv beside eval.json: no ROC curve or wrong images");
    return;
  }
  const std::vector<Prediction> rows = read_predictions(scores);
  std::vector<std::pair<double, int>> pairs;
  for (const Prediction& p : rows) {
    if (p.label == 0 || p.label == 1) pairs.emplace_back(p.score, p.label);
  }
  const RocCurve roc = roc_curve(pairs);
  if (roc.fpr.empty()) {
    run["notes"].push_back("eval_predictions.csv holds one class only: no ROC curve");
  } else {
    run["roc"] = {{"fpr", roc.fpr}, {"tpr", roc.tpr}};
  }
  const double threshold = eval.value("threshold", 0.5);
  run["wrong"] = most_confidently_wrong(rows, threshold, options);
}

}  // namespace sluice::cli

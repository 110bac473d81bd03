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

// One row of eval_predictions.csv: the label(s) and score(s) of its label kind
// (binary: one of each; categorical: the class id and a probability per class;
// multi-label: a 0/1 and a probability per attribute).
struct Prediction {
  std::string id, path;
  std::vector<int> labels;
  std::vector<double> scores;
};

// What eval.json says about the scores file: the kind and its output names.
struct ScoreLayout {
  std::string kind;  // "binary", "categorical", "multi-label"
  std::vector<std::string> names;

  std::vector<std::string> header() const {
    std::vector<std::string> h = {"id", "path"};
    if (kind != "multi-label") h.push_back("label");
    if (kind == "binary") h.push_back("score");
    for (const auto& n : kind == "binary" ? std::vector<std::string>{} : names) {
      if (kind == "multi-label") h.push_back(n);
      h.push_back("p_" + n);
    }
    return h;
  }
};

std::string joined(const std::vector<std::string>& cells) {
  std::string s;
  for (const auto& c : cells) s += (s.empty() ? "" : ",") + c;
  return s;
}

bool parse_int(const std::string& text, int& out) {
  char* end = nullptr;
  out = static_cast<int>(std::strtol(text.c_str(), &end, 10));
  return end != text.c_str() && *end == '\0';
}

bool parse_score(const std::string& text, double& out) {
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != text.c_str() && *end == '\0' && std::isfinite(out);
}

// The cells after id and path: binary and categorical a label then scores,
// multi-label (label, score) pairs.
bool parse_values(const std::vector<std::string>& cells, const ScoreLayout& layout, Prediction& p) {
  const bool multi = layout.kind == "multi-label";
  for (size_t c = 2; c < cells.size(); ++c) {
    const bool is_label = multi ? c % 2 == 0 : c == 2;
    if (is_label) {
      int label = 0;
      if (!parse_int(cells[c], label)) return false;
      p.labels.push_back(label);
    } else {
      double score = 0.0;
      if (!parse_score(cells[c], score)) return false;
      p.scores.push_back(score);
    }
  }
  return true;
}

std::vector<Prediction> read_predictions(const fs::path& path, const ScoreLayout& layout) {
  std::istringstream in(read_report_file(path));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> expected = layout.header();
  if (split_csv_line(line) != expected) {
    throw ReportError(path.string() + ":1: expected the header " + joined(expected) + " (the " +
                      layout.kind + " label of eval.json)");
  }
  std::vector<Prediction> rows;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = split_csv_line(line);
    Prediction p;
    if (cells.size() != expected.size() || !parse_values(cells, layout, p)) {
      throw ReportError(path.string() + ":" + std::to_string(line_no) + ": expected " +
                        joined(expected) + " with numeric labels and scores");
    }
    p.id = cells[0];
    p.path = cells[1];
    rows.push_back(std::move(p));
  }
  return rows;
}

// A recorded image path: as written when it is absolute or found from here, else
// relative to the folder the run was started from (older runs wrote relative paths).
std::string image_path(const std::string& path, const std::string& working_dir) {
  std::error_code ec;
  if (path.empty() || fs::path(path).is_absolute() || working_dir.empty() || fs::exists(path, ec)) {
    return path;
  }
  return (fs::path(working_dir) / path).string();
}

// An image as a data URI; one that cannot be read is named in run["warnings"].
std::string inline_image(const std::string& recorded, json& run, const ReportOptions& options) {
  const std::string path = image_path(recorded, run.value("working_dir", std::string()));
  std::string uri = image_file_data_uri(path, options.image_side);
  if (uri.empty()) run["warnings"].push_back("image not readable: " + path);
  return uri;
}

// How wrong a prediction is (higher: more confidently wrong) and what it got wrong;
// not wrong: a negative wrongness.
struct Wrongness {
  double confidence = -1.0;
  json what;  // the fields the page shows
};

Wrongness binary_wrongness(const Prediction& p, double threshold, const ScoreLayout&) {
  const int label = p.labels[0];
  const double score = p.scores[0];
  if ((label != 0 && label != 1) || (score >= threshold) == (label == 1)) return {};
  return {label == 1 ? 1 - score : score, {{"label", label}, {"score", score}}};
}

Wrongness categorical_wrongness(const Prediction& p, double, const ScoreLayout& layout) {
  const auto best = std::max_element(p.scores.begin(), p.scores.end()) - p.scores.begin();
  const int label = p.labels[0];
  if (label < 0 || static_cast<size_t>(label) >= layout.names.size() || best == label) return {};
  return {p.scores[static_cast<size_t>(best)],
          {{"label", layout.names[static_cast<size_t>(label)]},
           {"predicted", layout.names[static_cast<size_t>(best)]},
           {"score", p.scores[static_cast<size_t>(best)]}}};
}

// Multi-label: the attribute the image is most confidently wrong about.
Wrongness multi_label_wrongness(const Prediction& p, double threshold, const ScoreLayout& layout) {
  Wrongness worst;
  for (size_t k = 0; k < p.scores.size(); ++k) {
    const bool truth = p.labels[k] != 0;
    if ((p.scores[k] >= threshold) == truth) continue;
    const double confidence = truth ? 1 - p.scores[k] : p.scores[k];
    if (confidence <= worst.confidence) continue;
    worst = {confidence,
             {{"attribute", layout.names[k]}, {"label", truth ? 1 : 0}, {"score", p.scores[k]}}};
  }
  return worst;
}

// The wrongly classified images, most confident first.
json most_confidently_wrong(const std::vector<Prediction>& rows, double threshold,
                            const ScoreLayout& layout, const ReportOptions& options, json& run) {
  const auto measure = layout.kind == "categorical"   ? categorical_wrongness
                       : layout.kind == "multi-label" ? multi_label_wrongness
                                                      : binary_wrongness;
  std::vector<std::pair<const Prediction*, Wrongness>> wrong;
  for (const Prediction& p : rows) {
    Wrongness w = measure(p, threshold, layout);
    if (w.confidence >= 0) wrong.emplace_back(&p, std::move(w));
  }
  std::stable_sort(wrong.begin(), wrong.end(), [](const auto& a, const auto& b) {
    return a.second.confidence > b.second.confidence;
  });
  if (wrong.size() > options.wrong) wrong.resize(options.wrong);
  json out = json::array();
  for (auto& [p, w] : wrong) {
    w.what["id"] = p->id;
    w.what["path"] = p->path;
    w.what["image"] = inline_image(p->path, run, options);
    out.push_back(std::move(w.what));
  }
  return out;
}

// Checks the parts of eval.json the page draws for its label kind; returns the
// layout of the scores file beside it.
ScoreLayout check_report(const fs::path& path, const json& eval) {
  const auto bad = [&](const std::string& why) {
    return ReportError(path.string() + ": not an eval.classifier report (" + why + ")");
  };
  if (!eval.is_object()) throw bad("not a JSON object");
  ScoreLayout layout;
  layout.kind = eval.contains("kind") && eval["kind"].is_string() ? eval["kind"].get<std::string>()
                                                                  : std::string("binary");
  if (layout.kind == "binary") {
    if (!eval.contains("confusion") || !eval["confusion"].is_object())
      throw bad("no \"confusion\"");
    return layout;
  }
  if (layout.kind == "categorical") {
    const json& c = eval.value("confusion", json());
    if (!c.is_object() || !c.contains("classes") || !c["classes"].is_array() ||
        !c.contains("rows") || !c["rows"].is_array() || c["rows"].size() != c["classes"].size()) {
      throw bad("a categorical report needs \"confusion\" with \"classes\" and as many \"rows\"");
    }
    for (const auto& name : c["classes"]) {
      if (!name.is_string()) throw bad("a class name in \"confusion\" is not a string");
      layout.names.push_back(name.get<std::string>());
    }
    return layout;
  }
  if (layout.kind == "multi-label") {
    if (!eval.contains("attributes") || !eval["attributes"].is_array()) {
      throw bad("a multi-label report needs an \"attributes\" list");
    }
    for (const auto& a : eval["attributes"]) {
      if (!a.is_object() || !a.contains("attribute") || !a["attribute"].is_string()) {
        throw bad("an entry of \"attributes\" has no \"attribute\" name");
      }
      layout.names.push_back(a["attribute"].get<std::string>());
    }
    return layout;
  }
  throw bad("unknown kind \"" + layout.kind + "\"; known: binary, categorical, multi-label");
}

// ROC curves of the scores: one for a binary label, one per attribute of a
// multi-label one (none for a categorical label).
void add_roc_curves(const std::vector<Prediction>& rows, const ScoreLayout& layout, json& run) {
  if (layout.kind == "categorical") return;
  const size_t curves = layout.kind == "binary" ? 1 : layout.names.size();
  json per_attribute = json::array();
  for (size_t k = 0; k < curves; ++k) {
    std::vector<std::pair<double, int>> pairs;
    for (const Prediction& p : rows) {
      if (p.labels[k] == 0 || p.labels[k] == 1) pairs.emplace_back(p.scores[k], p.labels[k]);
    }
    const RocCurve roc = roc_curve(pairs);
    const std::string name = layout.kind == "binary" ? "" : layout.names[k];
    if (roc.fpr.empty()) {
      run["notes"].push_back("eval_predictions.csv holds one class only" +
                             (name.empty() ? "" : " of " + name) + ": no ROC curve");
    } else if (layout.kind == "binary") {
      run["roc"] = {{"fpr", roc.fpr}, {"tpr", roc.tpr}};
    } else {
      per_attribute.push_back({{"attribute", name}, {"fpr", roc.fpr}, {"tpr", roc.tpr}});
    }
  }
  if (layout.kind == "multi-label") run["roc_attributes"] = per_attribute;
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
  const ScoreLayout layout = check_report(report, eval);
  run["eval"] = eval;
  const fs::path scores = dir / "eval_predictions.csv";
  if (!fs::is_regular_file(scores, ec)) {
    run["notes"].push_back("no eval_predictions.csv beside eval.json: no " +
                           std::string(layout.kind == "categorical" ? "" : "ROC curve or ") +
                           "wrong images");
    return;
  }
  const std::vector<Prediction> rows = read_predictions(scores, layout);
  add_roc_curves(rows, layout, run);
  const double threshold = eval.value("threshold", 0.5);
  run["wrong"] = most_confidently_wrong(rows, threshold, layout, options, run);
}

}  // namespace sluice::cli

#include "tools/sluice/report_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "pipeline/file_read.h"
#include "stages/train/early_stopping.h"
#include "stages/train/metrics.h"
#include "stages/train/run_dir.h"
#include "tools/sluice/preview_images.h"
#include "tools/sluice/report_eval.h"
#include "tools/sluice/report_images.h"

namespace sluice::cli {
namespace fs = std::filesystem;
using nlohmann::json;

std::string read_report_file(const fs::path& path) {
  // As every input: a FIFO or a device in a run folder is refused, not waited on.
  std::string text;
  const FileReadResult r = try_read_regular_file(path.string(), kMaxIndexBytes, "run file", text);
  if (r.status == FileReadStatus::kCannotOpen)
    throw ReportError(path.string() + ": cannot be read");
  if (!r.ok()) throw ReportError(r.message);
  return text;
}

json parse_report_json(const fs::path& path) {
  try {
    return json::parse(read_report_file(path));
  } catch (const json::parse_error& e) {
    throw ReportError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

namespace {

bool has_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// {"columns": [names in order of appearance], "values": {name: [value or null per row]}}.
json columns_of(const std::vector<json>& rows) {
  json columns = json::array(), values = json::object();
  for (const json& row : rows) {
    for (const auto& [name, v] : row.items()) {
      if (!values.contains(name)) {
        columns.push_back(name);
        values[name] = json::array();
      }
    }
  }
  for (const auto& name : columns) {
    for (const json& row : rows) {
      const auto it = row.find(name.get<std::string>());
      values[name.get<std::string>()].push_back(it != row.end() && it->is_number() ? *it : json());
    }
  }
  return {{"columns", columns}, {"values", values}};
}

std::vector<json> read_metrics_jsonl(const fs::path& path) {
  std::istringstream in(read_report_file(path));
  std::vector<json> rows;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object()) {
      throw ReportError(path.string() + ":" + std::to_string(line_no) +
                        ": not a JSON object of epoch metrics");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<json> read_metrics_csv(const fs::path& path) {
  std::istringstream in(read_report_file(path));
  std::vector<json> rows;
  std::string line;
  if (!std::getline(in, line)) return rows;
  const std::vector<std::string> header = split_csv_line(line);
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::vector<std::string> cells = split_csv_line(line);
    if (cells.size() != header.size()) {
      throw ReportError(path.string() + ":" + std::to_string(line_no) + ": " +
                        std::to_string(cells.size()) + " cells, the header has " +
                        std::to_string(header.size()));
    }
    json row = json::object();
    for (size_t i = 0; i < cells.size(); ++i) {
      if (cells[i].empty()) continue;
      char* end = nullptr;
      const double v = std::strtod(cells[i].c_str(), &end);
      if (end == cells[i].c_str() || *end != '\0') {
        throw ReportError(path.string() + ":" + std::to_string(line_no) + ": " + header[i] +
                          " is not a number: '" + cells[i] + "'");
      }
      row[header[i]] = v;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// The training stage's table of the recorded config: the one with a `monitor`.
const toml::table* training_stage(const toml::table& config) {
  const toml::table* stages = config["stages"].as_table();
  if (!stages) return nullptr;
  for (const auto& [id, node] : *stages) {
    const toml::table* t = node.as_table();
    if (t && t->contains("monitor") && t->contains("patience")) return t;
  }
  return nullptr;
}

// Replays train.vgg's early stopping over the recorded epochs: the best epoch of
// the monitored metric and the epoch training stopped at (absent when it ran on).
json replay_early_stopping(const toml::table& stage, const json& metrics) {
  const std::string monitor =
      train::canonical_metric_name(stage["monitor"].value_or(std::string("val_loss")));
  train::EarlyStopping stopping(
      monitor, train::parse_monitor_mode(stage["mode"].value_or(std::string("auto"))),
      stage["patience"].value_or(int64_t{2}), stage["min_delta"].value_or(0.0));
  const json& values = metrics["values"];
  if (!values.contains(monitor) || !values.contains("epoch")) return nullptr;
  const json& epochs = values["epoch"];
  const json& monitored = values[monitor];
  for (size_t i = 0; i < epochs.size(); ++i) {
    if (!epochs[i].is_number() || !monitored[i].is_number()) continue;
    stopping.update(epochs[i].get<int64_t>(), monitored[i].get<double>());
  }
  const auto& s = stopping.state();
  json out = {{"metric", monitor},
              {"minimize", stopping.minimize()},
              {"patience", stage["patience"].value_or(int64_t{2})}};
  if (s.best_epoch >= 0) {
    out["best_epoch"] = s.best_epoch;
    out["best"] = s.best;
  }
  if (s.stopped_epoch >= 0) out["stopped_epoch"] = s.stopped_epoch;
  return out;
}

void add_metrics(const fs::path& dir, json& run) {
  std::vector<json> rows;
  if (has_file(dir / "metrics.jsonl")) {
    rows = read_metrics_jsonl(dir / "metrics.jsonl");
  } else if (has_file(dir / "metrics.csv")) {
    rows = read_metrics_csv(dir / "metrics.csv");
  } else {
    run["notes"].push_back("no metrics.jsonl or metrics.csv: no learning curves");
    return;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
    return a.value("epoch", 0.0) < b.value("epoch", 0.0);
  });
  run["metrics"] = columns_of(rows);
}

// The folder the run was started from, as its recorded config's first line names
// it ("" for configs recorded before that line existed).
std::string recorded_working_directory(const std::string& config) {
  std::istringstream in(config);
  const std::string& prefix = train::kWorkingDirectoryComment;
  for (std::string line; std::getline(in, line) && !line.empty() && line[0] == '#';) {
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  }
  return {};
}

void add_config(const fs::path& dir, json& run) {
  const fs::path path = dir / "config.toml";
  if (!has_file(path)) {
    run["notes"].push_back("no config.toml: no recorded config, best epoch or samples");
    return;
  }
  run["config"] = read_report_file(path);
  toml::table config;
  try {
    config = toml::parse(run["config"].get<std::string>(), path.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw ReportError(os.str());
  }
  const std::string working_dir = recorded_working_directory(run["config"].get<std::string>());
  if (!working_dir.empty()) run["working_dir"] = working_dir;
  const toml::table* stage = training_stage(config);
  if (stage && run.contains("metrics"))
    run["early_stopping"] = replay_early_stopping(*stage, run["metrics"]);
}

// The process's working directory moved to `to` while it lives (when `to` names
// a folder), then back.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const std::string& to) {
    std::error_code ec;
    if (to.empty() || !fs::is_directory(to, ec)) return;
    saved_ = fs::current_path(ec);
    if (!ec) fs::current_path(to, ec);
    moved_ = !ec;
  }
  ~WorkingDirectory() {
    std::error_code ec;
    if (moved_) fs::current_path(saved_, ec);
  }
  WorkingDirectory(const WorkingDirectory&) = delete;
  WorkingDirectory& operator=(const WorkingDirectory&) = delete;

 private:
  fs::path saved_;
  bool moved_ = false;
};

// Renders the first augmented training images of the recorded config, as `sluice
// preview` does, from the folder the run was started from (its relative paths are
// relative to it); the dataset must still be where the config says.
void add_samples(const fs::path& dir, const ReportOptions& options, json& run) {
  if (options.samples == 0 || !run.contains("config")) return;
  const std::string config = fs::absolute(dir / "config.toml").string();
  const std::string working_dir = run.value("working_dir", std::string());
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);  // the index's info lines are not the report's
  PreviewImages preview;
  {
    WorkingDirectory from(working_dir);
    preview = preview_images(config, {}, options.samples);
  }
  spdlog::set_level(level);
  if (preview.code != 0) {
    std::string why = preview.error;
    for (const auto& d : preview.diagnostics) why += (why.empty() ? "" : "; ") + d.message;
    std::error_code ec;
    if (!working_dir.empty()) {
      why += " (relative paths are from " + working_dir + ", where the run was started" +
             (fs::is_directory(working_dir, ec) ? ")" : "; it is gone)");
    }
    run["warnings"].push_back("no augmented samples: rendering them from config.toml failed: " +
                              why);
    run["notes"].push_back(run["warnings"].back());
    return;
  }
  json images = json::array();
  for (const Image& im : preview.images) {
    json item = {{"id", im.sample.id},
                 {"split", im.sample.split},
                 {"label", im.sample.label},
                 {"image", image_data_uri(im, options.image_side)}};
    if (!im.sample.label_values.empty()) item["label_values"] = im.sample.label_values;
    images.push_back(std::move(item));
  }
  run["samples"] = {{"stage", preview.tap}, {"images", images}};
}

void add_profile(const fs::path& dir, json& run) {
  const fs::path path = dir / "profile.json";
  if (!has_file(path)) {
    run["notes"].push_back(
        "no profile.json (written by `sluice run` into the run folder): no "
        "per-stage profile");
    return;
  }
  json profile = parse_report_json(path);
  if (!profile.is_object() || !profile.contains("stages") || !profile["stages"].is_array()) {
    throw ReportError(path.string() + ": not a sluice profile (no \"stages\" list)");
  }
  run["profile"] = std::move(profile);
}

}  // namespace

json load_run(const std::string& dir_name, const ReportOptions& options) {
  const fs::path dir(dir_name);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ReportError(dir_name + ": no such run folder");
  json run = {{"dir", dir_name}, {"notes", json::array()}};
  fs::path name = dir.filename().empty() ? dir.parent_path().filename() : dir.filename();
  run["name"] = name.string();
  const bool any = has_file(dir / "metrics.jsonl") || has_file(dir / "metrics.csv") ||
                   has_file(dir / "config.toml") || has_file(dir / "profile.json") ||
                   has_file(dir / "eval.json");
  if (!any) {
    throw ReportError(dir_name +
                      ": not a run folder (none of metrics.jsonl, metrics.csv, config.toml, "
                      "profile.json, eval.json is there)");
  }
  add_metrics(dir, run);
  add_config(dir, run);
  add_evaluation(dir, options, run);
  add_samples(dir, options, run);
  add_profile(dir, run);
  return run;
}

}  // namespace sluice::cli

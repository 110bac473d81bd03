// What `sluice report` shows of one run folder, gathered as JSON for the page:
// the per-epoch metrics (metrics.jsonl, else metrics.csv) with the best epoch and
// the early stop replayed from the recorded config (config.toml), the evaluation
// (eval.json, eval_predictions.csv: ROC curve, most confidently wrong images),
// augmented samples rendered from config.toml, the profile (profile.json) and the
// config itself. A file that is absent becomes a note; one that cannot be read or
// parsed throws ReportError naming it (and the line). Relative paths of the run
// (the dataset, images) are resolved from the folder the run was started from,
// which the recorded config names; images that cannot be read anyway are listed in
// the run's "warnings" (for stderr).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::cli {

struct ReportError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ReportOptions {
  size_t samples = 16;   // augmented training images to render (0: none)
  size_t wrong = 12;     // most confidently wrong test images to show
  int image_side = 128;  // longest side of an inlined image, in pixels
};

nlohmann::json load_run(const std::string& dir, const ReportOptions& options);

// The reading steps, each throwing ReportError naming the file.
std::string read_report_file(const std::filesystem::path& path);
nlohmann::json parse_report_json(const std::filesystem::path& path);
// The cells of one CSV line (RFC 4180 quoting).
std::vector<std::string> split_csv_line(const std::string& line);

}  // namespace sluice::cli

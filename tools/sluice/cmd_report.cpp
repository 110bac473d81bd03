// `sluice report RUN_DIR [RUN_DIR...] [-o report.html]`: one self-contained HTML
// page of training runs (learning curves, evaluation, augmented samples and the
// most confidently wrong images, per-stage profile, recorded config) that opens
// offline. Several runs are overlaid in the same charts.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>

#include "pipeline/atomic_file.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"
#include "tools/sluice/report_page.h"
#include "tools/sluice/report_run.h"

namespace sluice::cli {
namespace {

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return text;
}

// Runs are named by their folder; two folders of one name (runs/a/run, runs/b/run)
// are named by their paths as given instead.
void name_runs_apart(nlohmann::json& runs) {
  for (auto& run : runs) {
    const auto same = std::count_if(
        runs.begin(), runs.end(), [&](const auto& other) { return other["name"] == run["name"]; });
    if (same > 1) run["display_name"] = run["dir"];
  }
  for (auto& run : runs) {
    if (run.contains("display_name")) run["name"] = run["display_name"];
    run.erase("display_name");
  }
}

int report_cmd(const std::vector<std::string>& args) {
  std::vector<std::string> dirs;
  std::string out_path;
  int64_t samples = 16, wrong = 12;
  po::options_description o("options");
  o.add_options()("run", po::value(&dirs)->composing(), "run folder (train.vgg's output_dir)")(
      "out,o", po::value(&out_path)->default_value("report.html"), "HTML file to write")(
      "samples", po::value(&samples)->default_value(16),
      "augmented training images to show (0: none)")("wrong", po::value(&wrong)->default_value(12),
                                                     "most confidently wrong images to show");
  add_logging_options(o);
  po::positional_options_description pos;
  pos.add("run", -1);
  po::variables_map vm;
  if (auto code =
          parse_command_line("report", "RUN_DIR [RUN_DIR...] [-o report.html]", args, o, pos, vm)) {
    return *code;
  }
  apply_logging_options(vm);
  if (dirs.empty()) {
    std::cerr << "sluice report: name at least one run folder (usage: sluice report RUN_DIR "
                 "[RUN_DIR...] [-o report.html])\n";
    return kExitConfigError;
  }
  if (!option_ok("report", "samples", ParamSpec::integer("samples", 16, "").range(0, 256),
                 samples) ||
      !option_ok("report", "wrong", ParamSpec::integer("wrong", 12, "").range(0, 256), wrong)) {
    return kExitConfigError;
  }
  ReportOptions options;
  options.samples = static_cast<size_t>(samples);
  options.wrong = static_cast<size_t>(wrong);
  nlohmann::json data = {{"generated", utc_now()}, {"runs", nlohmann::json::array()}};
  for (const std::string& dir : dirs) {
    try {
      data["runs"].push_back(load_run(dir, options));
    } catch (const ReportError& e) {
      std::cerr << "sluice report: error: " << e.what() << '\n';
      return kExitFailure;
    }
    // What the page shows incomplete (images it cannot read), said here too.
    nlohmann::json& run = data["runs"].back();
    for (const auto& warning : run.value("warnings", nlohmann::json::array())) {
      std::cerr << "sluice report: warning: " << dir << ": " << warning.get<std::string>() << '\n';
    }
    run.erase("warnings");
  }
  name_runs_apart(data["runs"]);
  std::string title;
  for (const auto& run : data["runs"]) {
    title += (title.empty() ? "" : ", ") + run["name"].get<std::string>();
  }
  data["title"] = "sluice report: " + title;
  try {
    write_file_atomically(out_path, report_html(data));
  } catch (const std::exception& e) {
    std::cerr << "sluice report: error: cannot write " << e.what() << '\n';
    return kExitFailure;
  }
  std::cout << "wrote " << out_path << " (" << dirs.size() << " run" << (dirs.size() > 1 ? "s" : "")
            << ")\n";
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(report, "write an HTML report of training runs (curves, evaluation, profile)",
               report_cmd);

}  // namespace sluice::cli

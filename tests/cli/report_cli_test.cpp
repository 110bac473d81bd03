// `sluice report`: the page of a short training run, rendered in headless Chromium,
// has every chart with its series and the right number of points (read from the
// run's own files), the evaluation, image grids and profile, and no script error;
// two runs overlay their curves; a profile with a timeline draws throughput over
// time; absent files become notes, garbled ones an error naming the file (exit 1);
// usage errors exit 2. Chromium-less machines skip the rendering checks.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "report_dom.h"
#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using cli_test::read_text;
using cli_test::Result;
using cli_test::set_string;
using cli_test::source_file;
using report_dom::attribute_count;
using report_dom::chart_shape;
using report_dom::expect_clean;
using report_dom::have_chromium;
using report_dom::render;
using report_dom::Rendered;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 180 " + std::string(SLUICE_BINARY) + " " + args);
}

// `sluice ARGS` run from the folder `cwd`.
Result sluice_in(const fs::path& cwd, const std::string& args) {
  return cli_test::run_command("cd '" + cwd.string() + "' && timeout 180 " +
                               std::string(SLUICE_BINARY) + " " + args);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::vector<nlohmann::json> metrics_rows(const fs::path& run) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(read_text(run / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

struct Scores {
  size_t distinct = 0;  // distinct scores: the ROC curve has one more point
  size_t wrong = 0;     // misclassified at threshold 0.5
  size_t rows = 0;
};

Scores read_scores(const fs::path& csv) {
  std::istringstream in(read_text(csv));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "id,path,label,score");
  std::set<double> distinct;
  Scores s;
  while (std::getline(in, line)) {
    const size_t last = line.rfind(','), before = line.rfind(',', last - 1);
    const int label = std::stoi(line.substr(before + 1, last - before - 1));
    const double score = std::stod(line.substr(last + 1));
    distinct.insert(score);
    s.wrong += (score >= 0.5) != (label == 1);
    ++s.rows;
  }
  s.distinct = distinct.size();
  return s;
}

class ReportCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_report_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!SLUICE_WITH_TORCH) return;
    // A short run: 3 epochs of 48 synthetic faces, the demo's narrow model, run as
    // the demo is, from the folder holding demo-out/celeba (the config's relative root).
    Result r = sluice_in(dir_, "synth --out demo-out/celeba --count 60 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    r = sluice_in(dir_,
                  "run " + source_file("configs/demo.toml") +
                      set_string("train.output_dir", run().string()) +
                      set_string("train.device", "cpu") +
                      " --set index.epochs=3 --set batch.batch_size=16 --set train.patience=1");
    ASSERT_EQ(r.code, 0) << r.out;
    r = sluice_in(dir_, "run " + source_file("configs/demo-eval.toml") +
                            set_string("evaluate.checkpoint", (run() / "best.pt").string()) +
                            set_string("evaluate.report", (run() / "eval.json").string()) +
                            set_string("evaluate.device", "cpu"));
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
    ASSERT_TRUE(fs::exists(run() / "metrics.jsonl")) << "training the run failed";
  }

  static fs::path run() { return dir_ / "run"; }
  static fs::path dir_;
};

fs::path ReportCli::dir_;

// One test, as training the run is most of its time (ctest runs each test in its own
// process).
TEST_F(ReportCli, PageOfAShortRunDrawsEveryChartAndOverlaysAnother) {
  // The run folder keeps the profile and the evaluation's per-image scores.
  const auto profile = nlohmann::json::parse(read_text(run() / "profile.json"));
  ASSERT_TRUE(profile["stages"].is_array());
  EXPECT_EQ(profile["stages"].back()["id"], "train");
  const Scores scores = read_scores(run() / "eval_predictions.csv");
  const auto eval = nlohmann::json::parse(read_text(run() / "eval.json"));
  EXPECT_EQ(scores.rows, eval["count"].get<size_t>());
  EXPECT_EQ(eval["positive_name"], "Male");
  // The run records where it was started from: its relative paths are from there.
  EXPECT_EQ(
      read_text(run() / "config.toml").rfind("# Working directory: " + dir_.string() + "\n", 0),
      0u);
  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed: the page is not rendered";
  // Written from another folder, the page still has the images (nothing on stderr).
  const fs::path html = dir_ / "report.html", elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  Result r = sluice_in(elsewhere, "report " + run().string() + " -o " + html.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "wrote " + html.string() + " (1 run)\n");
  const Rendered page = render(html);
  expect_clean(page);
  EXPECT_EQ(report_dom::visible_text(page.dom).find("image not readable"), std::string::npos);
  const auto rows = metrics_rows(run());
  const int epochs = static_cast<int>(rows.size());
  ASSERT_GE(epochs, 2);
  EXPECT_EQ(chart_shape(page.dom, "chart-loss"), std::make_pair(2, epochs));
  EXPECT_EQ(chart_shape(page.dom, "chart-accuracy"), std::make_pair(2, epochs));
  EXPECT_EQ(chart_shape(page.dom, "chart-auc"), std::make_pair(1, epochs));
  // The learning rate train.vgg records per epoch: one series, a point per epoch.
  EXPECT_EQ(chart_shape(page.dom, "chart-lr"), std::make_pair(1, epochs));

  EXPECT_EQ(chart_shape(page.dom, "chart-roc-0"),
            std::make_pair(2, static_cast<int>(scores.distinct + 1)));
  EXPECT_EQ(attribute_count(page.dom, "wrong-0", "data-images"),
            static_cast<int>(std::min<size_t>(scores.wrong, 12)));
  EXPECT_EQ(attribute_count(page.dom, "samples-0", "data-images"), 16);
  EXPECT_NE(page.dom.find("src=\"data:image/jpeg;base64,"), std::string::npos);

  // The best epoch is the first lowest val_loss (train.vgg's monitor here).
  int best = 0;
  for (int i = 1; i < epochs; ++i) {
    if (rows[i]["val_loss"].get<double>() < rows[best]["val_loss"].get<double>()) best = i;
  }
  EXPECT_NE(page.dom.find("best epoch " + std::to_string(best + 1) + " ("), std::string::npos);
  EXPECT_NE(page.dom.find("id=\"profile-0\""), std::string::npos);
  EXPECT_NE(page.dom.find("<tr class=\"bottleneck\"><td>train</td>"), std::string::npos);
  EXPECT_NE(page.dom.find("/config.toml</summary><pre>"), std::string::npos);
  // The profiler's timeline: one series per stage, one point per sample.
  ASSERT_TRUE(profile.contains("timeline"));
  EXPECT_EQ(chart_shape(page.dom, "chart-timeline-0"),
            std::make_pair(static_cast<int>(profile["timeline"]["stages"].size()),
                           static_cast<int>(profile["timeline"]["t_s"].size())));

  // The dataset moved away: the samples and each wrong image are named on stderr.
  fs::rename(dir_ / "demo-out", dir_ / "moved");
  r = cli_test::run_command("(cd '" + elsewhere.string() + "' && " + SLUICE_BINARY + " report " +
                            run().string() + " -o " + html.string() + " >/dev/null)");  // stderr
  fs::rename(dir_ / "moved", dir_ / "demo-out");
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string warning = "sluice report: warning: " + run().string() + ": ";
  EXPECT_NE(r.out.find(warning + "no augmented samples: "), std::string::npos) << r.out;
  size_t unreadable = 0;
  for (size_t at = 0;
       (at = r.out.find(warning + "image not readable: " + dir_.string() + "/demo-out/celeba/",
                        at)) != std::string::npos;
       ++at) {
    ++unreadable;
  }
  EXPECT_EQ(unreadable, std::min<size_t>(scores.wrong, 12)) << r.out;

  // A second run with one epoch fewer: the charts span the longer one.
  const fs::path other = dir_ / "shorter";
  fs::remove_all(other);
  fs::create_directories(other);
  std::string lines;
  for (size_t i = 0; i + 1 < rows.size(); ++i) lines += rows[i].dump() + "\n";
  write_text(other / "metrics.jsonl", lines);
  const fs::path overlay = dir_ / "overlay.html";
  r = sluice("report " + run().string() + " " + other.string() + " -o " + overlay.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const Rendered two = render(overlay);
  expect_clean(two);
  EXPECT_EQ(chart_shape(two.dom, "chart-loss"), std::make_pair(4, epochs));
  EXPECT_EQ(chart_shape(two.dom, "chart-accuracy"), std::make_pair(4, epochs));
  EXPECT_NE(two.dom.find("<li>shorter: no eval.json"), std::string::npos);
}

// A run folder without training (profile only) works in every build; a timeline
// in the profile is drawn as items/s per stage.
class ReportCliNoTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_report_plain_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
    write_text(dir_ / "numbers.toml", R"([stages.n]
use = "gen.range"
count = 2000
[stages.s]
use = "util.sum"
input = "n"
)");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ReportCliNoTraining, ProfileWithTimelineDrawsThroughputOverTime) {
  const fs::path profile = dir_ / "run" / "profile.json";
  Result r = sluice("run " + (dir_ / "numbers.toml").string() + " --profile " + profile.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_text(profile));
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& s : j["stages"]) {
    stages[s["id"].get<std::string>()] = {{"items_out", {100, 600, 1500, 2000}},
                                          {"busy_s", {0.1, 0.2, 0.3, 0.4}},
                                          {"wait_s", {0, 0, 0, 0}}};
  }
  j["timeline"] = {{"interval_s", 0.25},
                   {"t_s", {0.25, 0.5, 0.75, 1.0}},
                   {"in_flight", {3, 4, 4, 0}},
                   {"epoch", {0, 0, 0, 0}},
                   {"stages", stages}};
  write_text(profile, j.dump());
  const fs::path html = dir_ / "report.html";
  r = sluice("report " + (dir_ / "run").string() + " -o " + html.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string text = read_text(html);
  EXPECT_NE(text.find("no metrics.jsonl or metrics.csv"), std::string::npos);
  EXPECT_NE(text.find("uPlot"), std::string::npos);  // the library is inlined
  if (!have_chromium()) GTEST_SKIP() << "chromium is not installed: the page is not rendered";
  const Rendered page = render(html);
  expect_clean(page);
  EXPECT_EQ(chart_shape(page.dom, "chart-timeline-0"),
            std::make_pair(static_cast<int>(j["stages"].size()), 4));
  EXPECT_NE(page.dom.find("class=\"note\">No run has per-epoch metrics"), std::string::npos);
}

// A categorical eval.json of six classes (as eval.classifier writes it, without
// per-image scores): the 6 x 6 matrix by class name and top-5, which says something
// from six classes on; an eval.json of an unknown kind or whose matrix misses rows is
// named and refused.
TEST_F(ReportCliNoTraining, CategoricalEvaluationOfSixClassesShowsTopFive) {
  const std::vector<std::string> names = {"ant", "bee", "cat", "dog", "eel", "fox"};
  nlohmann::json rows = nlohmann::json::array(), classes = nlohmann::json::array();
  for (size_t t = 0; t < names.size(); ++t) {
    nlohmann::json row = nlohmann::json::array();
    for (size_t p = 0; p < names.size(); ++p) row.push_back(t == p ? 5 + t : (t + p) % 3);
    rows.push_back(row);
    classes.push_back(
        {{"class", names[t]}, {"support", 9}, {"precision", 0.5}, {"recall", 0.6}, {"f1", 0.25}});
  }
  nlohmann::json eval = {{"kind", "categorical"},
                         {"count", 54},
                         {"loss", nullptr},
                         {"accuracy", 0.625},
                         {"top1", 0.625},
                         {"top5", 0.875},
                         {"precision", 0.5},
                         {"recall", 0.6},
                         {"f1", 0.25},
                         {"classes", classes},
                         {"split", "test"},
                         {"threshold", 0.5},
                         {"positive_name", "1"},
                         {"negative_name", "0"},
                         {"confusion", {{"classes", names}, {"rows", rows}}}};
  const fs::path run = dir_ / "run";
  write_text(run / "eval.json", eval.dump());
  const fs::path html = dir_ / "report.html";
  Result r = sluice("report " + run.string() + " -o " + html.string());
  ASSERT_EQ(r.code, 0) << r.out;
  if (have_chromium()) {
    const Rendered page = render(html);
    expect_clean(page);
    const std::string evaluation = report_dom::section(page.dom, "evaluation");
    const auto scores = report_dom::table_cells(evaluation, "scores");
    ASSERT_EQ(scores.size(), 2u) << evaluation;
    EXPECT_EQ(scores[0][3], "top-5 accuracy");
    EXPECT_EQ(scores[1][3], "0.8750");
    EXPECT_EQ(scores[1][1], "n/a");  // no loss recorded
    const auto matrix = report_dom::table_cells(evaluation, "confusion");
    ASSERT_EQ(matrix.size(), 7u);
    EXPECT_EQ(std::vector<std::string>(matrix[0].begin() + 1, matrix[0].end()), names);
    EXPECT_EQ(matrix[6], (std::vector<std::string>{"fox", "2", "0", "1", "2", "0", "10"}));
    EXPECT_EQ(report_dom::table_cells(evaluation, "per-class").size(), 7u);
    const std::string text = report_dom::visible_text(page.dom);
    for (const char* word : {"undefined", "NaN", "threshold"}) {
      EXPECT_EQ(text.find(word), std::string::npos) << word;
    }
    EXPECT_NE(text.find("no eval_predictions.csv beside eval.json: no wrong images"),
              std::string::npos);
  }
  eval["confusion"]["rows"].erase(5);
  write_text(run / "eval.json", eval.dump());
  r = sluice("report " + run.string() + " -o " + html.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find((run / "eval.json").string() + ": not an eval.classifier report (a "
                                                      "categorical report needs"),
            std::string::npos)
      << r.out;
  eval["kind"] = "regression";
  write_text(run / "eval.json", eval.dump());
  r = sluice("report " + run.string() + " -o " + html.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("unknown kind \"regression\"; known: binary, categorical, multi-label"),
            std::string::npos)
      << r.out;
}

TEST_F(ReportCliNoTraining, GarbledFilesAreNamedAndFail) {
  const fs::path run = dir_ / "run";
  write_text(run / "metrics.jsonl", "{\"epoch\": 1, \"loss\": 0.5}\n{\"epoch\": 2, \"loss\"\n");
  Result r = sluice("report " + run.string() + " -o " + (dir_ / "r.html").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find((run / "metrics.jsonl").string() + ":2:"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ / "r.html"));

  fs::remove(run / "metrics.jsonl");
  write_text(run / "profile.json", "{\"stages\": [");
  r = sluice("report " + run.string() + " -o " + (dir_ / "r.html").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find((run / "profile.json").string() + ": not valid JSON"), std::string::npos)
      << r.out;

  r = sluice("report " + (dir_ / "missing").string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find((dir_ / "missing").string() + ": no such run folder"), std::string::npos);
  r = sluice("report " + dir_.string());  // a folder, but no run in it
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("not a run folder"), std::string::npos) << r.out;
}

TEST_F(ReportCliNoTraining, UsageErrorsExitTwo) {
  Result r = sluice("report");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("name at least one run folder"), std::string::npos) << r.out;
  r = sluice("report " + (dir_ / "run").string() + " --colour");
  EXPECT_EQ(r.code, 2) << r.out;
  r = sluice("report " + (dir_ / "run").string() + " --wrong -1");
  EXPECT_EQ(r.code, 2) << r.out;
}

}  // namespace

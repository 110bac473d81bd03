#include "stages/train/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

using sluice::train::BinaryMetrics;
using sluice::train::MetricsLog;

TEST(Metrics, ConfusionPrecisionRecallF1) {
  BinaryMetrics m;
  // labels:      1    1    1    0    0    0    0
  // predictions: 1    1    0    1    0    0    0
  m.add_batch({0.9f, 0.6f, 0.4f, 0.7f, 0.1f, 0.2f, 0.3f}, {1, 1, 1, 0, 0, 0, 0}, nullptr, {});
  const auto r = m.report();
  EXPECT_EQ(r.confusion.tp, 2);
  EXPECT_EQ(r.confusion.fn, 1);
  EXPECT_EQ(r.confusion.fp, 1);
  EXPECT_EQ(r.confusion.tn, 3);
  EXPECT_NEAR(r.accuracy, 5.0 / 7, 1e-12);
  EXPECT_NEAR(r.precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.recall, 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.f1, 2.0 / 3, 1e-12);
  // 12 positive/negative pairs; ordered correctly: 0.9>all(4), 0.6>0.1,0.2,0.3 (3), 0.4>3 (3)
  EXPECT_NEAR(r.roc_auc, 10.0 / 12, 1e-12);
  EXPECT_TRUE(std::isnan(r.loss));
}

TEST(Metrics, RocAucCountsTiesAsHalf) {
  EXPECT_DOUBLE_EQ(sluice::train::roc_auc({{0.5f, 1}, {0.5f, 0}}), 0.5);
  EXPECT_DOUBLE_EQ(sluice::train::roc_auc({{0.9f, 1}, {0.1f, 0}}), 1.0);
  EXPECT_TRUE(std::isnan(sluice::train::roc_auc({{0.9f, 1}})));
}

// A model with NaN weights scores NaN: the AUC is undefined, and computing it
// must end (the tie scan used to spin forever on NaN != NaN).
TEST(Metrics, RocAucOfNanScoresEnds) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto result = std::async(std::launch::async, [nan] {
    return sluice::train::roc_auc({{nan, 1}, {nan, 0}, {0.2f, 0}, {nan, 1}});
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::cerr << "roc_auc did not return within 10 s on NaN scores\n";
    std::_Exit(1);  // the thread spins: end the test binary rather than hang it
  }
  EXPECT_TRUE(std::isnan(result.get()));
}

TEST(Metrics, AccuracyByAttribute) {
  auto names = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"Eyeglasses", "Young"});
  BinaryMetrics m;
  // Two samples with glasses: one wrong. Two without: both right.
  m.add_batch({0.9f, 0.2f, 0.8f, 0.1f}, {1, 1, 1, 0}, names, {1, 1, 1, -1, -1, 1, -1, -1});
  m.add_loss(2.0, 4);
  const auto r = m.report();
  ASSERT_EQ(r.attributes.size(), 2u);
  EXPECT_EQ(r.attributes[0].name, "Eyeglasses");
  EXPECT_EQ(r.attributes[0].positive_count, 2);
  EXPECT_EQ(r.attributes[0].positive_correct, 1);
  EXPECT_EQ(r.attributes[0].negative_correct, 2);
  EXPECT_DOUBLE_EQ(r.loss, 0.5);
  const auto j = r.to_json();
  EXPECT_DOUBLE_EQ(j["attributes"]["Eyeglasses"]["positive"]["accuracy"].get<double>(), 0.5);
  const auto table = r.to_table("Male", "Female");
  EXPECT_NE(table.find("Eyeglasses"), std::string::npos);
  EXPECT_NE(table.find("confusion matrix"), std::string::npos);
}

TEST(Metrics, LogAppendsJsonLinesAndCsv) {
  const auto dir = std::filesystem::temp_directory_path() / "sluice_metrics_log_test";
  std::filesystem::remove_all(dir);
  {
    MetricsLog log(dir.string());
    log.write({{"epoch", 1}, {"loss", 0.5}});
  }
  MetricsLog again(dir.string());
  again.write({{"epoch", 2}, {"loss", 0.25}});
  std::ifstream csv(dir / "metrics.csv");
  std::stringstream text;
  text << csv.rdbuf();
  EXPECT_EQ(text.str(), "epoch,loss\n1,0.5\n2,0.25\n");
  std::ifstream jsonl(dir / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(jsonl, line)) ++lines;
  EXPECT_EQ(lines, 2);
  std::filesystem::remove_all(dir);
}

// One list of epoch metric names: every name the epoch log line prints is a column
// of metrics.csv, and `monitor` accepts every monitorable one, plus the old
// abbreviations as aliases of the columns they stood for.
TEST(EpochMetrics, TheLogLineNamesAreTheColumnsAndMonitorAcceptsThem) {
  using sluice::train::EpochMetric;
  sluice::train::EpochRecord record;
  record.set(EpochMetric::kEpoch, 3);
  record.set(EpochMetric::kLoss, 0.25);
  record.set(EpochMetric::kValAccuracy, 0.75);
  const std::string line = record.log_line("2s");
  EXPECT_EQ(line,
            "epoch 3: loss 0.2500 accuracy nan | val_loss nan val_accuracy 0.7500 val_auc nan | "
            "0.0 img/s, 2s");
  std::vector<std::string> columns;
  for (const auto& [name, value] : record.items()) columns.push_back(name);
  const auto monitors = sluice::train::monitor_names();
  std::istringstream words(line.substr(line.find(':') + 1));
  for (std::string word, value; words >> word;) {
    if (word == "|" || !std::isalpha(static_cast<unsigned char>(word[0]))) continue;
    if (word == "img/s,") continue;
    EXPECT_NE(std::find(columns.begin(), columns.end(), word), columns.end()) << word;
    EXPECT_NE(std::find(monitors.begin(), monitors.end(), word), monitors.end()) << word;
    words >> value;
  }
  EXPECT_EQ(sluice::train::canonical_metric_name("val_acc"), "val_accuracy");
  EXPECT_EQ(sluice::train::canonical_metric_name("acc"), "accuracy");
  EXPECT_EQ(record.get("val_acc"), 0.75);
  EXPECT_TRUE(std::isnan(record.get("val_acuracy")));
}

// Counts are JSON integers ("epoch": 1, not 1.0); scores stay numbers with a
// fraction even when whole (a loss of exactly 1 is still a double), missing ones null.
TEST(Metrics, JsonlWritesCountsAsIntegers) {
  const auto dir = std::filesystem::temp_directory_path() / "sluice_metrics_integer_test";
  std::filesystem::remove_all(dir);
  sluice::train::EpochRecord record;
  using M = sluice::train::EpochMetric;
  record.set(M::kEpoch, 1);
  record.set(M::kLoss, 1.0);
  record.set(M::kTrainImages, 300);
  record.set(M::kValImages, 64);
  record.set(M::kSeconds, 2.5);
  MetricsLog(dir.string()).write(record);
  std::ifstream jsonl(dir / "metrics.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(jsonl, line));
  const auto j = nlohmann::json::parse(line);
  EXPECT_TRUE(j["epoch"].is_number_integer()) << line;
  EXPECT_EQ(j["epoch"].get<int64_t>(), 1);
  EXPECT_TRUE(j["train_images"].is_number_integer()) << line;
  EXPECT_TRUE(j["val_images"].is_number_integer()) << line;
  EXPECT_TRUE(j["loss"].is_number_float()) << line;
  EXPECT_TRUE(j["val_loss"].is_null()) << line;
  EXPECT_NE(line.find("\"epoch\":1,"), std::string::npos) << line;
  EXPECT_TRUE(sluice::train::epoch_metric_is_integral("epoch"));
  EXPECT_FALSE(sluice::train::epoch_metric_is_integral("seconds"));
  std::filesystem::remove_all(dir);
}

TEST(Metrics, ResumingDropsTheRowsOfEpochsAfterTheCheckpoint) {
  const auto dir = std::filesystem::temp_directory_path() / "sluice_metrics_keep_test";
  std::filesystem::remove_all(dir);
  MetricsLog log(dir.string());
  for (int e = 1; e <= 4; ++e) log.write({{"epoch", static_cast<double>(e)}, {"loss", 1.0 / e}});
  EXPECT_EQ(log.keep_epochs(2), 2);
  log.write({{"epoch", 3}, {"loss", 0.3}});
  std::ifstream csv(dir / "metrics.csv");
  std::stringstream text;
  text << csv.rdbuf();
  EXPECT_EQ(text.str(), "epoch,loss\n1,1\n2,0.5\n3,0.3\n");
  std::ifstream jsonl(dir / "metrics.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(jsonl, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], R"({"epoch":3,"loss":0.3})");
  EXPECT_EQ(log.keep_epochs(3), 0);
  std::filesystem::remove_all(dir);
}

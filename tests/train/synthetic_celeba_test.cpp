// End to end on the synthetic CelebA: index -> decode -> augment -> batch -> train.vgg,
// then eval.classifier on the test split. A narrow VGG16 must reach >= 95% test
// accuracy on Male; resuming a run must continue where it stopped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"

namespace fs = std::filesystem;

namespace {

// Run-time knobs for slower or faster machines; the defaults are what the test pins.
int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

class SyntheticCeleba : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_synth_train_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    sluice::data::SynthOptions o;
    o.out = (dir_ / "celeba").string();
    o.count = env_int("SLUICE_TEST_SYNTH_COUNT", 4000);
    o.seed = 3;
    sluice::data::write_synthetic_celeba(o);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // index -> decode -> augment (64x80, zoom/flip when training) -> batch.
  static std::string data_stages(const std::string& splits, int64_t epochs, bool augment,
                                 int64_t limit = -1) {
    const std::string root = (dir_ / "celeba").string();
    std::string toml = "[pipeline]\nname = \"synthetic\"\nseed = 5\nthreads = 2\n";
    toml += "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + root + "\"\n";
    toml += "split = " + splits + "\nepochs = " + std::to_string(epochs) + "\n";
    toml += "limit = " + std::to_string(limit) + "\n";
    toml += "attributes = [\"Eyeglasses\", \"Young\"]\n";
    toml += "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n";
    toml += "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\n";
    toml += "width = 64\nheight = 80\nrescale = 0.00392156862745098\n";
    if (augment) toml += "zoom = [0.9, 1.1]\nflip = true\n";
    toml += "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 32\n";
    return toml;
  }

  // A VGG16 with channels / 16 and a global-average-pooling head, from scratch.
  static std::string train_stage(const std::string& out, const std::string& extra) {
    return "[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
           "head = \"gap\"\nfreeze = \"none\"\nlr = 0.002\ndevice = \"cpu\"\nseed = 1\n"
           "output_dir = \"" +
           out + "\"\n" + extra;
  }

  static sluice::RunReport run(const std::string& toml, sluice::RunMonitor* monitor = nullptr) {
    sluice::Registry registry;
    sluice::register_builtin_stages(registry);
    const auto graph = sluice::load_pipeline_string(toml, "synthetic.toml", {}, registry);
    sluice::RunOptions options;
    options.monitor = monitor;
    return sluice::run_graph(graph, options);
  }

  static fs::path dir_;
};

fs::path SyntheticCeleba::dir_;

// The metrics of the last epoch in a metrics.jsonl, without the timings.
nlohmann::json last_epoch(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  auto j = nlohmann::json::parse(last);
  j.erase("seconds");
  j.erase("images_per_s");
  return j;
}

}  // namespace

TEST_F(SyntheticCeleba, NarrowVggReaches95PercentOnMale) {
  const auto out = (dir_ / "run").string();
  const auto epochs = env_int("SLUICE_TEST_EPOCHS", 14);
  const auto trained = run(data_stages("[\"train\", \"validation\"]", epochs, true) +
                           train_stage(out, "patience = 4\n"));
  ASSERT_NE(trained.status, sluice::RunStatus::kFailed) << trained.error;
  ASSERT_TRUE(fs::exists(out + "/best.pt"));
  ASSERT_TRUE(fs::exists(out + "/last.pt"));
  ASSERT_TRUE(fs::exists(out + "/metrics.csv"));
  const auto report = (dir_ / "eval.json").string();
  const auto evaluated =
      run(data_stages("[\"test\"]", 1, false) +
          "[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" + out +
          "/best.pt\"\ndevice = \"cpu\"\nreport = \"" + report + "\"\n");
  ASSERT_EQ(evaluated.status, sluice::RunStatus::kCompleted) << evaluated.error;
  std::ifstream in(report);
  const auto j = nlohmann::json::parse(in);
  std::cout << "test accuracy on Male: " << j["accuracy"].get<double>() << " over "
            << j["count"].get<int64_t>() << " images\n";
  EXPECT_GT(j["count"].get<int64_t>(), 300);
  EXPECT_GE(j["accuracy"].get<double>(), 0.95) << j.dump(2);
  EXPECT_TRUE(j["attributes"].contains("Eyeglasses"));
}

TEST_F(SyntheticCeleba, ResumedRunEqualsUnbrokenRun) {
  // 2 epochs in one run == 1 epoch, then a resumed run for the second.
  const auto whole = (dir_ / "whole").string(), part = (dir_ / "part").string();
  const auto resumed = (dir_ / "resumed").string();
  const std::string splits = "[\"train\", \"validation\"]";
  const std::string two_epochs = data_stages(splits, 2, true, 256);
  ASSERT_NE(run(two_epochs + train_stage(whole, "patience = 0\n")).status,
            sluice::RunStatus::kFailed);
  const auto first = run(data_stages(splits, 1, true, 256) + train_stage(part, "patience = 0\n"));
  ASSERT_NE(first.status, sluice::RunStatus::kFailed);
  const auto second =
      run(two_epochs + train_stage(resumed, "patience = 0\nresume = \"" + part + "/last.pt\"\n"));
  ASSERT_NE(second.status, sluice::RunStatus::kFailed);
  const auto a = last_epoch(whole + "/metrics.jsonl");
  EXPECT_EQ(a["epoch"].get<double>(), 2.0);
  EXPECT_EQ(a, last_epoch(resumed + "/metrics.jsonl"));
  // The resumed run read the second epoch only: the index skipped the first.
  auto decoded = [](const sluice::RunReport& r) {
    for (const auto& s : r.stages) {
      if (s.id == "decode") return s.items_in;
    }
    return uint64_t{0};
  };
  EXPECT_GT(decoded(first), 0u);
  EXPECT_EQ(decoded(second), decoded(first));
  EXPECT_EQ(second.counters.at("train.skipped_batches"), 0);
  // Beside the checkpoints: the resolved pipeline, which loads as the same run.
  std::ifstream resolved(whole + "/config.toml");
  ASSERT_TRUE(resolved) << "no config.toml in " << whole;
  const std::string text((std::istreambuf_iterator<char>(resolved)),
                         std::istreambuf_iterator<char>());
  sluice::Registry registry;
  sluice::register_builtin_stages(registry);
  // As recorded it names its own run folder, so it is refused rather than run over it;
  // in a new folder it is the same pipeline.
  try {
    sluice::load_pipeline_string(text, "config.toml", {}, registry);
    ADD_FAILURE() << "the recorded config was accepted over its own run";
  } catch (const sluice::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("output_dir '" + whole + "' already holds a run"),
              std::string::npos)
        << e.what();
  }
  const auto again = sluice::load_pipeline_string(
      text, "config.toml", {"train.output_dir=\"" + whole + "-again\""}, registry);
  ASSERT_EQ(again.stages.size(), 5u);
  EXPECT_EQ(again.find("index")->params.get_int("epochs"), 2);
}

// What the live dashboard shows of a trainer: a loss per step, a metrics row per
// epoch (integers as integers), and where it is.
TEST_F(SyntheticCeleba, TheTrainerReportsStepsEpochsAndProgressToAWatcher) {
  sluice::RunMonitor monitor;
  const std::string toml = data_stages("[\"train\", \"validation\"]", 2, false, 96) +
                           train_stage((dir_ / "watched").string(), "");
  const auto report = run(toml, &monitor);
  ASSERT_EQ(report.status, sluice::RunStatus::kCompleted) << report.error;
  const auto status = nlohmann::json::parse(monitor.status_json());
  EXPECT_EQ(status.at("state"), "completed");
  const auto& live = status.at("live");
  const auto& steps = live.at("steps");
  ASSERT_GE(steps.at("step").size(), 4u) << "two epochs of at least two batches each";
  EXPECT_EQ(steps.at("loss").size(), steps.at("step").size());
  EXPECT_GT(steps.at("loss").at(0).get<double>(), 0.0);
  ASSERT_EQ(live.at("epochs").size(), 2u);
  EXPECT_TRUE(live.at("epochs").at(1).at("epoch").is_number_integer());
  EXPECT_EQ(live.at("epochs").at(1).at("epoch"), 2);
  EXPECT_TRUE(live.at("epochs").at(1).contains("val_loss"));
  EXPECT_EQ(live.at("progress").at("epoch"), 2);
  EXPECT_EQ(status.at("progress").at("epochs"), 2);
  EXPECT_EQ(report.timeline.epoch().back(), 2);
}

TEST_F(SyntheticCeleba, RunsNeverOverwriteEachOther) {
  const auto out = (dir_ / "once").string();
  const std::string toml =
      data_stages("[\"train\", \"validation\"]", 1, false, 64) + train_stage(out, "");
  ASSERT_EQ(run(toml).status, sluice::RunStatus::kCompleted);
  // The same config again, and the run's own recorded config: refused, naming the way out.
  try {
    run(toml);
    FAIL() << "a second run into " << out << " was not refused";
  } catch (const sluice::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("already holds a run (best.pt, config.toml, invocations, "
                                         "last.pt, metrics.csv, metrics.jsonl)"),
              std::string::npos)
        << e.what();
  }
  std::ifstream recorded(out + "/config.toml");
  const std::string text((std::istreambuf_iterator<char>(recorded)),
                         std::istreambuf_iterator<char>());
  try {
    run(text);
    FAIL() << "the recorded config ran over its own run";
  } catch (const sluice::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--set train.output_dir=" + out + "-2"), std::string::npos)
        << e.what();
  }
  // overwrite = true replaces the run: one epoch's row, not two.
  std::ofstream(out + "/notes.txt") << "mine";
  ASSERT_EQ(run(toml + "overwrite = true\n").status, sluice::RunStatus::kCompleted);
  std::ifstream csv(out + "/metrics.csv");
  int rows = 0;
  for (std::string line; std::getline(csv, line);) ++rows;
  EXPECT_EQ(rows, 2) << "header + one epoch";
  EXPECT_TRUE(fs::exists(out + "/notes.txt")) << "overwrite removes only the run's files";
  std::ifstream again(out + "/config.toml");
  const std::string text2((std::istreambuf_iterator<char>(again)),
                          std::istreambuf_iterator<char>());
  EXPECT_NE(text2.find("overwrite = false"), std::string::npos) << text2;
}

// train.vgg's callbacks through the `sluice` binary, on the synthetic CelebA's four
// hair colours (a categorical label; narrow VGG-11, 32 x 32 images, CPU):
//   the lr column of metrics.csv follows each schedule (step, cosine with warm-up,
//   plateau), and a resumed plateau run continues the unbroken run's rates;
//   a non-finite loss stops the run with exit 1 and one line naming the stage, epoch
//   and step, and the last checkpoint stays as it was and still predicts;
//   bad values are refused by `sluice check` (exit 2) at FILE:LINE:COL of the key.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 300 " + std::string(SLUICE_BINARY) + " " + args);
}

using cli_test::value_position;

class CallbacksCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_callbacks_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 120 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  }

  // csv.index (hair colour, 4 classes) -> decode -> 32 x 32 -> batches of 16 -> train.vgg
  // writing to `run`, with `train` appended to the train stage's keys.
  static std::string config(int epochs, const std::string& run, const std::string& train) {
    return "[pipeline]\nname = \"callbacks\"\nseed = 5\nthreads = 2\n"
           "\n[stages.index]\nuse = \"csv.index\"\nfile = \"" +
           (dir_ / "celeba" / "hair_colour.csv").string() +
           "\"\nlabel_column = \"hair_colour\"\nsplit_column = \"split\"\n"
           "split = [\"train\", \"validation\"]\nepochs = " +
           std::to_string(epochs) +
           "\n\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 32\nrescale = 0.00392156862745098\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
           "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\narch = \"vgg11\"\n"
           "width_divisor = 16\nhead = \"gap\"\nfreeze = \"none\"\ndevice = \"cpu\"\nseed = 1\n"
           "patience = 0\noutput_dir = \"" +
           (dir_ / run).string() + "\"\n" + train;
  }

  static std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  // Runs `text` and returns the lr column of its metrics.csv.
  static std::vector<double> trained_rates(const std::string& name, const std::string& text,
                                           const std::string& run) {
    const Result r = sluice("run " + write(name, text));
    EXPECT_EQ(r.code, 0) << r.out;
    return lr_column(run);
  }

  static std::vector<std::string> cells(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    std::string cell;
    while (std::getline(in, cell, ',')) out.push_back(cell);
    return out;
  }

  static std::vector<double> lr_column(const std::string& run) {
    std::ifstream in(dir_ / run / "metrics.csv");
    std::string line;
    std::getline(in, line);
    const auto header = cells(line);
    const size_t column =
        static_cast<size_t>(std::find(header.begin(), header.end(), "lr") - header.begin());
    std::vector<double> rates;
    while (std::getline(in, line)) {
      const auto row = cells(line);
      if (column < row.size()) rates.push_back(std::stod(row[column]));
    }
    return rates;
  }

  static void expect_rates(const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t e = 0; e < want.size(); ++e) {
      EXPECT_NEAR(got[e], want[e], want[e] * 1e-6) << "epoch " << e + 1;
    }
  }

  static fs::path dir_;
};

fs::path CallbacksCli::dir_;

TEST_F(CallbacksCli, StepScheduleHalvesTheRateEveryTwoEpochs) {
  const auto rates = trained_rates(
      "step.toml",
      config(4, "step", "lr = 0.01\nlr_schedule = \"step\"\nlr_step_size = 2\nlr_gamma = 0.5\n"),
      "step");
  expect_rates(rates, {0.01, 0.01, 0.005, 0.005});
}

TEST_F(CallbacksCli, CosineScheduleWarmsUpThenDecays) {
  const auto rates = trained_rates("cosine.toml",
                                   config(5, "cosine",
                                          "lr = 0.01\nlr_schedule = \"cosine\"\nwarmup_epochs = "
                                          "2\nmin_lr = 0.001\n"),
                                   "cosine");
  // Warm-up 1/2, 2/2 of lr; then 0.001 + 0.009 (1 + cos(pi t)) / 2 for t = 0, 1/3, 2/3.
  expect_rates(rates, {0.005, 0.01, 0.01, 0.00775, 0.00325});
}

// lr_min_delta = 1e9: nothing counts as an improvement after the first epoch, so the
// rates do not depend on how training goes. Patience 1, cooldown 2: halved after
// epochs 2 and 4.
std::string plateau_keys() {
  return "lr = 0.01\nlr_schedule = \"plateau\"\nlr_patience = 1\nlr_factor = 0.5\n"
         "lr_cooldown = 2\nlr_min_delta = 1e9\n";
}

TEST_F(CallbacksCli, PlateauScheduleLowersTheRateAndResumesWhereItWas) {
  const std::vector<double> want = {0.01, 0.01, 0.005, 0.005, 0.0025};
  expect_rates(trained_rates("plateau.toml", config(5, "plateau", plateau_keys()), "plateau"),
               want);
  // Three epochs, then resumed to five: the checkpoint carries the plateau's state.
  expect_rates(trained_rates("plateau-3.toml", config(3, "plateau-resumed", plateau_keys()),
                             "plateau-resumed"),
               {0.01, 0.01, 0.005});
  const std::string resume =
      "resume = \"" + (dir_ / "plateau-resumed" / "last.pt").string() + "\"\n";
  expect_rates(
      trained_rates("plateau-5.toml", config(5, "plateau-resumed", plateau_keys() + resume),
                    "plateau-resumed"),
      want);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(CallbacksCli, NonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  // One good epoch, then resumed at lr 1e30 (the schedule sets the rate; without one
  // the checkpoint's optimizer keeps its own).
  const std::string good = "optimizer = \"sgd\"\nlr = 0.002\n";
  Result r = sluice("run " + write("good.toml", config(1, "nan", good)));
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path last = dir_ / "nan" / "last.pt";
  const std::string before = file_bytes(last);
  ASSERT_FALSE(before.empty());

  const std::string bad = "optimizer = \"sgd\"\nlr = 1e30\nlr_schedule = \"step\"\nresume = \"" +
                          last.string() + "\"\n";
  r = sluice("run " + write("nan.toml", config(2, "nan", bad)));
  EXPECT_EQ(r.code, 1) << r.out;
  const size_t at = r.out.find("sluice: error: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string message = r.out.substr(at, r.out.find('\n', at) - at);
  std::cout << message << "\n";
  EXPECT_NE(message.find("stage 'train'"), std::string::npos) << message;
  EXPECT_NE(message.find("non-finite loss"), std::string::npos) << message;
  EXPECT_NE(message.find("in epoch 2 at step "), std::string::npos) << message;
  EXPECT_NE(message.find(last.string() + " (1 epoch(s)) is kept"), std::string::npos) << message;
  EXPECT_EQ(file_bytes(last), before);  // not overwritten

  // It still loads and predicts finite probabilities.
  const std::string image =
      (dir_ / "celeba" / "img_align_celeba" / "img_align_celeba" / "000001.jpg").string();
  r = sluice("predict --device cpu --topk 4 --checkpoint " + last.string() + " " + image);
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.rfind(image, 0) != 0) continue;
    const double p = std::stod(line.substr(line.rfind('\t') + 1));
    EXPECT_TRUE(std::isfinite(p) && p >= 0 && p <= 1) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 4) << r.out;
}

// `sluice check` refuses `key = value` (added to the train stage) with exit 2 at the
// key's value, with a message containing `want`.
void expect_refused(const std::string& name, const std::string& text, const std::string& key,
                    const std::string& want) {
  const fs::path file = fs::temp_directory_path() / name;
  std::ofstream(file) << text;
  const Result r = sluice("check " + file.string());
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string where = value_position(file.string(), text, key) + ": error: ";
  EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
  EXPECT_NE(r.out.find(want), std::string::npos) << "want " << want << "\n" << r.out;
  fs::remove(file);
}

TEST_F(CallbacksCli, BadCallbackValuesAreRefusedByCheck) {
  const std::string tag = std::to_string(getpid());
  expect_refused("cb-schedule-" + tag + ".toml", config(2, "never", "lr_schedule = \"cosin\"\n"),
                 "lr_schedule", "did you mean 'cosine'");
  expect_refused("cb-clip-" + tag + ".toml", config(2, "never", "clip_grad_norm = -1.0\n"),
                 "clip_grad_norm", "clip_grad_norm");
  expect_refused("cb-weights-" + tag + ".toml",
                 config(2, "never", "class_weights = [1.0, 2.0, 3.0]\n"), "class_weights",
                 "class_weights has 3 value(s) but the input label is categorical with 4 classes");
  expect_refused("cb-fp16-" + tag + ".toml", config(2, "never", "precision = \"fp16\"\n"),
                 "precision", "precision = \"fp16\" needs a CUDA device");
  if (SLUICE_TORCH_MAJOR < 2) {
    expect_refused("cb-bf16-" + tag + ".toml", config(2, "never", "precision = \"bf16\"\n"),
                   "precision", "not supported by this LibTorch (1.");
  }
  expect_refused("cb-factor-" + tag + ".toml",
                 config(2, "never", "lr_schedule = \"plateau\"\nlr_factor = 1.0\n"), "lr_factor",
                 "lr_factor");
}

}  // namespace

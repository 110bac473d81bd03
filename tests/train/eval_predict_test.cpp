// Evaluation and prediction as a user runs them, through the `sluice` binary, with
// checkpoints written here (a narrow VGG at 32x32 on two class folders, a and b):
//   - eval.classifier's split: `sluice check` refuses, at the key, a split no source
//     emits (naming the ones that do); batches of other splits are counted;
//   - train.vgg's monitor on a stream without a validation split is refused by check;
//   - `sluice predict` on folders, missing and broken files (each named, the good
//     ones printed, exit 1), the probability of the printed class, --header, CSV, JSON;
//   - a model whose scores are NaN: eval.classifier fails naming the batch (it used
//     to spin forever in roc_auc), predict names the file instead of printing -nan.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stages/train/model.h"
#include "stages/train/trainer.h"
#include "tests/cli/run_command.h"

namespace fs = std::filesystem;
using cli_test::Result;
using sluice::LabelSpec;
using sluice::Normalization;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;
using sluice::train::TrainingState;

namespace {

constexpr int kSide = 32;

TrainerConfig narrow_config() {
  TrainerConfig c;
  c.model.width_divisor = 16;
  c.device = "cpu";
  c.seed = 11;
  return c;
}

// What dir.index makes of class folders a and b: a binary label "b" (a/b).
TrainingState folder_state() {
  TrainingState s;
  s.epoch = 1;
  s.input.width = kSide;
  s.input.height = kSide;
  s.input.channels = 3;
  s.input.normalization.kind = Normalization::Kind::kRescale;
  s.input.normalization.scale = 1.0 / 255.0;
  s.label = LabelSpec::from_classes("b", {"a", "b"}, "index", "root");
  return s;
}

// "FILE:LINE:COL" of the value of `line` (e.g. `split = "test"`) in `text`.
std::string position_of(const std::string& file, const std::string& text, const std::string& line) {
  const size_t at = text.find("\n" + line);
  if (at == std::string::npos) return "?";
  const int row = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at + 1, '\n'));
  return file + ":" + std::to_string(row) + ":" + std::to_string(line.find('=') + 3);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class EvalPredict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_eval_predict_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
#ifdef SLUICE_BINARY
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 24 --seed 4");
    ASSERT_EQ(r.code, 0) << r.out;
    // folders/{train,validation}/{a,b}/: 8 train and 4 validation images per class.
    const fs::path images = dir_ / "celeba" / "img_align_celeba" / "img_align_celeba";
    for (int n = 1; n <= 24; ++n) {
      const std::string split = n <= 16 ? "train" : "validation";
      const fs::path to = dir_ / "folders" / split / (n % 2 ? "a" : "b");
      fs::create_directories(to);
      char name[16];
      std::snprintf(name, sizeof name, "%06d.jpg", n);
      fs::copy_file(images / name, to / name);
    }
    Trainer(narrow_config()).save_checkpoint(checkpoint(), folder_state());
#endif
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
#ifndef SLUICE_BINARY
    GTEST_SKIP() << "no sluice binary in this build";
#endif
  }

  static Result sluice(const std::string& args) {
#ifdef SLUICE_BINARY
    // -k: a process that ignores SIGTERM (the old NaN hang did) is killed too.
    return cli_test::run_command("timeout -k 5 120 " + std::string(SLUICE_BINARY) + " " + args);
#else
    return {};
#endif
  }
  static std::string checkpoint() { return (dir_ / "best.pt").string(); }
  static std::string folders() { return (dir_ / "folders").string(); }

  // dir.index (splits) -> decode -> 32x32 -> batches of 4 -> `tail`.
  static std::string config(const std::string& splits, const std::string& tail) {
    return "[stages.index]\nuse = \"dir.index\"\nroot = \"" + folders() + "\"\nsplit = " + splits +
           "\nshuffle = false\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 32\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 4\n" +
           tail;
  }
  static std::string eval_tail(const std::string& checkpoint, const std::string& extra) {
    return "\n[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ndevice = "
           "\"cpu\"\ncheckpoint = \"" +
           checkpoint + "\"\n" + extra;
  }
  static std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  static fs::path dir_;
};

fs::path EvalPredict::dir_;

TEST_F(EvalPredict, CheckRefusesAnEvaluationSplitThatNoSourceEmits) {
  // The default split ("test") on a validation-only stream: refused, at the stage.
  std::string text = config("[\"validation\"]", eval_tail(checkpoint(), ""));
  std::string file = write("eval_default.toml", text);
  Result r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("split 'test' never reaches it: its input carries only 'validation'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("set split = \"validation\""), std::string::npos) << r.out;
  r = sluice("run " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.find("samples"), std::string::npos) << r.out;

  // Written, it is named at its value.
  text = config("[\"train\", \"validation\"]", eval_tail(checkpoint(), "split = \"test\"\n"));
  file = write("eval_test.toml", text);
  r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(position_of(file, text, "split = \"test\"") +
                       ": error: stage 'evaluate' (eval.classifier): split 'test' never reaches "
                       "it: its input carries only 'train' and 'validation'"),
            std::string::npos)
      << r.out;

  // A split that is there checks.
  text = config("[\"validation\"]", eval_tail(checkpoint(), "split = \"validation\"\n"));
  r = sluice("check " + write("eval_validation.toml", text));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(EvalPredict, EvaluationCountsTheBatchesOfOtherSplits) {
  const std::string report = (dir_ / "eval" / "eval.json").string();
  const std::string text =
      config("[\"train\", \"validation\"]",
             eval_tail(checkpoint(), "split = \"validation\"\nreport = \"" + report + "\"\n"));
  const Result r = sluice("run " + write("eval_counts.toml", text));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("skipped (not split 'validation'): train: 16 images"), std::string::npos)
      << r.out;
  const auto j = nlohmann::json::parse(cli_test::read_text(report));
  EXPECT_EQ(j["count"], 8) << j.dump();
  EXPECT_EQ(j["skipped_by_split"]["train"], 16) << j.dump();
}

TEST_F(EvalPredict, CheckRefusesAValidationMonitorWithoutAValidationSplit) {
  const auto train = [&](const std::string& extra) {
    return config("[\"train\"]",
                  "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
                  "device = \"cpu\"\noutput_dir = \"" +
                      (dir_ / "run").string() + "\"\n" + extra);
  };
  std::string text = train("monitor = \"val_loss\"\n");
  std::string file = write("train_val_monitor.toml", text);
  Result r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(position_of(file, text, "monitor = \"val_loss\"") +
                       ": error: stage 'train' (train.vgg): monitor = \"val_loss\" (early "
                       "stopping and best.pt) has no value: its input carries only 'train'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("add a validation split (dir.index split = [\"train\", \"validation\"]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("or monitor = \"loss\""), std::string::npos) << r.out;

  // The training loss needs no validation split; nor does a run that watches nothing.
  r = sluice("check " + write("train_loss.toml", train("monitor = \"loss\"\n")));
  EXPECT_EQ(r.code, 0) << r.out;
  r = sluice("check " + write("train_none.toml", train("patience = 0\nsave_best = false\n")));
  EXPECT_EQ(r.code, 0) << r.out;
  // With a validation split, val_loss is fine.
  text = config("[\"train\", \"validation\"]",
                "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
                "device = \"cpu\"\nmonitor = \"val_loss\"\noutput_dir = \"" +
                    (dir_ / "run").string() + "\"\n");
  r = sluice("check " + write("train_val.toml", text));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(EvalPredict, PredictScoresFoldersAndNamesTheFilesItCannotRead) {
  const std::string broken = write("broken.jpg", "not a jpeg at all");
  const std::string missing = (dir_ / "missing.jpg").string();
  const Result r = sluice("predict --device cpu --checkpoint " + checkpoint() + " " + missing +
                          " " + folders() + " " + broken);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("sluice predict: " + missing + ": no such file or folder"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("sluice predict: " + broken + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 of 26 file(s) could not be scored"), std::string::npos) << r.out;
  // Every image under the folder (recursively): the class, P(that class) and P(b).
  int scored = 0;
  for (const std::string& line : lines_of(r.out)) {
    if (line.rfind(folders(), 0) != 0) continue;
    std::istringstream cells(line);
    std::string image, cls, probability, positive;
    std::getline(cells, image, '\t');
    std::getline(cells, cls, '\t');
    std::getline(cells, probability, '\t');
    std::getline(cells, positive, '\t');
    ASSERT_EQ(positive.rfind("p_b=", 0), 0u) << line;
    const double p = std::stod(probability), pb = std::stod(positive.substr(4));
    EXPECT_GE(p, 0.5) << line;
    EXPECT_NEAR(cls == "b" ? pb : 1.0 - pb, p, 2e-6) << line;
    EXPECT_TRUE(cls == "a" || cls == "b") << line;
    ++scored;
  }
  EXPECT_EQ(scored, 24) << r.out;
}

TEST_F(EvalPredict, PredictWritesAHeaderCsvAndJson) {
  const std::string one = folders() + "/train/a/000001.jpg";
  Result r = sluice("predict --device cpu --header --checkpoint " + checkpoint() + " " + one);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(lines_of(r.out).front(), "image\tclass\tprobability\tp_b") << r.out;

  r = sluice("predict --device cpu --format csv --header --checkpoint " + checkpoint() + " " +
             folders() + "/validation 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 9u) << r.out;
  EXPECT_EQ(rows[0], "image,class,probability,p_b");
  EXPECT_EQ(rows[1].rfind(folders() + "/validation/a/000017.jpg,", 0), 0u) << rows[1];

  r = sluice("predict --device cpu --format json --checkpoint " + checkpoint() + " " + folders() +
             "/validation 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 8u) << r.out;
  EXPECT_TRUE(j[0]["probability"].is_number()) << j[0];
  EXPECT_TRUE(j[0]["p_b"].is_number()) << j[0];
  EXPECT_TRUE(j[0]["class"] == "a" || j[0]["class"] == "b") << j[0];

  r = sluice("predict --device cpu --format xml --checkpoint " + checkpoint() + " " + one);
  EXPECT_EQ(r.code, 2) << r.out;
  r = sluice("predict --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("exit status: 0 every image was scored; 1 some file"), std::string::npos)
      << r.out;
}

TEST_F(EvalPredict, NanScoresAreAnErrorNotAHang) {
  // Finite weights so large that the activations overflow: inf - inf is NaN.
  Trainer t(narrow_config());
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(3);
    for (auto& p : t.model().parameters()) p.copy_(torch::randn_like(p) * 1e30);
  }
  const std::string nan_checkpoint = (dir_ / "nan.pt").string();
  t.save_checkpoint(nan_checkpoint, folder_state());

  const std::string image = folders() + "/validation/a/000017.jpg";
  Result r = sluice("predict --device cpu --checkpoint " + nan_checkpoint + " " + image);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out.find("nan\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(image + ": the model's score is not finite"), std::string::npos) << r.out;

  const std::string text =
      config("[\"validation\"]", eval_tail(nan_checkpoint, "split = \"validation\"\n"));
  r = sluice("run " + write("eval_nan.toml", text));
  EXPECT_TRUE(r.code != 124 && r.code != 137) << "eval.classifier hung on NaN scores\n" << r.out;
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Batch 0 of validation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nan for " + folders() + "/validation/a/000017.jpg"), std::string::npos)
      << r.out;
}

}  // namespace

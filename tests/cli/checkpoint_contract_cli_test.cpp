// A checkpoint carries its contract into evaluation and prediction: a model
// trained on CelebA's "Smiling" names its outputs Smiling / not Smiling in
// `sluice predict`, predict.csv and eval.classifier's table, and `sluice check`
// refuses a pipeline that scales pixels otherwise than the checkpoint was trained
// on, at the checkpoint key, naming both scalings. One tiny checkpoint (one
// epoch of 8 synthetic images, the demo's narrow model) serves every test.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using cli_test::read_text;
using cli_test::set_string;
using cli_test::source_file;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 120 " + std::string(SLUICE_BINARY) + " " + args);
}

using cli_test::value_position;

class CheckpointContractCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_ckpt_contract_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Result r = sluice("synth --out " + celeba() + " --count 40 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    r = sluice("run " + source_file("configs/demo.toml") + set_string("index.root", celeba()) +
               set_string("index.label", "Smiling") +
               set_string("train.output_dir", (dir_ / "run").string()) +
               set_string("train.device", "cpu") +
               " --set index.epochs=1 --set index.limit=8 --set batch.batch_size=4");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
    ASSERT_TRUE(fs::exists(checkpoint())) << "training the checkpoint failed";
  }

  static std::string celeba() { return (dir_ / "celeba").string(); }
  static std::string checkpoint() { return (dir_ / "run" / "last.pt").string(); }
  static std::string image(int n) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.jpg", n);
    return (dir_ / "celeba" / "img_align_celeba" / "img_align_celeba" / name).string();
  }

  static fs::path dir_;
};

fs::path CheckpointContractCli::dir_;

// Every line of `sluice predict` output names one of the two classes.
void expect_every_line_names(const std::string& out, const std::string& positive,
                             const std::string& negative, int lines) {
  std::istringstream in(out);
  std::string line;
  int seen = 0;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << out;
    const std::string name = line.substr(tab + 1, line.find('\t', tab + 1) - tab - 1);
    EXPECT_TRUE(name == positive || name == negative) << line;
    ++seen;
  }
  EXPECT_EQ(seen, lines) << out;
}

TEST_F(CheckpointContractCli, PredictNamesTheClassesOfTheTrainedLabel) {
  Result r = sluice("predict --device cpu --checkpoint " + checkpoint() + " " + image(1) + " " +
                    image(2) + " " + image(3));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("Male"), std::string::npos) << r.out;
  expect_every_line_names(r.out, "Smiling", "not Smiling", 3);
  // Names given on the command line still win.
  r = sluice("predict --device cpu --checkpoint " + checkpoint() +
             " --positive-name grin --negative-name straight " + image(1) + " " + image(2));
  ASSERT_EQ(r.code, 0) << r.out;
  expect_every_line_names(r.out, "grin", "straight", 2);
}

TEST_F(CheckpointContractCli, PredictCsvAndEvaluationNameTheClassesOfTheTrainedLabel) {
  // graphs/predict.toml reads a flat folder of unlabeled images and leaves pixels
  // unscaled, so predict.csv takes the checkpoint's scaling; the rows have no label
  // column (the images have none).
  const fs::path images = dir_ / "images";
  fs::create_directories(images);
  for (int n : {1, 2, 3}) fs::copy_file(image(n), images / fs::path(image(n)).filename());
  const fs::path csv = dir_ / "predictions.csv";
  Result r = sluice(
      "run " + source_file("graphs/predict.toml") + set_string("index.root", images.string()) +
      " --set resize.width=64 --set resize.height=80" +
      set_string("predict.checkpoint", checkpoint()) + set_string("predict.output", csv.string()) +
      set_string("predict.device", "cpu"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream rows(read_text(csv));
  std::string row;
  ASSERT_TRUE(std::getline(rows, row));
  EXPECT_EQ(row, "id,path,p_Smiling,prediction");
  int count = 0;
  while (std::getline(rows, row)) {
    const auto ends_with = [&](const std::string& tail) {
      return row.size() >= tail.size() &&
             row.compare(row.size() - tail.size(), tail.size(), tail) == 0;
    };
    EXPECT_TRUE(ends_with(",Smiling") || ends_with(",not Smiling")) << row;
    EXPECT_EQ(std::count(row.begin(), row.end(), ','), 3) << row;
    ++count;
  }
  EXPECT_EQ(count, 3);

  r = sluice("run " + source_file("configs/demo-eval.toml") + set_string("index.root", celeba()) +
             set_string("index.label", "Smiling") +
             set_string("evaluate.checkpoint", checkpoint()) + set_string("evaluate.report", "") +
             set_string("evaluate.device", "cpu"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not Smiling"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Female"), std::string::npos) << r.out;
}

TEST_F(CheckpointContractCli, EvaluationScaledOtherwiseThanTheCheckpointIsRefusedAtTheKey) {
  auto config = [&](const std::string& scaling) {
    return "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
           "\"\nsplit = [\"test\"]\nlabel = \"Smiling\"\nepochs = 1\nshuffle = false\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 64\n"
           "height = 80\n" +
           scaling +
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 4\n"
           "\n[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" +
           checkpoint() + "\"\n";
  };
  const fs::path file = dir_ / "eval.toml";
  const std::string trained = "was trained on pixels scaled uint8->rescale 1/255";
  for (const auto& [scaling, named] : std::vector<std::pair<std::string, std::string>>{
           {"normalize = \"imagenet\"\n", "uint8->normalize imagenet"},
           {"rescale = 0.5\n", "uint8->rescale 1/2"}}) {
    const std::string text = config(scaling);
    std::ofstream(file) << text;
    const Result r = sluice("check " + file.string());
    EXPECT_EQ(r.code, 2) << r.out;
    const std::string where = value_position(file, text, "checkpoint") + ": error: ";
    EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
    EXPECT_NE(r.out.find("stage 'evaluate' (eval.classifier): " + checkpoint() + " " + trained +
                         " but its input images are scaled " + named + " (set by stage 'resize')"),
              std::string::npos)
        << r.out;
  }
  // The checkpoint's own scaling, or none (the stage then applies the checkpoint's).
  for (const std::string scaling : {"rescale = 0.00392156862745098\n", ""}) {
    std::ofstream(file) << config(scaling);
    const Result r = sluice("check " + file.string());
    EXPECT_EQ(r.code, 0) << scaling << "\n" << r.out;
  }
}

}  // namespace

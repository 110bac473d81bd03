// arch = "torchscript": a module scripted in Python (tools/export_torchscript.py) trains
// through Trainer with parameters frozen by prefix, its frozen batch norms keep their
// statistics, and checkpoints restore it and refuse a file that changed.
#include "stages/train/torchscript_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "stages/train/trainer.h"
#include "tests/train/test_batches.h"

namespace fs = std::filesystem;
using sluice::train::Freeze;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;

namespace {

class TorchScript : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string python = SLUICE_TEST_PYTHON;
    dir_ = fs::temp_directory_path() / ("sluice_torchscript_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string cmd = python + " " + SLUICE_SOURCE_DIR + "/tools/export_torchscript.py " +
                            file() + " --arch tiny_resnet --num-classes 3 --seed 4 2>/dev/null";
    available_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!available_) GTEST_SKIP() << SLUICE_TEST_PYTHON << " cannot export TorchScript (no torch)";
  }

  static std::string file() { return (dir_ / "tiny3.pt").string(); }

  static TrainerConfig config() {
    TrainerConfig c;
    c.model.arch = "torchscript";
    c.model.model_path = file();
    c.model.num_classes = 3;
    c.model.freeze = Freeze::kPrefixes;
    c.model.freeze_prefixes = {"conv1.", "bn1.", "layer1."};
    c.label_kind = sluice::LabelSpec::Kind::kCategorical;
    c.device = "cpu";
    c.optimizer.lr = 1e-2;
    return c;
  }

  static std::map<std::string, torch::Tensor> snapshot(Trainer& t) {
    std::map<std::string, torch::Tensor> out;
    for (auto& [name, v] : sluice::train::model_state(t.model())) out[name] = v.clone();
    return out;
  }

  static fs::path dir_;
  static bool available_;
};

fs::path TorchScript::dir_;
bool TorchScript::available_ = false;

}  // namespace

TEST_F(TorchScript, TrainsUnfrozenParametersAndKeepsFrozenStatistics) {
  Trainer t(config());
  EXPECT_LT(t.parameter_count(true), t.parameter_count());
  const auto before = snapshot(t);
  for (int step = 0; step < 3; ++step) {
    const auto r = t.train_step(sluice::train::testing::toy_batch(2, 0, step, 4, 32));
    EXPECT_TRUE(std::isfinite(r.loss_sum));
  }
  const auto after = snapshot(t);
  for (const auto& [name, value] : before) {
    const bool frozen =
        name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0 || name.rfind("layer1.", 0) == 0;
    EXPECT_EQ(torch::equal(value, after.at(name)), frozen) << name;
  }
}

TEST_F(TorchScript, CheckpointRecordsTheFileAndRestoresItsParameters) {
  const std::string checkpoint = (dir_ / "ckpt.pt").string();
  Trainer t(config());
  t.train_step(sluice::train::testing::toy_batch(3, 0, 0, 4, 32));
  t.save_checkpoint(checkpoint, {});
  const auto info = sluice::train::read_checkpoint_info(checkpoint);
  EXPECT_EQ(info.model.arch, "torchscript");
  EXPECT_EQ(info.model.model_path, file());
  EXPECT_EQ(info.model.model_hash, sluice::train::file_fingerprint(file()));
  EXPECT_EQ(info.model.freeze_prefixes, (std::vector<std::string>{"conv1.", "bn1.", "layer1."}));

  TrainerConfig again;
  again.model = info.model;
  again.model.freeze = Freeze::kNone;
  again.label_kind = sluice::LabelSpec::Kind::kCategorical;
  again.device = "cpu";
  Trainer restored(again);
  restored.load_checkpoint(checkpoint, /*with_optimizer=*/false);
  const auto batch = sluice::train::testing::toy_batch(4, 0, 0, 4, 32, "validation");
  EXPECT_EQ(t.predict(batch), restored.predict(batch));

  // A file that changed since is refused, naming both fingerprints.
  const std::string copy = (dir_ / "changed.pt").string();
  fs::copy_file(file(), copy);
  std::ofstream(copy, std::ios::app) << "x";
  again.model.model_path = copy;
  try {
    Trainer changed(again);
    FAIL() << "a changed TorchScript file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("changed since the checkpoint was trained"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TorchScript, OutputsThatDoNotFitTheLabelAreNamed) {
  auto c = config();
  c.model.num_classes = 4;
  Trainer t(c);
  try {
    t.train_step(sluice::train::testing::toy_batch(5, 0, 0, 2, 32));
    FAIL() << "3 outputs trained as 4";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the label needs 4 output(s) per image"),
              std::string::npos)
        << e.what();
  }
  c.model.freeze_prefixes = {"layer7."};
  EXPECT_THROW(Trainer{c}, std::invalid_argument);
}

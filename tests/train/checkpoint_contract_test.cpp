// Checkpoints carry their contract: the input size, channels, pixel scaling (with
// its name) and the label schema round-trip; a checkpoint written before the
// schema and the scaling's name were recorded still loads, predicts, and names
// its classes positive/negative, in the library and in `sluice predict`.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "stages/train/class_names.h"
#include "stages/train/trainer.h"
#include "tests/cli/run_command.h"
#include "tests/train/test_batches.h"

namespace fs = std::filesystem;
using sluice::LabelSpec;
using sluice::Normalization;
using sluice::train::read_checkpoint_info;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;
using sluice::train::TrainingState;
using sluice::train::testing::toy_batch;

namespace {

constexpr int kSide = 32;

TrainerConfig narrow_config(uint64_t seed) {
  TrainerConfig c;
  c.model.width_divisor = 16;
  c.model.freeze = sluice::train::Freeze::kUntil;
  c.model.freeze_until = "features.4";
  c.device = "cpu";
  c.seed = seed;
  return c;
}

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TrainingState smiling_state() {
  TrainingState s;
  s.epoch = 1;
  s.input.width = kSide;
  s.input.height = kSide;
  s.input.channels = 3;
  s.input.normalization.kind = Normalization::Kind::kRescale;
  s.input.normalization.scale = 1.0 / 255.0;
  s.label = LabelSpec::from_classes("Smiling", {"not Smiling", "Smiling"}, "index", "label");
  return s;
}

// What checkpoints were before they recorded the label schema and the scaling's
// name: the same dict without those two fields.
std::string without_contract_fields(const std::string& bytes) {
  auto value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  auto d = value.toGenericDict();
  auto state = d.at("state").toGenericDict();
  EXPECT_EQ(state.erase("label"), 1u);
  EXPECT_EQ(state.at("input").toGenericDict().erase("normalization_name"), 1u);
  const auto out = torch::pickle_save(d);
  return std::string(out.begin(), out.end());
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

TEST(CheckpointContract, RoundTripsSizeScalingAndLabelSchema) {
  const auto dir = temp_dir("sluice_ckpt_contract");
  const auto path = (dir / "best.pt").string();
  Trainer a(narrow_config(1));
  TrainingState s = smiling_state();
  s.input.width = 48;  // width and height are kept apart
  s.input.normalization.kind = Normalization::Kind::kMeanStd;
  s.input.normalization.mean[0] = 0.485;
  s.input.normalization.std[2] = 0.225;
  s.input.normalization_name = "imagenet";
  a.save_checkpoint(path, s);

  for (const TrainingState& r :
       {read_checkpoint_info(path).state, Trainer(narrow_config(2)).load_checkpoint(path)}) {
    EXPECT_EQ(r.input.width, 48);
    EXPECT_EQ(r.input.height, kSide);
    EXPECT_EQ(r.input.channels, 3);
    EXPECT_EQ(r.input.normalization.kind, Normalization::Kind::kMeanStd);
    EXPECT_DOUBLE_EQ(r.input.normalization.mean[0], 0.485);
    EXPECT_DOUBLE_EQ(r.input.normalization.std[2], 0.225);
    EXPECT_EQ(r.input.normalization_name, "imagenet");
    EXPECT_EQ(r.label.kind, LabelSpec::Kind::kBinary);
    EXPECT_EQ(r.label.attribute, "Smiling");
    EXPECT_EQ(r.label.names, (std::vector<std::string>{"not Smiling", "Smiling"}));
  }
  // A categorical schema keeps its class names in order.
  s.label = LabelSpec::from_classes("class", {"tulip", "daisy", "rose"}, "index", "root");
  a.save_checkpoint(path, s);
  const auto label = read_checkpoint_info(path).state.label;
  EXPECT_EQ(label.kind, LabelSpec::Kind::kCategorical);
  EXPECT_EQ(label.attribute, "class");
  EXPECT_EQ(label.names, (std::vector<std::string>{"tulip", "daisy", "rose"}));
  fs::remove_all(dir);
}

TEST(CheckpointContract, ClassNamesComeFromTheSchemaUnlessGiven) {
  const LabelSpec smiling =
      LabelSpec::from_classes("Smiling", {"not Smiling", "Smiling"}, "index", "label");
  auto names = sluice::train::binary_class_names(smiling, "", "");
  EXPECT_EQ(names.negative, "not Smiling");
  EXPECT_EQ(names.positive, "Smiling");
  names = sluice::train::binary_class_names(smiling, "", "Happy");
  EXPECT_EQ(names.negative, "not Smiling");
  EXPECT_EQ(names.positive, "Happy");
  names = sluice::train::binary_class_names(LabelSpec{}, "", "");
  EXPECT_EQ(names.negative, "negative");
  EXPECT_EQ(names.positive, "positive");
}

TEST(CheckpointContract, CheckpointWithoutTheNewFieldsLoadsAndPredicts) {
  const auto dir = temp_dir("sluice_ckpt_old");
  Trainer a(narrow_config(3));
  for (int i = 0; i < 2; ++i) a.train_step(toy_batch(4, 0, i, 8, kSide));
  const auto path = (dir / "old.pt").string();
  write_file(path, without_contract_fields(a.checkpoint_bytes(smiling_state())));

  const auto info = read_checkpoint_info(path);
  EXPECT_EQ(info.state.label.kind, LabelSpec::Kind::kUnknown);
  EXPECT_TRUE(info.state.label.names.empty());
  EXPECT_EQ(info.state.input.normalization_name, "");
  EXPECT_EQ(info.state.input.width, kSide);
  EXPECT_EQ(info.state.input.normalization.kind, Normalization::Kind::kRescale);
  EXPECT_EQ(sluice::train::binary_class_names(info.state.label, "", "").positive, "positive");

  Trainer b(narrow_config(9));
  b.load_checkpoint(path, /*with_optimizer=*/false);
  const auto batch = toy_batch(4, 1, 0, 8, kSide);
  EXPECT_EQ(b.predict(batch), a.predict(batch));

  // `sluice predict` scores an image with it, naming the classes positive/negative.
#ifndef SLUICE_BINARY
  GTEST_SKIP() << "no sluice binary in this build";
#else
  const std::string sluice = SLUICE_BINARY;
  const auto synth = cli_test::run_command(sluice + " synth --out " + (dir / "celeba").string() +
                                           " --count 1 --seed 2");
  ASSERT_EQ(synth.code, 0) << synth.out;
  const std::string image =
      (dir / "celeba" / "img_align_celeba" / "img_align_celeba" / "000001.jpg").string();
  const auto r =
      cli_test::run_command(sluice + " predict --device cpu --checkpoint " + path + " " + image);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("records no label schema"), std::string::npos) << r.out;
  const bool named = r.out.find(image + "\tpositive\t") != std::string::npos ||
                     r.out.find(image + "\tnegative\t") != std::string::npos;
  EXPECT_TRUE(named) << r.out;
  fs::remove_all(dir);
#endif
}

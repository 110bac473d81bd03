// ResNet-18/34/50: torchvision's names, shapes and counts, the same top-5 as
// torchvision on one image (its preprocessing included), and frozen batch norms.
#include "stages/train/resnet.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "stages/train/model.h"
#include "stages/train/predict_images.h"
#include "stages/train/trainer.h"
#include "tests/train/test_batches.h"

namespace fs = std::filesystem;
using sluice::train::Freeze;
using sluice::train::Head;
using sluice::train::LoadMode;
using sluice::train::ModelConfig;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;

namespace {

ModelConfig imagenet(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  c.head = Head::kImagenet;
  c.num_classes = 1000;
  c.freeze = Freeze::kNone;
  return c;
}

std::map<std::string, std::vector<int64_t>> shapes(sluice::train::Model& model) {
  std::map<std::string, std::vector<int64_t>> out;
  for (auto& [name, t] : sluice::train::model_state(model)) out[name] = t.sizes().vec();
  return out;
}

TrainerConfig narrow_trainer(Freeze freeze) {
  TrainerConfig c;
  c.model.arch = "resnet18";
  c.model.width_divisor = 16;
  c.model.freeze = freeze;
  c.device = "cpu";
  c.optimizer.lr = 1e-2;
  return c;
}

}  // namespace

TEST(ResNet, Resnet18HasTorchvisionNamesAndShapes) {
  auto model = sluice::train::make_model(imagenet("resnet18"));
  const auto s = shapes(*model);
  EXPECT_EQ(s.size(), 122u);  // torchvision's resnet18().state_dict()
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"conv1.weight", {64, 3, 7, 7}},
      {"bn1.weight", {64}},
      {"bn1.running_mean", {64}},
      {"bn1.running_var", {64}},
      {"bn1.num_batches_tracked", {}},
      {"layer1.0.conv1.weight", {64, 64, 3, 3}},
      {"layer1.1.bn2.bias", {64}},
      {"layer2.0.conv1.weight", {128, 64, 3, 3}},
      {"layer2.0.downsample.0.weight", {128, 64, 1, 1}},
      {"layer2.0.downsample.1.running_var", {128}},
      {"layer4.1.conv2.weight", {512, 512, 3, 3}},
      {"fc.weight", {1000, 512}},
      {"fc.bias", {1000}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(s.count(name)) << name;
    EXPECT_EQ(s.at(name), shape) << name;
  }
  EXPECT_FALSE(s.count("layer1.0.downsample.0.weight"));
}

TEST(ResNet, DepthsHaveTorchvisionParameterCounts) {
  const std::map<std::string, int64_t> counts = {
      {"resnet18", 11689512}, {"resnet34", 21797672}, {"resnet50", 25557032}};
  for (const auto& [arch, count] : counts) {
    auto model = sluice::train::make_model(imagenet(arch));
    EXPECT_EQ(sluice::train::count_parameters(*model), count) << arch;
  }
  auto r50 = sluice::train::make_model(imagenet("resnet50"));
  const auto s = shapes(*r50);
  EXPECT_EQ(s.at("layer1.0.conv3.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(s.at("layer1.0.downsample.0.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(s.at("fc.weight"), (std::vector<int64_t>{1000, 2048}));
}

TEST(ResNet, ReplacedHeadAndWidthDivisor) {
  ModelConfig c;
  c.arch = "resnet18";
  c.width_divisor = 8;
  c.num_classes = 3;
  auto model = sluice::train::make_model(c);
  const auto s = shapes(*model);
  EXPECT_EQ(s.at("conv1.weight"), (std::vector<int64_t>{8, 3, 7, 7}));
  EXPECT_EQ(s.at("fc.weight"), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(model->new_head_prefixes(), std::vector<std::string>{"fc."});
  // The default freeze (the trunk): only fc trains.
  for (auto& [name, t] : model->named_parameters()) {
    EXPECT_EQ(t.requires_grad(), name.rfind("fc.", 0) == 0) << name;
  }
  torch::NoGradGuard no_grad;
  model->set_training(false);
  EXPECT_EQ(model->forward(torch::rand({2, 3, 48, 40})).sizes(), (std::vector<int64_t>{2, 3}));
}

TEST(ResNet, FreezeByPrefixAndUnknownPrefix) {
  ModelConfig c;
  c.arch = "resnet18";
  c.width_divisor = 16;
  c.freeze = Freeze::kPrefixes;
  c.freeze_prefixes = {"conv1.", "bn1", "layer1."};
  auto model = sluice::train::make_model(c);
  for (auto& [name, t] : model->named_parameters()) {
    const bool frozen =
        name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0 || name.rfind("layer1.", 0) == 0;
    EXPECT_EQ(t.requires_grad(), !frozen) << name;
  }
  c.freeze_prefixes = {"layer9."};
  try {
    sluice::train::make_model(c);
    FAIL() << "an unknown prefix was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'layer9.' matches no parameter of resnet18"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
  c.head = Head::kGap;
  c.freeze = Freeze::kNone;
  EXPECT_THROW(sluice::train::make_model(c), std::invalid_argument);
}

// Torchvision's resnet18 (random init, exported by tools/export_torchvision_weights.py)
// and ours on the same PNG: torchvision's Resize(256)/CenterCrop(224)/Normalize in
// Python, load_image_batch's ImageNet preprocessing here.
TEST(ResNet, TopFiveMatchTorchvisionOnTheSameImage) {
  const std::string python = SLUICE_TEST_PYTHON;
  if (std::system((python + " -c 'import torchvision' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import torchvision (install python3-torchvision)";
  }
  const auto dir = fs::temp_directory_path() / ("sluice_resnet_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto weights = (dir / "resnet18.pt").string();
  const auto image = (dir / "image.png").string();
  const auto top5 = (dir / "top5.txt").string();
  std::string cmd =
      python + " " + SLUICE_EXPORT_SCRIPT + " " + weights + " --arch resnet18 --random --seed 7";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  cmd = python + " " + SLUICE_SOURCE_DIR + "/tests/train/torchvision_top5.py resnet18 " + weights +
        " " + image + " > " + top5;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  TrainerConfig config;
  config.model = imagenet("resnet18");
  config.device = "cpu";
  config.label_kind = sluice::LabelSpec::Kind::kCategorical;
  Trainer trainer(config);
  sluice::train::load_weights_file(trainer.model(), weights, LoadMode::kStrict);
  const auto batch =
      sluice::train::load_image_batch({image}, {}, sluice::train::Preprocess::kImagenet);
  const auto probs = trainer.predict(batch);
  ASSERT_EQ(probs.size(), 1000u);

  std::ifstream in(top5);
  double max_diff = 0.0;
  std::vector<size_t> order(1000);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](size_t a, size_t b) { return probs[a] > probs[b]; });
  for (int k = 0; k < 5; ++k) {
    size_t cls = 0;
    double p = 0.0;
    ASSERT_TRUE(in >> cls >> p) << "top5.txt line " << k + 1;
    EXPECT_EQ(order[k], cls) << "rank " << k + 1;
    max_diff = std::max(max_diff, std::abs(probs[cls] - p));
  }
  fs::remove_all(dir);
  EXPECT_LT(max_diff, 1e-4);
  std::printf("resnet18 top-5 vs torchvision: max |dp| = %.3g\n", max_diff);
  RecordProperty("max_abs_probability_diff", std::to_string(max_diff));
}

// With the trunk frozen, training steps move fc but no batch norm statistic; with
// nothing frozen the same steps move them.
TEST(ResNet, FrozenTrunkKeepsBatchNormStatistics) {
  auto statistics = [](Trainer& t) {
    std::map<std::string, torch::Tensor> out;
    for (auto& [name, b] : t.model().named_buffers()) out[name] = b.clone();
    return out;
  };
  for (const Freeze freeze : {Freeze::kFeatures, Freeze::kNone}) {
    Trainer t(narrow_trainer(freeze));
    const auto before = statistics(t);
    const auto fc_before = t.model().named_parameters().back().second.clone();
    for (int step = 0; step < 3; ++step) {
      t.train_step(sluice::train::testing::toy_batch(1, 0, step, 4, 32));
    }
    const auto after = statistics(t);
    int moved = 0;
    for (const auto& [name, value] : before) moved += !torch::equal(value, after.at(name));
    if (freeze == Freeze::kFeatures) {
      EXPECT_EQ(moved, 0) << "batch norm statistics moved under a frozen trunk";
    } else {
      EXPECT_EQ(moved, static_cast<int>(before.size())) << "unfrozen statistics stood still";
    }
    EXPECT_FALSE(torch::equal(fc_before, t.model().named_parameters().back().second));
  }
}

#include "stages/train/vgg.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

namespace fs = std::filesystem;
using sluice::train::Freeze;
using sluice::train::Head;
using sluice::train::LoadMode;
using sluice::train::Vgg;
using sluice::train::VggConfig;

namespace {

// torchvision.models.vgg16().state_dict(): names and shapes, in order.
const std::vector<std::pair<std::string, std::vector<int64_t>>> kTorchvisionVgg16 = {
    {"features.0.weight", {64, 3, 3, 3}},     {"features.0.bias", {64}},
    {"features.2.weight", {64, 64, 3, 3}},    {"features.2.bias", {64}},
    {"features.5.weight", {128, 64, 3, 3}},   {"features.5.bias", {128}},
    {"features.7.weight", {128, 128, 3, 3}},  {"features.7.bias", {128}},
    {"features.10.weight", {256, 128, 3, 3}}, {"features.10.bias", {256}},
    {"features.12.weight", {256, 256, 3, 3}}, {"features.12.bias", {256}},
    {"features.14.weight", {256, 256, 3, 3}}, {"features.14.bias", {256}},
    {"features.17.weight", {512, 256, 3, 3}}, {"features.17.bias", {512}},
    {"features.19.weight", {512, 512, 3, 3}}, {"features.19.bias", {512}},
    {"features.21.weight", {512, 512, 3, 3}}, {"features.21.bias", {512}},
    {"features.24.weight", {512, 512, 3, 3}}, {"features.24.bias", {512}},
    {"features.26.weight", {512, 512, 3, 3}}, {"features.26.bias", {512}},
    {"features.28.weight", {512, 512, 3, 3}}, {"features.28.bias", {512}},
    {"classifier.0.weight", {4096, 25088}},   {"classifier.0.bias", {4096}},
    {"classifier.3.weight", {4096, 4096}},    {"classifier.3.bias", {4096}},
    {"classifier.6.weight", {1000, 4096}},    {"classifier.6.bias", {1000}},
};

VggConfig imagenet_config(const std::string& arch = "vgg16") {
  VggConfig c;
  c.arch = arch;
  c.head = Head::kImagenet;
  c.num_classes = 1000;
  c.freeze = Freeze::kNone;
  return c;
}

VggConfig narrow(Head head) {
  VggConfig c;
  c.width_divisor = 16;
  c.head = head;
  return c;
}

}  // namespace

TEST(Vgg, Vgg16NamesAndShapesMatchTorchvision) {
  Vgg model(imagenet_config());
  auto params = model->named_parameters(true);
  ASSERT_EQ(params.size(), kTorchvisionVgg16.size());
  size_t i = 0;
  for (const auto& p : params) {
    EXPECT_EQ(p.key(), kTorchvisionVgg16[i].first);
    EXPECT_EQ(p.value().sizes().vec(), kTorchvisionVgg16[i].second) << p.key();
    ++i;
  }
  EXPECT_EQ(sluice::train::count_parameters(*model), 138357544);
}

TEST(Vgg, OtherDepthsHaveTorchvisionParameterCounts) {
  // torchvision: vgg11 132,863,336; vgg13 133,047,848; vgg19 143,667,240.
  const std::map<std::string, int64_t> expected = {
      {"vgg11", 132863336}, {"vgg13", 133047848}, {"vgg19", 143667240}};
  for (const auto& [arch, count] : expected) {
    Vgg model(imagenet_config(arch));
    EXPECT_EQ(sluice::train::count_parameters(*model), count) << arch;
  }
}

TEST(Vgg, ReplaceLastKeepsFc6Fc7AndHasOneUnit) {
  auto c = narrow(Head::kReplaceLast);
  Vgg model(c);
  auto params = model->named_parameters(true);
  ASSERT_NE(params.find("classifier.6.weight"), nullptr);
  EXPECT_EQ(params["classifier.0.weight"].sizes().vec(), (std::vector<int64_t>{256, 32 * 49}));
  EXPECT_EQ(params["classifier.6.weight"].sizes().vec(), (std::vector<int64_t>{1, 256}));
  // Any input size: 32x32 and 72x56.
  EXPECT_EQ(model->forward(torch::rand({2, 3, 32, 32})).sizes().vec(),
            (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(model->forward(torch::rand({1, 3, 72, 56})).sizes().vec(),
            (std::vector<int64_t>{1, 1}));
}

TEST(Vgg, GapHeadPoolsFeaturesIntoOneUnit) {
  Vgg model(narrow(Head::kGap));
  auto params = model->named_parameters(true);
  EXPECT_EQ(params.find("classifier.0.weight"), nullptr);
  EXPECT_EQ(params["head.weight"].sizes().vec(), (std::vector<int64_t>{1, 32}));
  EXPECT_EQ(model->forward(torch::rand({3, 3, 40, 40})).sizes().vec(),
            (std::vector<int64_t>{3, 1}));
}

TEST(Vgg, FreezeModes) {
  auto c = narrow(Head::kReplaceLast);
  Vgg features(c);
  for (const auto& p : features->named_parameters(true)) {
    EXPECT_EQ(p.value().requires_grad(), p.key().rfind("classifier.", 0) == 0) << p.key();
  }
  c.freeze = Freeze::kNone;
  Vgg none(c);
  for (const auto& p : none->parameters()) EXPECT_TRUE(p.requires_grad());
  c.freeze = Freeze::kUntil;
  c.freeze_until = "features.23";
  Vgg until(c);
  auto params = until->named_parameters(true);
  EXPECT_FALSE(params["features.21.weight"].requires_grad());
  EXPECT_TRUE(params["features.24.weight"].requires_grad());
  EXPECT_TRUE(params["classifier.0.weight"].requires_grad());
  c.freeze_until = "features.99";
  EXPECT_THROW(Vgg{c}, std::invalid_argument);
}

TEST(Vgg, LoadReportsAllMissingUnexpectedAndMismatchedKeys) {
  Vgg model(narrow(Head::kReplaceLast));
  auto state = sluice::train::model_state(*model);
  state.erase(state.begin());                           // features.0.weight missing
  state.erase(state.begin());                           // features.0.bias missing
  state.emplace_back("extra.weight", torch::zeros(1));  // unexpected
  state[0].second = torch::zeros({9, 9});               // features.2.weight mismatched
  try {
    sluice::train::load_state(*model, state, LoadMode::kStrict, "w.pt");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing keys (2)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("features.0.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected keys (1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("extra.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shape mismatches (1)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("features.2.weight"), std::string::npos) << msg;
  }
}

TEST(Vgg, TransferLoadSkipsTheReplacedHead) {
  auto imagenet = imagenet_config();
  imagenet.width_divisor = 16;
  imagenet.num_classes = 1000;
  Vgg source(imagenet);
  Vgg target(narrow(Head::kReplaceLast));
  const auto head_before = target->named_parameters()["classifier.6.weight"].clone();
  sluice::train::load_state(*target, sluice::train::model_state(*source), LoadMode::kTransfer,
                            "imagenet");
  auto t = target->named_parameters();
  auto s = source->named_parameters();
  EXPECT_TRUE(torch::equal(t["features.0.weight"], s["features.0.weight"]));
  EXPECT_TRUE(torch::equal(t["classifier.3.weight"], s["classifier.3.weight"]));
  EXPECT_TRUE(torch::equal(t["classifier.6.weight"], head_before));
  EXPECT_THROW(sluice::train::load_state(*target, sluice::train::model_state(*source),
                                         LoadMode::kStrict, "imagenet"),
               std::runtime_error);
}

TEST(Vgg, LogitsMatchTorchvisionOnExportedWeights) {
  const std::string python = SLUICE_TEST_PYTHON;
  if (std::system((python + " -c 'import torchvision' 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import torchvision (install python3-torchvision)";
  }
  const auto dir = fs::temp_directory_path() / ("sluice_tv_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto weights = (dir / "vgg16.pt").string();
  const auto reference = (dir / "ref.pt").string();
  const std::string cmd = python + " " + SLUICE_EXPORT_SCRIPT + " " + weights +
                          " --random --seed 7 --input-size 64 --reference " + reference;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Vgg model(imagenet_config());
  sluice::train::load_weights_file(*model, weights, LoadMode::kStrict);
  std::map<std::string, torch::Tensor> ref;
  for (auto& [k, v] : sluice::train::read_tensor_dict(reference)) ref[k] = v;
  fs::remove_all(dir);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(ref.at("input"));
  const double max_diff = (logits - ref.at("logits")).abs().max().item<double>();
  EXPECT_LT(max_diff, 1e-4);
  EXPECT_EQ(logits.sizes(), ref.at("logits").sizes());
}

TEST(Vgg, NotADictIsAClearError) {
  const auto path = fs::temp_directory_path() / "sluice_not_weights.pt";
  { std::ofstream(path) << "not a zip"; }
  EXPECT_THROW(sluice::train::read_tensor_dict(path.string()), std::runtime_error);
  fs::remove(path);
}

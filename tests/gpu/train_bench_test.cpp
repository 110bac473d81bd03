#include "stages/train/train_bench.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "stages/train/trainer.h"
#include "tests/train/test_batches.h"

using sluice::train::Freeze;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;
using sluice::train::VggConfig;
using sluice::train::testing::toy_batch;

namespace {

constexpr int kSide = 32;
constexpr int kBatch = 8;

TrainerConfig toy_config(uint64_t seed, const std::string& device) {
  TrainerConfig c;
  c.model.width_divisor = 16;
  c.model.freeze = Freeze::kUntil;
  c.model.freeze_until = "features.4";
  c.optimizer.lr = 1e-3;
  c.device = device;
  c.seed = seed;
  return c;
}

void use_imagenet_normalisation(sluice::Batch& b) {
  b.normalization.kind = sluice::Normalization::Kind::kMeanStd;
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c) {
    b.normalization.mean[c] = mean[c];
    b.normalization.std[c] = stdv[c];
  }
}

// Mean training loss of the first and the last of `epochs` epochs, and the accuracy on
// held-out toy batches afterwards.
struct Learning {
  double first_loss = 0, last_loss = 0, accuracy = 0;
};

Learning learn_toy_task(Trainer& t, int epochs) {
  Learning l;
  for (int e = 0; e < epochs; ++e) {
    double loss = 0;
    int64_t n = 0;
    for (int i = 0; i < 4; ++i) {
      auto b = toy_batch(21, e, i, kBatch, kSide);
      use_imagenet_normalisation(b);
      const auto r = t.train_step(b);
      loss += r.loss_sum;
      n += r.count;
    }
    if (e == 0) l.first_loss = loss / n;
    l.last_loss = loss / n;
  }
  int correct = 0, total = 0;
  for (int i = 0; i < 4; ++i) {
    auto b = toy_batch(99, 0, i, kBatch, kSide);
    use_imagenet_normalisation(b);
    const auto p = t.predict(b);
    for (size_t k = 0; k < p.size(); ++k, ++total) correct += (p[k] >= 0.5f) == (b.labels[k] == 1);
  }
  l.accuracy = static_cast<double>(correct) / total;
  return l;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

}  // namespace

TEST(TrainBench, Vgg16CostMatchesTorchvision) {
  VggConfig c;  // vgg16, replace_last, features frozen: the recipe
  const auto cost = sluice::train::vgg_cost(c, 224, 224);
  EXPECT_NEAR(cost.forward_macs / 1e9, 15.47, 0.01);  // torchvision: "GFLOPS 15.47"
  // Frozen features: weight gradients of fc6, fc7, fc8; input gradients of fc7, fc8.
  const double fc6 = 512.0 * 49 * 4096, fc7 = 4096.0 * 4096, fc8 = 4096.0;
  EXPECT_NEAR(cost.backward_executed_macs, fc6 + 2 * fc7 + 2 * fc8, 1.0);
  c.freeze = Freeze::kNone;
  const auto all = sluice::train::vgg_cost(c, 224, 224);
  const double first_conv = 224.0 * 224 * 3 * 64 * 9;  // its input needs no gradient
  EXPECT_NEAR(all.backward_executed_macs, 2 * all.forward_macs - first_conv, 1.0);
}

TEST(TrainBench, RunsTheTrainerStepOnCpu) {
  sluice::train::TrainBenchOptions o;
  o.trainer = toy_config(1, "cpu");
  o.size = 32;
  o.batch = 4;
  o.steps = 3;
  o.warmup = 1;
  o.distinct_batches = 2;
  int calls = 0;
  const auto r = sluice::train::run_train_bench(o, [&](int, bool) { ++calls; });
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(r.device, "cpu");
  EXPECT_FALSE(r.bf16);
  EXPECT_FALSE(r.channels_last);
  EXPECT_EQ(r.host_memory, "heap");
  EXPECT_EQ(r.images, 12);
  EXPECT_GT(r.images_per_second, 0.0);
  EXPECT_TRUE(std::isfinite(r.last_loss));
  EXPECT_LE(r.step_ms_min, r.step_ms_median);
  EXPECT_LE(r.step_ms_median, r.step_ms_max);
}

TEST(TrainBench, CommandPrintsImagesPerSecond) {
  const std::string out = run(std::string(SLUICE_BINARY) +
                              " bench train --device cpu --width-divisor 16 --size 32 --batch 4 "
                              "--steps 2 --warmup 1 --peak-tflops 1 -q 2>&1");
  EXPECT_NE(out.find("images_per_second: "), std::string::npos) << out;
  EXPECT_NE(out.find("mfu: "), std::string::npos) << out;
  EXPECT_NE(out.find("precision: fp32"), std::string::npos) << out;
  const std::string bad =
      run(std::string(SLUICE_BINARY) + " bench train --steps 0 2>&1; echo rc=$?");
  EXPECT_NE(bad.find("rc=2"), std::string::npos) << bad;
}

// The same learning check the GPU runs, in fp32 on the CPU: the thresholds hold.
TEST(GpuTraining, ToyTaskLearnsOnCpuToo) {
  Trainer t(toy_config(5, "cpu"));
  const auto l = learn_toy_task(t, 6);
  EXPECT_LT(l.last_loss, 0.8 * l.first_loss);
  EXPECT_GE(l.accuracy, 0.75);
}

TEST(GpuTraining, Bf16ChannelsLastLearnsToyTask) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  Trainer t(toy_config(5, "cuda"));
  ASSERT_TRUE(t.bf16());
  const auto l = learn_toy_task(t, 6);
  EXPECT_LT(l.last_loss, 0.8 * l.first_loss);
  EXPECT_GE(l.accuracy, 0.75);
}

// Same initial weights (built on the CPU, then moved): bf16 autocast with uint8 ->
// float normalisation on the GPU stays close to fp32 on the CPU.
TEST(GpuTraining, Bf16PredictionsCloseToFp32OnCpu) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  Trainer gpu(toy_config(4, "cuda"));
  Trainer cpu(toy_config(4, "cpu"));
  ASSERT_TRUE(gpu.bf16());
  auto b = toy_batch(3, 0, 0, kBatch, kSide);
  use_imagenet_normalisation(b);
  const auto pg = gpu.predict(b), pc = cpu.predict(b);
  ASSERT_EQ(pg.size(), pc.size());
  for (size_t i = 0; i < pg.size(); ++i) EXPECT_NEAR(pg[i], pc[i], 0.05) << i;
}

TEST(TrainBenchGpu, RecipeSettingsOnCuda) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  sluice::train::TrainBenchOptions o;
  o.trainer = toy_config(1, "cuda");
  o.size = 64;
  o.batch = 8;
  o.steps = 3;
  o.warmup = 1;
  const auto r = sluice::train::run_train_bench(o);
  EXPECT_EQ(r.device.rfind("cuda", 0), 0u) << r.device;
  EXPECT_TRUE(r.bf16);
  EXPECT_TRUE(r.channels_last);
  EXPECT_EQ(r.host_memory, "cuda-pinned");
  EXPECT_TRUE(std::isfinite(r.last_loss));
  EXPECT_GT(r.images_per_second, 0.0);
}

// train.vgg's callbacks at the level of their parts: the learning-rate schedules'
// rates, the fp16 loss scaler, gradient clipping, class weights against a loss
// computed by hand, a non-finite loss, and top-5 accuracy in the epoch record.
// (tests/cli/callbacks_cli_test.cpp runs them through `sluice`.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "stages/train/grad_scaler.h"
#include "stages/train/label_metrics.h"
#include "stages/train/lr_schedule.h"
#include "stages/train/metrics.h"
#include "stages/train/model.h"
#include "stages/train/trainer.h"
#include "stages/train/vgg.h"
#include "tests/train/test_batches.h"

using sluice::LabelSpec;
using sluice::train::GradScaler;
using sluice::train::GradScalerOptions;
using sluice::train::LrSchedule;
using sluice::train::LrScheduleConfig;
using sluice::train::LrScheduleKind;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;
using sluice::train::testing::toy_batch;

namespace {

constexpr int kSide = 32;
constexpr int kBatch = 8;

LrScheduleConfig schedule(LrScheduleKind kind) {
  LrScheduleConfig c;
  c.kind = kind;
  c.lr = 0.1;
  return c;
}

TEST(LrSchedule, NoneKeepsTheOptimizersRate) {
  const LrSchedule s(schedule(LrScheduleKind::kNone));
  for (int64_t e = 0; e < 5; ++e) EXPECT_DOUBLE_EQ(s.lr(e, e * 10), 0.1);
}

TEST(LrSchedule, StepDecaysEveryStepSizeEpochs) {
  auto c = schedule(LrScheduleKind::kStep);
  c.step_size = 2;
  c.gamma = 0.5;
  const LrSchedule s(c);
  const std::vector<double> expected = {0.1, 0.1, 0.05, 0.05, 0.025};
  for (size_t e = 0; e < expected.size(); ++e) {
    EXPECT_NEAR(s.lr(static_cast<int64_t>(e), 0), expected[e], 1e-15) << "epoch " << e;
  }
}

TEST(LrSchedule, CosineWarmsUpThenFallsToMinLr) {
  auto c = schedule(LrScheduleKind::kCosine);
  c.warmup_epochs = 2;
  c.epochs = 6;
  c.min_lr = 0.01;
  const LrSchedule s(c);
  EXPECT_NEAR(s.lr(0, 0), 0.05, 1e-12);  // warm-up: lr x 1/2, then lr x 2/2
  EXPECT_NEAR(s.lr(1, 0), 0.1, 1e-12);
  // Half a cosine over the 4 epochs after warm-up: t = 0, 1/4, 2/4, 3/4.
  for (int64_t e = 2; e < 6; ++e) {
    const double t = static_cast<double>(e - 2) / 4.0;
    EXPECT_NEAR(s.lr(e, 0), 0.01 + 0.09 * 0.5 * (1 + std::cos(M_PI * t)), 1e-12) << e;
  }
  EXPECT_NEAR(s.lr(4, 0), 0.055, 1e-12);  // halfway between lr and min_lr
  EXPECT_NEAR(s.lr(99, 0), 0.01, 1e-12);  // past the end: min_lr
}

TEST(LrSchedule, CosineWarmupStepsRampPerStep) {
  auto c = schedule(LrScheduleKind::kCosine);
  c.warmup_steps = 4;
  c.epochs = 3;
  const LrSchedule s(c);
  EXPECT_NEAR(s.lr(0, 0), 0.025, 1e-12);
  EXPECT_NEAR(s.lr(0, 3), 0.1, 1e-12);
  EXPECT_NEAR(s.lr(0, 4), 0.1, 1e-12);  // warm-up done: cosine at t = 0
  EXPECT_NEAR(s.lr(1, 9), 0.1 * 0.5 * (1 + std::cos(M_PI / 3)), 1e-12);
}

TEST(LrSchedule, CosineWithoutEpochsIsRefused) {
  EXPECT_THROW(LrSchedule(schedule(LrScheduleKind::kCosine)), std::invalid_argument);
}

// Keras' ReduceLROnPlateau with patience 2, factor 0.5, cooldown 2, min_lr 0.02.
TEST(LrSchedule, PlateauReducesAfterPatienceWithCooldownAndFloor) {
  auto c = schedule(LrScheduleKind::kPlateau);
  c.monitor = "val_loss";
  c.patience = 2;
  c.factor = 0.5;
  c.cooldown = 2;
  c.min_lr = 0.02;
  c.min_delta = 0.0;
  LrSchedule s(c);
  std::vector<double> losses(12, 0.95);
  losses[0] = 1.0;
  losses[1] = 0.9;
  std::vector<double> rates;
  for (size_t e = 0; e < losses.size(); ++e) {
    rates.push_back(s.lr(static_cast<int64_t>(e), 0));
    s.end_epoch(losses[e]);
  }
  // Improves at epochs 1 and 2 and stalls from 3: reduced after epoch 4 (wait 2); the
  // cooldown's first epoch (5) is not counted, as in Keras (its last one is), so the
  // next reduction comes after epoch 7, the third after 10, where 0.0125 is clamped to
  // the floor; at the floor it stays.
  const std::vector<double> expected = {0.1,  0.1,   0.1,   0.1,   0.05, 0.05,
                                        0.05, 0.025, 0.025, 0.025, 0.02, 0.02};
  for (size_t e = 0; e < expected.size(); ++e) EXPECT_NEAR(rates[e], expected[e], 1e-12) << e;
  EXPECT_EQ(s.state().reductions, 3);
}

TEST(LrSchedule, PlateauStateRestoresExactly) {
  auto c = schedule(LrScheduleKind::kPlateau);
  c.patience = 1;
  c.factor = 0.5;
  LrSchedule a(c);
  a.end_epoch(1.0);
  a.end_epoch(2.0);  // reduced
  LrSchedule b(c);
  b.restore(a.state());
  EXPECT_DOUBLE_EQ(b.lr(2, 0), 0.05);
  EXPECT_EQ(a.end_epoch(3.0), b.end_epoch(3.0));
  EXPECT_DOUBLE_EQ(a.lr(3, 0), b.lr(3, 0));
}

TEST(LrSchedule, PlateauMaximisesAccuracies) {
  auto c = schedule(LrScheduleKind::kPlateau);
  c.monitor = "val_accuracy";
  c.patience = 1;
  LrSchedule s(c);
  s.end_epoch(0.5);
  EXPECT_FALSE(s.end_epoch(0.6));  // higher is better
  EXPECT_TRUE(s.end_epoch(0.55));
}

std::vector<torch::Tensor> params_with_grads(std::vector<float> grads) {
  std::vector<torch::Tensor> params;
  for (float g : grads) {
    auto p = torch::zeros({2}, torch::requires_grad());
    p.mutable_grad() = torch::full({2}, g);
    params.push_back(p);
  }
  return params;
}

TEST(GradScaler, InfiniteGradientsSkipTheStepAndHalveTheScale) {
  GradScaler scaler(GradScalerOptions{1024.0, 2.0, 0.5, 3});
  auto params = params_with_grads({1024.0f, std::numeric_limits<float>::infinity()});
  EXPECT_TRUE(scaler.unscale(params));
  scaler.update(true);
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 512.0);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  auto nan_params = params_with_grads({std::nanf("")});
  EXPECT_TRUE(scaler.unscale(nan_params));
  scaler.update(true);
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 256.0);
}

TEST(GradScaler, FiniteGradientsAreUnscaledAndTheScaleGrows) {
  GradScaler scaler(GradScalerOptions{1024.0, 2.0, 0.5, 3});
  auto params = params_with_grads({2048.0f, -512.0f});
  EXPECT_FALSE(scaler.unscale(params));
  EXPECT_FLOAT_EQ(params[0].grad()[0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(params[1].grad()[1].item<float>(), -0.5f);
  const auto scaled = scaler.scale(torch::full({1}, 0.25f));
  EXPECT_FLOAT_EQ(scaled.item<float>(), 256.0f);
  for (int i = 0; i < 3; ++i) scaler.update(false);  // growth_interval good steps
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 2048.0);
  scaler.update(false);
  scaler.update(true);  // an overflow resets the count
  scaler.update(false);
  scaler.update(false);
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 1024.0);
}

TrainerConfig narrow(LabelSpec::Kind kind, int classes) {
  TrainerConfig c;
  c.model.arch = "vgg11";
  c.model.width_divisor = 16;
  c.model.head = sluice::train::Head::kGap;
  c.model.num_classes = classes;
  c.model.freeze = sluice::train::Freeze::kNone;
  c.model.dropout = 0.0;
  c.label_kind = kind;
  c.optimizer.lr = 1e-3;
  c.device = "cpu";
  c.precision = "fp32";
  c.seed = 7;
  return c;
}

double grad_norm(Trainer& t) {
  double sum = 0.0;
  for (const auto& p : t.model().parameters()) {
    if (p.grad().defined()) sum += p.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(sum);
}

TEST(GradientClipping, BoundsTheGlobalNorm) {
  const auto batch = toy_batch(1, 0, 0, kBatch, kSide);
  Trainer free(narrow(LabelSpec::Kind::kBinary, 1));
  free.train_step(batch);
  const double unclipped = grad_norm(free);
  EXPECT_TRUE(std::isnan(free.last_grad_norm()));  // not measured without clipping

  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.clip_grad_norm = unclipped / 4;
  Trainer clipped(config);
  clipped.train_step(batch);
  std::cout << "global grad norm " << unclipped << " -> " << grad_norm(clipped)
            << " (clip_grad_norm " << config.clip_grad_norm << ")\n";
  EXPECT_NEAR(clipped.last_grad_norm(), unclipped, unclipped * 1e-4);  // before clipping
  EXPECT_LE(grad_norm(clipped), config.clip_grad_norm * (1 + 1e-4));
  EXPECT_GE(grad_norm(clipped), config.clip_grad_norm * 0.99);  // scaled, not zeroed
}

sluice::Batch categorical_batch(int classes) {
  auto b = toy_batch(3, 0, 0, kBatch, kSide);
  for (size_t i = 0; i < b.labels.size(); ++i) b.labels[i] = static_cast<int64_t>(i) % classes;
  return b;
}

TEST(ClassWeights, WeighTheCrossEntropyAsComputedByHand) {
  const std::vector<double> w = {1.0, 2.0, 0.5, 4.0};
  const auto batch = categorical_batch(4);
  auto config = narrow(LabelSpec::Kind::kCategorical, 4);
  Trainer plain(config);
  const auto probs = plain.predict(batch);  // softmax, images x 4
  double weighted = 0.0, weights = 0.0, unweighted = 0.0;
  for (int i = 0; i < batch.size; ++i) {
    const auto y = static_cast<size_t>(batch.labels[i]);
    const double nll = -std::log(static_cast<double>(probs[static_cast<size_t>(i) * 4 + y]));
    weighted += w[y] * nll;
    weights += w[y];
    unweighted += nll;
  }
  config.class_weights = w;
  Trainer t(config);  // same seed: same initial weights
  const auto r = t.train_step(batch);
  std::cout << "cross-entropy " << unweighted / batch.size << ", weighted " << weighted / weights
            << "\n";
  // A fresh model's softmax is nearly uniform, so the weights move the loss by about
  // 1e-4: the loss must match the weighted one far closer than that.
  EXPECT_NEAR(r.loss_sum / r.count, weighted / weights, 2e-6);
  EXPECT_GT(std::abs(weighted / weights - unweighted / batch.size), 2e-5);
}

TEST(ClassWeights, WeighEachBinaryImageByItsClass) {
  const std::vector<double> w = {0.5, 3.0};
  const auto batch = toy_batch(4, 0, 0, kBatch, kSide);
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  Trainer plain(config);
  const auto probs = plain.predict(batch);  // P(label 1)
  double weighted = 0.0;
  for (int i = 0; i < batch.size; ++i) {
    const double p = probs[static_cast<size_t>(i)];
    const int64_t y = batch.labels[static_cast<size_t>(i)];
    weighted += w[static_cast<size_t>(y)] * -(y ? std::log(p) : std::log(1 - p));
  }
  config.class_weights = w;
  Trainer t(config);
  const auto r = t.train_step(batch);
  EXPECT_NEAR(r.loss_sum / r.count, weighted / batch.size, 2e-6);
  EXPECT_GT(std::abs(r.loss_sum / r.count - plain.train_step(batch).loss_sum / r.count), 1e-2);
}

TEST(ClassWeights, WrongCountIsRefused) {
  auto config = narrow(LabelSpec::Kind::kCategorical, 4);
  config.class_weights = {1.0, 2.0, 3.0};
  EXPECT_THROW(Trainer{config}, std::invalid_argument);
  auto multi = narrow(LabelSpec::Kind::kMultiLabel, 3);
  multi.class_weights = {1.0, 2.0};
  EXPECT_THROW(Trainer{multi}, std::invalid_argument);
}

TEST(NonFiniteLoss, StopsBeforeTheOptimizerStep) {
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.optimizer.name = "sgd";
  config.optimizer.lr = 1e30;
  Trainer t(config);
  bool thrown = false;
  for (int step = 0; step < 10 && !thrown; ++step) {
    std::vector<torch::Tensor> before;
    for (const auto& p : t.model().parameters()) before.push_back(p.detach().clone());
    try {
      t.train_step(toy_batch(5, 0, step, kBatch, kSide));
    } catch (const sluice::train::NonFiniteLoss& e) {
      thrown = true;
      EXPECT_FALSE(std::isfinite(e.loss()));
      EXPECT_NE(std::string(e.what()).find("non-finite loss"), std::string::npos);
      size_t i = 0;  // the weights are those the failed step started from
      for (const auto& p : t.model().parameters()) EXPECT_TRUE(p.equal(before[i++]));
    }
  }
  EXPECT_TRUE(thrown);
}

TEST(Precision, Fp16NeedsCudaAndCpuBf16NeedsLibTorch2) {
  EXPECT_NE(sluice::train::precision_problem("fp16", "cpu"), "");
  EXPECT_EQ(sluice::train::precision_problem("fp32", "cpu"), "");
  EXPECT_EQ(sluice::train::precision_problem("bf16", "cuda"), "");
#if TORCH_VERSION_MAJOR < 2
  EXPECT_NE(sluice::train::precision_problem("bf16", "cpu").find("needs 2.x"), std::string::npos);
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.precision = "bf16";
  EXPECT_THROW(Trainer{config}, std::invalid_argument);
#else
  // CPU bf16 autocast: the step runs and its loss is finite.
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.precision = "bf16";
  Trainer t(config);
  EXPECT_TRUE(t.bf16());
  const auto r = t.train_step(toy_batch(1, 0, 0, kBatch, kSide));
  EXPECT_TRUE(std::isfinite(r.loss_sum));
#endif
}

TEST(TopFive, InTheEpochRecordForFiveClassesOrMore) {
  using sluice::train::LabelMetrics;
  const std::vector<std::string> six = {"a", "b", "c", "d", "e", "f"};
  LabelMetrics m(LabelSpec::Kind::kCategorical, six);
  // Image 0: truth ranked 1st; image 1: 5th; image 2: 6th (last).
  m.add_batch({0.5f, 0.2f, 0.1f, 0.1f, 0.05f, 0.05f,    //
               0.3f, 0.25f, 0.2f, 0.15f, 0.07f, 0.03f,  //
               0.3f, 0.25f, 0.2f, 0.15f, 0.07f, 0.03f},
              {0, 4, 5}, nullptr, {});
  const auto s = m.scores();
  EXPECT_NEAR(s.accuracy, 1.0 / 3, 1e-12);
  EXPECT_NEAR(s.top5, 2.0 / 3, 1e-12);
  sluice::train::EpochRecord record;
  record.set(sluice::train::EpochMetric::kValTop5Accuracy, s.top5);
  EXPECT_NEAR(record.get("val_top5_accuracy"), 2.0 / 3, 1e-12);

  LabelMetrics four(LabelSpec::Kind::kCategorical, {"a", "b", "c", "d"});
  four.add_batch({0.1f, 0.2f, 0.3f, 0.4f}, {0}, nullptr, {});
  EXPECT_TRUE(std::isnan(four.scores().top5));  // always 1 with 4 classes: not recorded
}

}  // namespace

namespace {

// fp16 autocast with loss scaling on CUDA: steps run, the loss is finite and the
// weights move; skipped without CUDA.
TEST(PrecisionGpu, Fp16StepsWithLossScaling) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.device = "cuda";
  config.precision = "fp16";
  Trainer t(config);
  ASSERT_TRUE(t.fp16());
  std::vector<torch::Tensor> before;
  for (const auto& p : t.model().parameters()) before.push_back(p.detach().cpu().clone());
  for (int i = 0; i < 4; ++i) {
    const auto r = t.train_step(toy_batch(2, 0, i, kBatch, kSide));
    EXPECT_TRUE(std::isfinite(r.loss_sum));
  }
  EXPECT_LT(t.skipped_steps(), 4);
  bool moved = false;
  size_t i = 0;
  for (const auto& p : t.model().parameters()) moved |= !p.detach().cpu().equal(before[i++]);
  EXPECT_TRUE(moved);
  EXPECT_TRUE(t.parameters_finite());
}

// The loss scale an fp16 run reached goes into the checkpoint, and a trainer resuming
// from it continues at that scale, not at 65536. With a growth interval of 1 every step
// doubles or halves the scale, so after 3 steps it cannot be 65536.
TEST(PrecisionGpu, Fp16LossScaleSurvivesACheckpoint) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.device = "cuda";
  config.precision = "fp16";
  config.loss_scale_growth_interval = 1;
  Trainer t(config);
  for (int i = 0; i < 3; ++i) t.train_step(toy_batch(2, 0, i, kBatch, kSide));
  EXPECT_NE(t.loss_scale(), 65536.0);
  const auto dir = std::filesystem::temp_directory_path() / "sluice_fp16_scale";
  std::filesystem::create_directories(dir);
  sluice::train::TrainingState state;
  state.epoch = 1;
  t.save_checkpoint((dir / "last.pt").string(), state);
  Trainer resumed(config);
  EXPECT_EQ(resumed.loss_scale(), 65536.0);
  resumed.load_checkpoint((dir / "last.pt").string(), true);
  EXPECT_EQ(resumed.loss_scale(), t.loss_scale());
  std::cout << "loss scale after the run: " << t.loss_scale() << ", " << t.skipped_steps()
            << " step(s) skipped\n";
  std::filesystem::remove_all(dir);
}

TEST(Precision, Fp16OnTheCpuIsRefusedByTheTrainer) {
  auto config = narrow(LabelSpec::Kind::kBinary, 1);
  config.precision = "fp16";
  EXPECT_THROW(Trainer{config}, std::invalid_argument);
}

}  // namespace

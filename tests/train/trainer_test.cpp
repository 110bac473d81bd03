#include "stages/train/trainer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "stages/train/model.h"
#include "stages/train/vgg.h"
#include "tests/train/test_batches.h"

namespace fs = std::filesystem;
using sluice::train::Trainer;
using sluice::train::TrainerConfig;
using sluice::train::TrainingState;
using sluice::train::testing::toy_batch;

namespace {

constexpr int kSide = 32;
constexpr int kBatch = 8;
constexpr int kStepsPerEpoch = 3;

TrainerConfig small_config(uint64_t seed, const std::string& device = "cpu") {
  TrainerConfig c;
  c.model.width_divisor = 16;
  c.model.freeze = sluice::train::Freeze::kUntil;
  c.model.freeze_until = "features.4";
  c.optimizer.lr = 1e-3;
  c.device = device;
  c.seed = seed;
  return c;
}

void run_epoch(Trainer& t, int64_t epoch) {
  for (int i = 0; i < kStepsPerEpoch; ++i) t.train_step(toy_batch(11, epoch, i, kBatch, kSide));
}

std::map<std::string, torch::Tensor> weights(Trainer& t) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [k, v] : sluice::train::model_state(t.model()))
    out[k] = v.detach().to(torch::kCPU).clone();
  return out;
}

fs::path temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(Trainer, StepReportsLossAndAccuracy) {
  Trainer t(small_config(1));
  EXPECT_EQ(t.device_name(), "cpu");
  EXPECT_FALSE(t.bf16());
  const auto r = t.train_step(toy_batch(1, 0, 0, kBatch, kSide));
  EXPECT_EQ(r.count, kBatch);
  EXPECT_GT(r.loss_sum, 0.0);
  EXPECT_LE(r.correct, kBatch);
  double loss = 0;
  const auto probs = t.predict(toy_batch(1, 0, 1, kBatch, kSide), &loss);
  ASSERT_EQ(probs.size(), static_cast<size_t>(kBatch));
  for (float p : probs) EXPECT_TRUE(p >= 0.0f && p <= 1.0f);
  EXPECT_GT(loss, 0.0);
}

// The rate the metrics files record per epoch is the optimizer's own, for either optimizer.
TEST(Trainer, LearningRateIsTheOptimizers) {
  auto c = small_config(1);
  c.optimizer.lr = 0.003;
  EXPECT_DOUBLE_EQ(Trainer(c).learning_rate(), 0.003);
  c.optimizer.name = "sgd";
  c.optimizer.lr = 0.02;
  Trainer sgd(c);
  sgd.train_step(toy_batch(1, 0, 0, kBatch, kSide));
  EXPECT_DOUBLE_EQ(sgd.learning_rate(), 0.02);
}

TEST(Trainer, FrozenLayersDoNotChange) {
  Trainer t(small_config(1));
  const auto before = weights(t);
  run_epoch(t, 0);
  const auto after = weights(t);
  EXPECT_TRUE(torch::equal(before.at("features.2.weight"), after.at("features.2.weight")));
  EXPECT_FALSE(torch::equal(before.at("features.5.weight"), after.at("features.5.weight")));
  EXPECT_FALSE(torch::equal(before.at("classifier.6.weight"), after.at("classifier.6.weight")));
}

TEST(Trainer, CudaWithoutCudaIsAClearError) {
  if (sluice::train::cuda_available()) GTEST_SKIP() << "CUDA is available here";
  try {
    Trainer t(small_config(1, "cuda"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos);
  }
  Trainer automatic(small_config(1, "auto"));
  EXPECT_EQ(automatic.device_name(), "cpu");
}

TEST(Trainer, CheckpointRoundTrip) {
  const auto dir = temp_dir("sluice_ckpt");
  Trainer a(small_config(1));
  run_epoch(a, 0);
  TrainingState s;
  s.epoch = 1;
  s.step = kStepsPerEpoch;
  s.early_stopping.best = 0.25;
  s.early_stopping.best_epoch = 1;
  s.early_stopping.wait = 0;
  s.input.height = s.input.width = kSide;
  s.input.normalization.kind = sluice::Normalization::Kind::kMeanStd;
  s.input.normalization.mean[1] = 0.456;
  s.input.normalization.std[2] = 0.225;
  s.config_text = "[graph]\nuse = \"train\"\n";
  const auto path = (dir / "last.pt").string();
  a.save_checkpoint(path, s);

  Trainer b(small_config(2));
  const auto restored = b.load_checkpoint(path);
  const auto wa = weights(a), wb = weights(b);
  for (const auto& [k, v] : wa) EXPECT_TRUE(torch::equal(v, wb.at(k))) << k;
  EXPECT_EQ(restored.epoch, 1);
  EXPECT_EQ(restored.step, kStepsPerEpoch);
  EXPECT_DOUBLE_EQ(restored.early_stopping.best, 0.25);
  EXPECT_EQ(restored.input.height, kSide);
  EXPECT_EQ(restored.input.normalization.kind, sluice::Normalization::Kind::kMeanStd);
  EXPECT_DOUBLE_EQ(restored.input.normalization.mean[1], 0.456);
  EXPECT_DOUBLE_EQ(restored.input.normalization.std[2], 0.225);
  EXPECT_EQ(restored.config_text, s.config_text);

  const auto info = sluice::train::read_checkpoint_info(path);
  EXPECT_EQ(info.model.arch, "vgg16");
  EXPECT_EQ(info.model.width_divisor, 16);
  EXPECT_EQ(info.model.freeze_until, "features.4");
  EXPECT_EQ(info.optimizer, "adam");

  auto other = small_config(1);
  other.model.width_divisor = 8;
  Trainer wrong(other);
  EXPECT_THROW(wrong.load_checkpoint(path), std::runtime_error);
  fs::remove_all(dir);
}

// The one-line message a damaged checkpoint must give, or "" when `load` succeeds.
std::string load_error(const std::function<void()>& load) {
  try {
    load();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_naming(const std::string& error, const std::string& path) {
  EXPECT_EQ(error.rfind("cannot read checkpoint " + path + ": ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_EQ(error.find("frame #"), std::string::npos) << error;
}

TEST(Trainer, DamagedCheckpointsGiveOneLineNamingTheFile) {
  const auto dir = temp_dir("sluice_ckpt_damaged");
  Trainer a(small_config(1));
  const auto good = (dir / "good.pt").string();
  a.save_checkpoint(good, TrainingState{});
  const std::string bytes = a.checkpoint_bytes(TrainingState{});
  const auto bad = (dir / "bad.pt").string();
  Trainer b(small_config(1));
  auto write_bad = [&](const std::string& content) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << content;
  };
  for (size_t keep : {bytes.size() / 2, bytes.size() - 7, size_t{100}, size_t{0}}) {
    write_bad(bytes.substr(0, keep));
    expect_one_line_naming(load_error([&] { b.load_checkpoint(bad); }), bad);
    expect_one_line_naming(load_error([&] { sluice::train::read_checkpoint_info(bad); }), bad);
  }
  write_bad("this is not a checkpoint at all\n");
  expect_one_line_naming(load_error([&] { b.load_checkpoint(bad); }), bad);
  // A flipped bit either still loads or fails in one line; the archive's own
  // structure (end of file) is where a flip is always noticed.
  int failures = 0;
  for (size_t at = 1; at < 48; ++at) {
    std::string flipped = bytes;
    flipped[flipped.size() - at * 7 % flipped.size()] ^= 0x10;
    write_bad(flipped);
    const std::string error = load_error([&] { b.load_checkpoint(bad); });
    if (error.empty()) continue;
    ++failures;
    expect_one_line_naming(error, bad);
  }
  EXPECT_GT(failures, 0);
  EXPECT_EQ(load_error([&] { b.load_checkpoint(dir.string()); }),
            "cannot read checkpoint " + dir.string() +
                ": the checkpoint is a directory, not a regular file");
  fs::remove_all(dir);
}

TEST(Trainer, ResumeContinuesExactly) {
  const auto dir = temp_dir("sluice_resume");
  const auto path = (dir / "epoch1.pt").string();
  // Two epochs in one go, saving after the first (dropout draws from the RNG).
  Trainer whole(small_config(5));
  run_epoch(whole, 0);
  whole.save_checkpoint(path, TrainingState{});
  run_epoch(whole, 1);
  // A fresh process-like trainer with another seed and a disturbed RNG, resumed.
  Trainer resumed(small_config(99));
  (void)torch::rand({17});
  resumed.load_checkpoint(path);
  run_epoch(resumed, 1);
  const auto a = weights(whole), b = weights(resumed);
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
  fs::remove_all(dir);
}

TEST(Trainer, SgdMomentumResumesToo) {
  const auto dir = temp_dir("sluice_resume_sgd");
  const auto path = (dir / "epoch1.pt").string();
  auto c = small_config(3);
  c.optimizer.name = "sgd";
  c.optimizer.lr = 0.01;
  Trainer whole(c);
  run_epoch(whole, 0);
  whole.save_checkpoint(path, TrainingState{});
  run_epoch(whole, 1);
  Trainer resumed(c);
  resumed.load_checkpoint(path);
  run_epoch(resumed, 1);
  const auto a = weights(whole), b = weights(resumed);
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
  fs::remove_all(dir);
}

TEST(Trainer, CrashWhileSavingLeavesPreviousCheckpointLoadable) {
  const auto dir = temp_dir("sluice_ckpt_crash");
  const auto path = (dir / "last.pt").string();
  Trainer t(small_config(1));
  TrainingState first;
  first.epoch = 1;
  t.save_checkpoint(path, first);
  run_epoch(t, 0);
  TrainingState second;
  second.epoch = 2;
  const std::string bytes = t.checkpoint_bytes(second);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sluice::train::write_file_atomically(path, bytes, [&](size_t n) {
      if (n >= bytes.size() / 2) ::raise(SIGKILL);
    });
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  Trainer reader(small_config(1));
  EXPECT_EQ(reader.load_checkpoint(path).epoch, 1);
  // A failure between write and rename (thrown by the hook) also keeps the old file.
  EXPECT_THROW(t.save_checkpoint(path, second,
                                 [&](size_t n) {
                                   if (n == bytes.size()) throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  EXPECT_EQ(reader.load_checkpoint(path).epoch, 1);
  t.save_checkpoint(path, second);
  EXPECT_EQ(reader.load_checkpoint(path).epoch, 2);
  fs::remove_all(dir);
}

TEST(TrainerGpu, Bf16StepOnCuda) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  Trainer t(small_config(1, "cuda"));
  EXPECT_TRUE(t.on_cuda());
  EXPECT_TRUE(t.bf16());
  auto alloc = sluice::train::make_pinned_allocator();
  ASSERT_NE(alloc, nullptr);
  auto batch = toy_batch(1, 0, 0, kBatch, kSide);
  auto pinned = alloc->allocate(batch.image_bytes() * kBatch);
  std::memcpy(pinned.get(), batch.pixels.get(), batch.image_bytes() * kBatch);
  batch.pixels = pinned;
  const auto before = weights(t);
  const auto r = t.train_step(batch);
  EXPECT_TRUE(std::isfinite(r.loss_sum));
  const auto after = weights(t);
  EXPECT_FALSE(torch::equal(before.at("classifier.6.weight"), after.at("classifier.6.weight")));
}

TEST(TrainerGpu, GpuNormalisationMatchesCpu) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  auto gpu_config = small_config(4, "cuda");
  gpu_config.precision = "fp32";
  Trainer gpu(gpu_config);
  Trainer cpu(small_config(4, "cpu"));
  auto batch = toy_batch(2, 0, 0, kBatch, kSide);
  batch.normalization.kind = sluice::Normalization::Kind::kMeanStd;
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c) {
    batch.normalization.mean[c] = mean[c];
    batch.normalization.std[c] = stdv[c];
  }
  const auto pg = gpu.predict(batch), pc = cpu.predict(batch);
  ASSERT_EQ(pg.size(), pc.size());
  for (size_t i = 0; i < pg.size(); ++i) EXPECT_NEAR(pg[i], pc[i], 1e-3);
}

TEST(TrainerGpu, GpuCheckpointLoadsOnCpu) {
  if (!sluice::train::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const auto dir = temp_dir("sluice_gpu_ckpt");
  const auto path = (dir / "last.pt").string();
  Trainer gpu(small_config(1, "cuda"));
  run_epoch(gpu, 0);
  gpu.save_checkpoint(path, TrainingState{});
  Trainer cpu(small_config(2, "cpu"));
  cpu.load_checkpoint(path);
  const auto a = weights(gpu), b = weights(cpu);
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
  Trainer gpu2(small_config(3, "cuda"));
  gpu2.load_checkpoint(path);
  run_epoch(gpu2, 1);
  fs::remove_all(dir);
}

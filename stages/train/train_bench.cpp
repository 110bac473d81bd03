#include "stages/train/train_bench.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "pipeline/rng.h"

namespace sluice::train {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Batch random_batch(const TrainBenchOptions& o, int index, BufferAllocator* allocator) {
  Batch b;
  b.index = index;
  b.split = "train";
  b.size = o.batch;
  b.height = b.width = o.size;
  b.channels = 3;
  const size_t bytes = b.image_bytes() * static_cast<size_t>(o.batch);
  b.pixels = allocator ? allocator->allocate(bytes) : ByteBuffer(new uint8_t[bytes]);
  CounterRng rng(o.seed, static_cast<uint64_t>(index));
  uint8_t* p = b.pixels.get();
  for (size_t i = 0; i < bytes; i += 8) {
    const uint64_t r = rng.next();
    std::memcpy(p + i, &r, std::min<size_t>(8, bytes - i));
  }
  for (int i = 0; i < o.batch; ++i) b.labels.push_back(static_cast<int64_t>(rng.below(2)));
  // As image.augment with normalize = "imagenet": (x / 255 - mean) / std, on the device.
  b.normalization.kind = Normalization::Kind::kMeanStd;
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c) {
    b.normalization.mean[c] = mean[c];
    b.normalization.std[c] = stdv[c];
  }
  return b;
}

int scaled(int channels, int divisor) { return std::max(1, channels / divisor); }

}  // namespace

TrainBenchResult run_train_bench(const TrainBenchOptions& o, const TrainBenchProgress& progress) {
  if (o.size < 32) throw std::invalid_argument("size must be >= 32 (five 2x2 poolings)");
  if (o.batch < 1 || o.steps < 1 || o.warmup < 0 || o.distinct_batches < 1) {
    throw std::invalid_argument("batch, steps and distinct batches must be >= 1, warmup >= 0");
  }
  Trainer trainer(o.trainer);
  TrainBenchResult r;
  r.device = trainer.device_name();
  r.bf16 = trainer.bf16();
  r.channels_last = trainer.on_cuda() && o.trainer.channels_last;
  r.parameters = trainer.parameter_count();
  r.trainable_parameters = trainer.parameter_count(true);
  // Pinned host memory on CUDA, as train.vgg installs for the batcher.
  std::shared_ptr<BufferAllocator> pinned = trainer.on_cuda() ? make_pinned_allocator() : nullptr;
  r.host_memory = pinned ? pinned->name() : "heap";
  std::vector<Batch> batches;
  for (int i = 0; i < o.distinct_batches; ++i) batches.push_back(random_batch(o, i, pinned.get()));

  const auto warmup_start = Clock::now();
  int step = 0;
  for (int i = 0; i < o.warmup; ++i, ++step) {
    trainer.train_step(batches[step % batches.size()]);
    if (progress) progress(step + 1, true);
  }
  r.warmup_seconds = seconds_since(warmup_start);

  // Each step ends by reading the loss back (as in train.vgg), so the device is idle
  // at every step boundary and host timings are the step's wall time.
  std::vector<double> step_ms;
  step_ms.reserve(static_cast<size_t>(o.steps));
  const auto start = Clock::now();
  for (int i = 0; i < o.steps; ++i, ++step) {
    const auto t0 = Clock::now();
    const auto s = trainer.train_step(batches[step % batches.size()]);
    step_ms.push_back(seconds_since(t0) * 1e3);
    r.last_loss = s.count ? s.loss_sum / static_cast<double>(s.count) : 0.0;
    if (progress) progress(step + 1, false);
  }
  r.seconds = seconds_since(start);
  r.images = static_cast<int64_t>(o.steps) * o.batch;
  r.images_per_second = r.seconds > 0 ? static_cast<double>(r.images) / r.seconds : 0.0;
  std::sort(step_ms.begin(), step_ms.end());
  r.step_ms_min = step_ms.front();
  r.step_ms_max = step_ms.back();
  r.step_ms_median = step_ms[step_ms.size() / 2];
  return r;
}

VggCost vgg_cost(const VggConfig& config, int height, int width) {
  struct Layer {
    double macs;
    bool trainable;
  };
  std::vector<Layer> layers;
  const int d = config.width_divisor;
  // Features layers [0, last_frozen] are frozen, as VggImpl::apply_freeze.
  const auto plan = vgg_layer_plan(config.arch);
  int64_t last_frozen = -1;
  int64_t feature_layers = 0;
  for (int v : plan) feature_layers += v == 0 ? 1 : 2;
  if (config.freeze == Freeze::kFeatures) last_frozen = feature_layers - 1;
  if (config.freeze == Freeze::kUntil) {
    const std::string prefix = "features.";
    if (config.freeze_until.rfind(prefix, 0) != 0) {
      throw std::invalid_argument("freeze_until must name a features layer, e.g. features.23");
    }
    last_frozen = std::stoll(config.freeze_until.substr(prefix.size()));
  }
  double h = height, w = width;
  int in = 3;
  int64_t index = 0;
  for (int v : plan) {
    if (v == 0) {
      h = static_cast<double>(static_cast<int64_t>(h) / 2);
      w = static_cast<double>(static_cast<int64_t>(w) / 2);
      index += 1;
      continue;
    }
    const int out = scaled(v, d);
    layers.push_back({h * w * in * out * 9.0, index > last_frozen});
    in = out;
    index += 2;
  }
  if (config.head == Head::kGap) {
    layers.push_back({static_cast<double>(in) * config.num_classes, true});
  } else {
    const int hidden = scaled(4096, d);
    layers.push_back({static_cast<double>(in) * 49.0 * hidden, true});
    layers.push_back({static_cast<double>(hidden) * hidden, true});
    layers.push_back({static_cast<double>(hidden) * config.num_classes, true});
  }
  VggCost cost;
  bool trainable_before = false;
  for (const Layer& l : layers) {
    cost.forward_macs += l.macs;
    if (l.trainable) cost.backward_executed_macs += l.macs;       // weight gradient
    if (trainable_before) cost.backward_executed_macs += l.macs;  // input gradient
    trainable_before = trainable_before || l.trainable;
  }
  return cost;
}

}  // namespace sluice::train

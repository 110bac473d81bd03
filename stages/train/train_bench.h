// Training throughput on synthetic tensors: the Trainer step that train.vgg runs
// (upload of uint8 NHWC pixels, normalisation on the device, bf16 autocast and
// channels_last on CUDA, loss, backward, optimizer step, loss read back) timed on
// random batches, so the only difference from real training is where the pixels came
// from. Behind `sluice bench train`. No Torch includes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "stages/train/trainer.h"
#include "stages/train/vgg_config.h"

namespace sluice::train {

struct TrainBenchOptions {
  TrainerConfig trainer;     // model, optimizer, device, precision, memory format
  int size = 224;            // images are size x size x 3
  int batch = 64;            // images per step
  int steps = 50;            // timed steps
  int warmup = 10;           // untimed steps first (cuDNN autotuning, allocator growth)
  int distinct_batches = 4;  // random batches, cycled; pinned host memory on CUDA
  uint64_t seed = 1;         // pixels and labels
};

struct TrainBenchResult {
  std::string device;
  bool bf16 = false;
  bool channels_last = false;
  std::string host_memory;  // "cuda-pinned" or "heap"
  int64_t parameters = 0;
  int64_t trainable_parameters = 0;
  int64_t images = 0;  // timed images
  double seconds = 0.0;
  double images_per_second = 0.0;
  double step_ms_median = 0.0;
  double step_ms_min = 0.0;
  double step_ms_max = 0.0;
  double warmup_seconds = 0.0;
  double last_loss = 0.0;
};

// Called after each step: (step number from 1 over warmup + steps, warming up?).
using TrainBenchProgress = std::function<void(int step, bool warmup)>;

TrainBenchResult run_train_bench(const TrainBenchOptions& options,
                                 const TrainBenchProgress& progress = {});

// Multiply-accumulates per image of a VGG at a given input size. `forward` is the
// whole forward pass (torchvision's "GFLOPS 15.47" for VGG16 at 224 counts these);
// `backward_executed` is the backward work autograd actually does with the model's
// freezing: a weight gradient for every trainable layer, an input gradient for every
// layer that has a trainable layer before it. Frozen leading layers skip both.
struct VggCost {
  double forward_macs = 0.0;
  double backward_executed_macs = 0.0;
};
VggCost vgg_cost(const VggConfig& config, int height, int width);

}  // namespace sluice::train

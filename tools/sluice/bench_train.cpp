// `sluice bench train`: training throughput of the train.vgg step on random uint8
// batches (no input pipeline), with the model FLOP utilisation for a given peak.
// Dispatched from cmd_bench.cpp.
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "stages/train/progress.h"
#include "stages/train/train_bench.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {

int bench_train(const std::vector<std::string>& args) {
  train::TrainBenchOptions o;
  std::string head = "replace_last", freeze = "features";
  bool no_channels_last = false, quiet = false;
  double peak_tflops = 0.0, progress_interval = 10.0;
  po::options_description d("options");
  d.add_options()("arch", po::value(&o.trainer.model.arch)->default_value("vgg16"),
                  "vgg11, vgg13, vgg16 or vgg19")(
      "width-divisor", po::value(&o.trainer.model.width_divisor)->default_value(1),
      "divides every channel count (narrow models for smoke runs)")(
      "head", po::value(&head)->default_value(head), "imagenet, replace_last or gap")(
      "freeze", po::value(&freeze)->default_value(freeze),
      "features (the recipe: convolutions frozen) or none (everything trained)")(
      "size", po::value(&o.size)->default_value(224), "image width and height")(
      "batch", po::value(&o.batch)->default_value(64), "images per step")(
      "steps", po::value(&o.steps)->default_value(50), "timed steps")(
      "warmup", po::value(&o.warmup)->default_value(10), "untimed steps first")(
      "distinct-batches", po::value(&o.distinct_batches)->default_value(4),
      "random batches cycled through")(
      "device", po::value(&o.trainer.device)->default_value("auto"), "auto, cpu, cuda or cuda:N")(
      "precision", po::value(&o.trainer.precision)->default_value("auto"),
      "auto (bf16 autocast on CUDA, fp32 on CPU), fp32 or bf16")(
      "no-channels-last", po::bool_switch(&no_channels_last),
      "keep NCHW on CUDA (default: channels_last)")(
      "optimizer", po::value(&o.trainer.optimizer.name)->default_value("adam"), "adam or sgd")(
      "lr", po::value(&o.trainer.optimizer.lr)->default_value(1e-4), "learning rate")(
      "seed", po::value(&o.seed)->default_value(1), "pixels, labels and model init")(
      "peak-tflops", po::value(&peak_tflops)->default_value(0.0),
      "the device's dense peak in TFLOP/s, for the utilisation (e.g. 989 for H100 SXM bf16)")(
      "quiet,q", po::bool_switch(&quiet), "no progress on stderr")(
      "progress-interval", po::value(&progress_interval)->default_value(progress_interval),
      "seconds between progress lines when stderr is not a terminal");
  add_logging_options(d);
  po::positional_options_description pos;
  po::variables_map vm;
  if (auto code = parse_command_line(
          "bench train", "[--arch vgg16] [--size 224] [--batch 64] [--steps N] [--device D]", args,
          d, pos, vm)) {
    return *code;
  }
  apply_logging_options(vm);
  if (!option_ok("bench train", "progress-interval",
                 ParamSpec::number("progress-interval", 10.0, "seconds").range(0, 86400),
                 progress_interval)) {
    return kExitConfigError;
  }
  train::TrainBenchResult r;
  train::VggCost cost;
  try {
    o.trainer.model.head = train::parse_head(head);
    o.trainer.model.freeze = train::parse_freeze(freeze);
    if (o.trainer.model.freeze == train::Freeze::kUntil) {
      throw std::invalid_argument("--freeze until is not offered here: features or none");
    }
    o.trainer.channels_last = !no_channels_last;
    o.trainer.seed = o.seed;
    cost = train::vgg_cost(o.trainer.model, o.size, o.size);
    const int total = o.warmup + o.steps;
    // A bar redrawn in place on a terminal; in a log (not a terminal) a plain line
    // every --progress-interval seconds, never a carriage return.
    train::Progress progress(
        train::Progress::is_terminal(stderr),
        [](const std::string& line) { std::cerr << line << '\n'; },
        std::chrono::milliseconds(static_cast<int64_t>(progress_interval * 1000.0)));
    progress.start("bench train", total);
    r = train::run_train_bench(o, [&](int step, bool warmup) {
      if (quiet) return;
      progress.update(step, static_cast<int64_t>(step) * o.batch, warmup ? "(warmup)" : "");
      if (step == total) progress.finish();
    });
  } catch (const std::invalid_argument& e) {
    std::cerr << "sluice bench train: error: " << e.what() << '\n';
    return kExitConfigError;
  } catch (const std::exception& e) {
    std::cerr << "sluice bench train: error: " << e.what() << '\n';
    return kExitFailure;
  }
  // The convention for VGG16: training = 3 x the forward pass, counted in
  // multiply-adds (torchvision's "15.47 GFLOPS"). Dense peaks count a multiply-add as
  // 2 FLOPs, so the _2x figures use that convention.
  const double model_gflops = 3.0 * cost.forward_macs / 1e9;
  const double executed_gflops = (cost.forward_macs + cost.backward_executed_macs) / 1e9;
  const double tflops = r.images_per_second * model_gflops / 1e3;
  std::cout << std::fixed << std::setprecision(3) << "arch: " << o.trainer.model.arch
            << "\nwidth_divisor: " << o.trainer.model.width_divisor << "\nhead: " << head
            << "\nfreeze: " << freeze << "\nsize: " << o.size << "\nbatch: " << o.batch
            << "\ndevice: " << r.device << "\nprecision: " << (r.bf16 ? "bf16-autocast" : "fp32")
            << "\nchannels_last: " << (r.channels_last ? "true" : "false")
            << "\nhost_memory: " << r.host_memory << "\nparameters: " << r.parameters
            << "\ntrainable_parameters: " << r.trainable_parameters
            << "\nwarmup_steps: " << o.warmup << "\nwarmup_seconds: " << r.warmup_seconds
            << "\nsteps: " << o.steps << "\nimages: " << r.images << "\nseconds: " << r.seconds
            << "\nstep_ms_median: " << r.step_ms_median << "\nstep_ms_min: " << r.step_ms_min
            << "\nstep_ms_max: " << r.step_ms_max << "\nlast_loss: " << std::setprecision(4)
            << r.last_loss << "\nforward_gmacs_per_image: " << cost.forward_macs / 1e9
            << "\nmodel_gflops_per_image: " << model_gflops
            << "\nexecuted_gflops_per_image: " << executed_gflops
            << "\nmodel_tflops: " << std::setprecision(3) << tflops;
  if (peak_tflops > 0) {
    std::cout << "\npeak_tflops: " << peak_tflops << "\nmfu: " << std::setprecision(4)
              << tflops / peak_tflops << "\nmfu_2x: " << 2 * tflops / peak_tflops
              << "\nexecuted_utilisation_2x: "
              << 2 * r.images_per_second * executed_gflops / 1e3 / peak_tflops;
  }
  std::cout << "\nimages_per_second: " << std::setprecision(1) << r.images_per_second << '\n';
  return std::isfinite(r.last_loss) ? kExitOk : kExitFailure;
}

}  // namespace sluice::cli

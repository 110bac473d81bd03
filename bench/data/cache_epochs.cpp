// The training input path with and without image.cache, epoch by epoch, in one
// process on the same cores: celeba.index (train, shuffled) -> [image.decode |
// image.cache] -> image.augment (random shear, zoom, flip; SIZExSIZE) -> batch
// -> a sink that notes when each epoch ends. Prints images/s of epoch 1 and of
// epochs 2..E for each variant:
//   decode        image.decode every epoch (no cache)
//   cache         image.cache of the decoded images (full size), in memory
//   cache_resized image.cache resizing to SIZExSIZE before caching
//
//   bench_cache_epochs --root DIR [--threads 2] [--epochs 4] [--size 128] [--batch 32]
//                      [--limit N] [--budget 4GiB]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "vision/payloads.h"

namespace {

using Clock = std::chrono::steady_clock;

// When each epoch's end marker reached the end of the pipeline, and the images
// of each epoch.
struct EpochClock {
  Clock::time_point start;
  std::vector<double> ends_s;
  std::vector<int64_t> images;
  int64_t current = 0;
};

class ClockSink : public sluice::Sink {
 public:
  explicit ClockSink(std::shared_ptr<EpochClock> clock) : clock_(std::move(clock)) {}
  void consume(std::any& in) override {
    clock_->current += sluice::payload_as<sluice::Batch>(in).size;
  }
  void on_control(const sluice::Control& c, sluice::Emitter&) override {
    if (c.kind != sluice::ControlKind::kEndOfEpoch) return;
    clock_->ends_s.push_back(std::chrono::duration<double>(Clock::now() - clock_->start).count());
    clock_->images.push_back(clock_->current);
    clock_->current = 0;
  }

 private:
  std::shared_ptr<EpochClock> clock_;
};

struct Options {
  std::string root, budget = "4GiB";
  int threads = 2, epochs = 4, size = 128, batch = 32;
  long limit = -1;
};

std::string pipeline(const Options& o, const std::string& variant) {
  std::string first;
  if (variant == "decode") {
    first = "[stages.images]\nuse = \"image.decode\"\ninput = \"index\"\n";
  } else {
    first = "[stages.images]\nuse = \"image.cache\"\ninput = \"index\"\nbudget = \"" + o.budget +
            "\"\n";
    if (variant == "cache_resized") {
      first += "width = " + std::to_string(o.size) + "\nheight = " + std::to_string(o.size) + "\n";
    }
  }
  return "[pipeline]\nseed = 1\n\n[stages.index]\nuse = \"celeba.index\"\nroot = \"" + o.root +
         "\"\nsplit = \"train\"\nshuffle = true\nepochs = " + std::to_string(o.epochs) +
         "\nlimit = " + std::to_string(o.limit) + "\n\n" + first +
         "\n[stages.augment]\nuse = \"image.augment\"\ninput = \"images\"\nwidth = " +
         std::to_string(o.size) + "\nheight = " + std::to_string(o.size) +
         "\nshear = 0.2\nzoom = 0.2\nflip = true\nrescale = 0.00392156862745098\n\n"
         "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = " +
         std::to_string(o.batch) +
         "\n\n[stages.clock]\nuse = \"bench.epoch_clock\"\ninput = \"batch\"\n";
}

int run_variant(const Options& o, const std::string& variant) {
  auto clock = std::make_shared<EpochClock>();
  sluice::Registry reg;
  sluice::register_builtin_stages(reg);
  reg.set_origin("bench");
  reg.add(sluice::StageSpec("bench.epoch_clock").sink<sluice::Batch>().ordered(),
          [clock](const sluice::Params&) { return std::make_unique<ClockSink>(clock); });
  const sluice::ValidatedGraph g =
      sluice::load_pipeline_string(pipeline(o, variant), variant, {}, reg);
  sluice::RunOptions ro;
  ro.threads = o.threads;
  clock->start = Clock::now();
  const sluice::RunReport r = sluice::run_graph(g, ro);
  if (r.status != sluice::RunStatus::kCompleted || clock->ends_s.size() < 2) {
    std::fprintf(stderr, "bench_cache_epochs: %s: %s\n", variant.c_str(), r.error.c_str());
    return 1;
  }
  int64_t later = 0;
  for (size_t e = 1; e < clock->images.size(); ++e) later += clock->images[e];
  const double first_ips = clock->images[0] / clock->ends_s[0];
  const double later_ips = later / (clock->ends_s.back() - clock->ends_s[0]);
  auto counter = [&r](const char* name) -> long long {
    auto it = r.counters.find(std::string("images.") + name);
    return it == r.counters.end() ? 0 : it->second;
  };
  std::printf(
      "%s: images_per_epoch %lld, epoch1_images_per_second %.1f, "
      "later_epochs_images_per_second %.1f, hits %lld, misses %lld, held_mib %.1f\n",
      variant.c_str(), static_cast<long long>(clock->images[0]), first_ips, later_ips,
      counter("hits"), counter("misses"), counter("bytes_held") / 1048576.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--root")
      o.root = argv[i + 1];
    else if (k == "--threads")
      o.threads = std::atoi(argv[i + 1]);
    else if (k == "--epochs")
      o.epochs = std::atoi(argv[i + 1]);
    else if (k == "--size")
      o.size = std::atoi(argv[i + 1]);
    else if (k == "--batch")
      o.batch = std::atoi(argv[i + 1]);
    else if (k == "--limit")
      o.limit = std::atol(argv[i + 1]);
    else if (k == "--budget")
      o.budget = argv[i + 1];
  }
  if (o.root.empty() || o.epochs < 2) {
    std::fprintf(stderr,
                 "usage: bench_cache_epochs --root DIR [--threads N] [--epochs E >= 2] "
                 "[--size S] [--batch B] [--limit N] [--budget 4GiB]\n");
    return 2;
  }
  try {
    for (const char* variant : {"decode", "cache", "cache_resized"}) {
      if (run_variant(o, variant) != 0) return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cache_epochs: %s\n", e.what());
    return 1;
  }
  return 0;
}

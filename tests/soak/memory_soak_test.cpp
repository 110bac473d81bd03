// Soak: the image path (index -> decode -> augment -> batch) streams millions of
// items over many epochs while a sink samples the process's resident memory. Memory
// must stay flat: pooled buffers, bounded in-flight items and per-thread decoders mean
// the RSS at the end is within 10% of the RSS after warm-up. Labelled `soak`: `make
// soak` runs it, `make test` does not (it takes minutes).
//
//   SLUICE_SOAK_ITEMS   images to stream (default 2000000)
//   SLUICE_SOAK_IMAGES  distinct images on disk (default 2000)
#include <unistd.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/stage.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"
#include "vision/payloads.h"

namespace fs = std::filesystem;

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// What the sink saw: RSS samples, each with the number of images streamed so far.
struct RssLog {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> samples;  // (images so far, RSS bytes)
  std::atomic<int64_t> images{0};
};
RssLog g_log;

// Counts the images of each batch and samples RSS every 8 batches.
class RssSink : public sluice::Sink {
 public:
  explicit RssSink(const sluice::Params&) {}
  void consume(std::any& in) override {
    const auto& batch = sluice::payload_as<sluice::Batch>(in);
    const int64_t seen = g_log.images.fetch_add(batch.size) + batch.size;
    if (++batches_ % 8 == 0) {
      std::lock_guard<std::mutex> lock(g_log.mutex);
      g_log.samples.emplace_back(seen, resident_bytes());
    }
  }

 private:
  int64_t batches_ = 0;
};

TEST(Soak, ImagePathMemoryStaysFlatOverMillionsOfItems) {
  const int64_t items = env_int("SLUICE_SOAK_ITEMS", 2'000'000);
  const int64_t images = env_int("SLUICE_SOAK_IMAGES", 2000);
  const fs::path dir = fs::temp_directory_path() / ("sluice_soak_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  sluice::data::SynthOptions o;
  o.out = (dir / "celeba").string();
  o.count = images;
  o.seed = 9;
  sluice::data::write_synthetic_celeba(o);
  const int64_t per_epoch = images;  // all splits are emitted
  const int64_t epochs = std::max<int64_t>(20, (items + per_epoch - 1) / per_epoch);

  sluice::Registry registry;
  sluice::register_builtin_stages(registry);
  registry.add<RssSink>(sluice::StageSpec("test.rss").sink<sluice::Batch>().ordered());
  const std::string toml =
      "[pipeline]\nname = \"soak\"\nseed = 3\n"
      "[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
      (dir / "celeba").string() +
      "\"\nsplit = [\"train\", \"validation\", \"test\"]\nepochs = " + std::to_string(epochs) +
      "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
      "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 64\nheight = 80\n"
      "zoom = [0.8, 1.2]\nshear = 0.2\nflip = true\n"
      "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 32\n"
      "[stages.rss]\nuse = \"test.rss\"\ninput = \"batch\"\n";
  const auto graph = sluice::load_pipeline_string(toml, "soak.toml", {}, registry);
  sluice::run_graph(graph);
  fs::remove_all(dir);

  const int64_t streamed = g_log.images.load();
  EXPECT_GE(streamed, items);
  ASSERT_GE(g_log.samples.size(), 20u);
  // Warm-up: the first tenth of the stream (pools filled, every thread's decoder made).
  int64_t warm = 0;
  for (const auto& [seen, rss] : g_log.samples) {
    if (seen >= streamed / 10) {
      warm = rss;
      break;
    }
  }
  const int64_t end = g_log.samples.back().second;
  int64_t peak = 0;
  for (const auto& [seen, rss] : g_log.samples)
    if (seen >= streamed / 10) peak = std::max(peak, rss);
  std::printf(
      "soak: %lld images in %lld epochs; RSS after warm-up %.1f MiB, at the end %.1f MiB, "
      "peak after warm-up %.1f MiB (%zu samples)\n",
      static_cast<long long>(streamed), static_cast<long long>(epochs), warm / 1048576.0,
      end / 1048576.0, peak / 1048576.0, g_log.samples.size());
  EXPECT_LE(end, warm + warm / 10) << "memory grew over the run";
}

}  // namespace

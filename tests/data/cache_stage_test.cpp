// image.cache in real graphs: later epochs decode nothing, cached pixels are
// byte for byte what image.decode (+ a non-random image.augment resize) makes,
// the process's memory stays within the budget when the set does not fit, and
// `sluice check` refuses a cache after a random stage and a bad budget at the
// offending key.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

// Resident memory of this process now, in bytes (VmRSS).
int64_t resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// Keeps each image's pixels by (epoch, sample index), or only counts them and
// tracks the highest resident memory seen (keep = false).
struct Seen {
  std::mutex mutex;
  std::map<std::pair<int64_t, int64_t>, std::vector<uint8_t>> pixels;
  std::atomic<int64_t> images{0};
  std::atomic<int64_t> peak_rss{0};
};

class Look : public Sink {
 public:
  Look(std::shared_ptr<Seen> seen, bool keep) : seen_(std::move(seen)), keep_(keep) {}
  void consume(std::any& in) override {
    const Image& img = payload_as<Image>(in);
    ++seen_->images;
    if (keep_) {
      std::lock_guard<std::mutex> lock(seen_->mutex);
      seen_->pixels[{img.sample.epoch, img.sample.index}].assign(img.pixels.get(),
                                                                 img.pixels.get() + img.bytes());
      return;
    }
    const int64_t rss = resident_bytes();
    int64_t peak = seen_->peak_rss.load();
    while (rss > peak && !seen_->peak_rss.compare_exchange_weak(peak, rss)) {
    }
  }

 private:
  std::shared_ptr<Seen> seen_;
  bool keep_;
};

class PassSample : public Transform {
 public:
  explicit PassSample(const Params&) {}
  void process(std::any& in, Emitter& out) override { out.forward(Packet::data(std::move(in))); }
};

Registry test_registry(const std::shared_ptr<Seen>& seen, bool keep) {
  Registry reg;
  register_builtin_stages(reg);
  reg.set_origin("test");
  reg.add(StageSpec("test.look").sink<Image>(),
          [seen, keep](const Params&) { return std::make_unique<Look>(seen, keep); });
  reg.add<PassSample>(StageSpec("test.jitter").transform<Sample, Sample>().random());
  return reg;
}

class CacheStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() /
                         ("sluice_cache_stage_" + std::to_string(::getpid())));
    data::write_synthetic_celeba({root_->string(), 300, 4, 90});
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  // index (the first `limit` train images, or all 300 of every split, shuffled) -> `middle` ->
  // look.
  static std::string graph(int64_t epochs, int64_t limit, const std::string& middle) {
    return "[pipeline]\nseed = 3\n\n[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
           root_->string() + "\"\nsplit = " +
           std::string(limit < 0 ? "[\"train\", \"validation\", \"test\"]" : "\"train\"") +
           "\nshuffle = true\nepochs = " + std::to_string(epochs) +
           "\nlimit = " + std::to_string(limit) + "\n\n" + middle +
           "\n[stages.look]\nuse = \"test.look\"\ninput = \"last\"\n";
  }
  static RunReport run(const std::string& toml, const std::shared_ptr<Seen>& seen, bool keep,
                       int threads = 2) {
    const Registry reg = test_registry(seen, keep);
    const ValidatedGraph g = load_pipeline_string(toml, "<test>", {}, reg);
    RunOptions o;
    o.threads = threads;
    return run_graph(g, o);
  }
  static fs::path* root_;
};
fs::path* CacheStage::root_ = nullptr;

constexpr const char* kCacheResized =
    "[stages.last]\nuse = \"image.cache\"\ninput = \"index\"\nbudget = \"64MiB\"\nwidth = 64\n"
    "height = 48\n";

TEST_F(CacheStage, LaterEpochsDecodeNothingWhenTheSetFits) {
  auto seen = std::make_shared<Seen>();
  const RunReport r = run(graph(3, 40, kCacheResized), seen, false);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  EXPECT_EQ(seen->images.load(), 120);
  // 40 distinct files: each decoded once, in epoch 1; epochs 2 and 3 are all hits.
  EXPECT_EQ(r.counters.at("last.misses"), 40);
  EXPECT_EQ(r.counters.at("last.hits"), 80);
  EXPECT_EQ(r.counters.at("last.evictions"), 0);
  EXPECT_GT(r.counters.at("last.bytes_held"), 40 * 64 * 48 * 3);
  EXPECT_LE(r.counters.at("last.bytes_held"), 64 << 20);
}

TEST_F(CacheStage, CachedPixelsAreThoseOfDecodeAndResize) {
  auto decoded = std::make_shared<Seen>(), cached = std::make_shared<Seen>();
  const std::string decode_resize =
      "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n\n"
      "[stages.last]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 64\nheight = 48\n";
  ASSERT_EQ(run(graph(2, 30, decode_resize), decoded, true).status, RunStatus::kCompleted);
  ASSERT_EQ(run(graph(2, 30, kCacheResized), cached, true).status, RunStatus::kCompleted);
  ASSERT_EQ(cached->pixels.size(), 60u);
  EXPECT_EQ(cached->pixels, decoded->pixels);  // epoch 1 (decoded) and 2 (from the cache)

  auto full = std::make_shared<Seen>(), full_cached = std::make_shared<Seen>();
  ASSERT_EQ(
      run(graph(2, 10, "[stages.last]\nuse = \"image.decode\"\ninput = \"index\"\n"), full, true)
          .status,
      RunStatus::kCompleted);
  ASSERT_EQ(run(graph(2, 10, "[stages.last]\nuse = \"image.cache\"\ninput = \"index\"\n"),
                full_cached, true)
                .status,
            RunStatus::kCompleted);
  ASSERT_EQ(full_cached->pixels.size(), 20u);
  EXPECT_EQ(full_cached->pixels, full->pixels);
  EXPECT_EQ(full_cached->pixels.begin()->second.size(),
            static_cast<size_t>(data::kCelebaWidth * data::kCelebaHeight * 3));
}

// 300 images of 128x128x3 (48 KiB each, 14 MiB in all) through a 4 MiB cache
// for three epochs, in both modes: resident memory must not grow by the set's
// size. The same run with a budget that holds the set shows what unbounded
// growth looks like, so the test can tell the two apart.
TEST_F(CacheStage, ResidentMemoryStaysWithinTheBudget) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine: RSS says nothing here";
#endif
  auto cache_of = [](const char* budget, const char* when_full) {
    return std::string("[stages.last]\nuse = \"image.cache\"\ninput = \"index\"\nbudget = \"") +
           budget + "\"\nwhen_full = \"" + when_full + "\"\nwidth = 128\nheight = 128\n";
  };
  auto warm = std::make_shared<Seen>();  // threads, pools, decoder state
  ASSERT_EQ(run(graph(1, -1, cache_of("1MiB", "evict_lru")), warm, false).status,
            RunStatus::kCompleted);

  struct Measured {
    RunReport report;
    int64_t growth;
    int64_t images;
  };
  auto measure = [&](const char* budget, const char* when_full) {
    auto seen = std::make_shared<Seen>();
    const int64_t before = resident_bytes();
    Measured m{run(graph(3, -1, cache_of(budget, when_full)), seen, false), 0, 0};
    m.growth = seen->peak_rss.load() - before;
    m.images = seen->images.load();
    return m;
  };
  const Measured lru = measure("4MiB", "evict_lru");
  const Measured keep = measure("4MiB", "keep");
  const Measured all = measure("64MiB", "keep");
  for (const Measured* m : {&lru, &keep, &all}) {
    ASSERT_EQ(m->report.status, RunStatus::kCompleted) << m->report.error;
    EXPECT_EQ(m->images, 900);
  }
  auto counter = [](const Measured& m, const char* name) {
    return static_cast<long long>(m.report.counters.at(std::string("last.") + name));
  };
  for (const auto& [name, m] : {std::pair<const char*, const Measured*>{"evict_lru 4 MiB", &lru},
                                {"keep 4 MiB", &keep},
                                {"keep 64 MiB", &all}}) {
    std::printf(
        "%-16s RSS growth %5.1f MiB; %lld hits, %lld misses, %lld evictions, %lld not kept "
        "(full), %.1f MiB held\n",
        name, m->growth / 1048576.0, counter(*m, "hits"), counter(*m, "misses"),
        counter(*m, "evictions"), counter(*m, "full"), counter(*m, "bytes_held") / 1048576.0);
  }
  const int64_t budget = 4 << 20;
  for (const Measured* m : {&lru, &keep}) {
    EXPECT_LE(m->report.counters.at("last.bytes_held"), budget);
    EXPECT_LT(m->growth, budget + (5 << 20));  // the budget, plus images in flight
    EXPECT_GT(all.growth, m->growth + (6 << 20));
  }
  EXPECT_GT(counter(lru, "evictions"), 0);
  EXPECT_EQ(counter(keep, "evictions"), 0);
  // keep: the ~80 images that fit hit in epochs 2 and 3; LRU evicts them first.
  EXPECT_GT(counter(keep, "hits"), 2 * 70);
  EXPECT_GT(counter(keep, "hits"), 4 * counter(lru, "hits"));
  EXPECT_EQ(counter(all, "misses"), 300);
  EXPECT_EQ(counter(all, "hits"), 600);
}

std::vector<Diagnostic> check_errors(const std::string& toml) {
  auto seen = std::make_shared<Seen>();
  const Registry reg = test_registry(seen, false);
  try {
    load_pipeline_string(toml, "<test>", {}, reg);
  } catch (const ConfigError& e) {
    return e.diagnostics();
  }
  return {};
}

TEST_F(CacheStage, CheckRefusesACacheAfterARandomStageAtItsInput) {
  const std::string toml = graph(2, 10,
                                 "[stages.jitter]\nuse = \"test.jitter\"\ninput = \"index\"\n\n"
                                 "[stages.last]\nuse = \"image.cache\"\ninput = \"jitter\"\n");
  const auto errors = check_errors(toml);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("stage 'jitter' (test.jitter)"), std::string::npos)
      << errors[0].message;
  EXPECT_NE(errors[0].message.find("freeze"), std::string::npos) << errors[0].message;
  // The position of "jitter" in `input = "jitter"` of [stages.last].
  int line = 1;
  const size_t at = toml.find("input = \"jitter\"");
  for (size_t i = 0; i < at; ++i) line += toml[i] == '\n';
  EXPECT_EQ(errors[0].where.line, line);
  EXPECT_EQ(errors[0].where.column, 9);

  EXPECT_TRUE(check_errors(graph(2, 10, kCacheResized)).empty());
}

TEST_F(CacheStage, AugmentDeclaresRandomnessOnlyWithRandomTransforms) {
  auto seen = std::make_shared<Seen>();
  const Registry reg = test_registry(seen, false);
  auto random_from = [&](const std::string& augment) {
    const ValidatedGraph g = load_pipeline_string(
        graph(1, 5,
              "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n\n[stages.last]\n"
              "use = \"image.augment\"\ninput = \"decode\"\n" +
                  augment),
        "<test>", {}, reg);
    for (const auto& s : g.stages) {
      if (s.id == "last") return s.output_spec.random_from;
    }
    return std::string("no stage 'last'");
  };
  EXPECT_EQ(random_from("width = 64\n"), "");
  EXPECT_EQ(random_from("flip = true\naugment_splits = []\n"), "");
  EXPECT_NE(random_from("flip = true\n").find("stage 'last' (image.augment): random flip"),
            std::string::npos);
  EXPECT_NE(random_from("zoom = 0.2\n").find("zoom"), std::string::npos);
}

TEST_F(CacheStage, CheckRefusesBadBudgetsAtTheirKeys) {
  const auto errors = check_errors(
      graph(1, 5,
            "[stages.last]\nuse = \"image.cache\"\ninput = \"index\"\nbudget = \"2 gigs\"\n"
            "dir = \"/tmp/x\"\ndir_budget = \"0\"\nwidth = 64\n"));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].message.find("budget: expected a byte size such as \"2GiB\""),
            std::string::npos)
      << errors[0].message;
  EXPECT_EQ(errors[0].where.column, 10);
  EXPECT_NE(errors[1].message.find("dir_budget: 0 bytes"), std::string::npos) << errors[1].message;
  EXPECT_NE(errors[2].message.find("give both"), std::string::npos) << errors[2].message;
  EXPECT_NE(check_errors(graph(1, 5,
                               "[stages.last]\nuse = \"image.cache\"\ninput = \"index\"\n"
                               "budget = \"0\"\n"))
                .at(0)
                .message.find("would keep nothing"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice

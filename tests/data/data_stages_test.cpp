// The data stages in real graphs: determinism across thread counts, markers
// and split boundaries, bad-image policies.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/testing/stage_harness.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/celeba_index.h"
#include "stages/data/synth_celeba.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

class Collect : public Sink {
 public:
  explicit Collect(std::shared_ptr<std::vector<Packet>> out) : out_(std::move(out)) {}
  void consume(std::any& in) override { out_->push_back(Packet::data(in)); }
  void on_control(const Control& c, Emitter&) override { out_->push_back(Packet::control(c)); }

 private:
  std::shared_ptr<std::vector<Packet>> out_;
};

struct Result {
  RunReport report;
  std::vector<Packet> packets;
};

Result run_toml(const std::string& toml, int threads) {
  auto collected = std::make_shared<std::vector<Packet>>();
  Registry reg;
  register_builtin_stages(reg);
  reg.set_origin("test");
  reg.add(StageSpec("test.collect").sink<AnyPayload>().ordered(),
          [collected](const Params&) { return std::make_unique<Collect>(collected); });
  ValidatedGraph g = load_pipeline_string(toml, "<test>", {}, reg);
  RunOptions o;
  o.threads = threads;
  Result r;
  r.report = run_graph(g, o);
  r.packets = std::move(*collected);
  return r;
}

class DataStages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() /
                         ("sluice_data_stages_" + std::to_string(::getpid())));
    data::write_synthetic_celeba({root_->string(), 60, 11, 90});
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static std::string image(int one_based) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d.jpg", one_based);
    return (*root_ / "img_align_celeba" / "img_align_celeba" / name).string();
  }
  static std::string graph(const std::string& extra_index = "",
                           const std::string& extra_decode = "",
                           const std::string& extra_augment = "") {
    return "[pipeline]\nseed = 5\n\n[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
           root_->string() + "\"\nsplit = [\"train\", \"validation\"]\nepochs = 2\n" + extra_index +
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n" + extra_decode +
           "\n[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 48\n"
           "height = 40\nshear = 20\nzoom = 0.3\nflip = true\nfill_mode = \"reflect\"\n"
           "rescale = 0.00392156862745098\n" +
           extra_augment +
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 7\n"
           "\n[stages.out]\nuse = \"test.collect\"\ninput = \"batch\"\n";
  }
  static fs::path* root_;
};
fs::path* DataStages::root_ = nullptr;

std::string describe(const Packet& p) {
  if (p.is_control) {
    const Control& c = p.as_control();
    return std::string(control_kind_name(c.kind)) + ":" + c.split + ":" + std::to_string(c.epoch);
  }
  const Batch& b = payload_as<Batch>(p.value);
  std::string s = "batch " + b.split + " e" + std::to_string(b.epoch) + " #" +
                  std::to_string(b.index) + " n" + std::to_string(b.size) + " [";
  for (int64_t i : b.sample_indices) s += std::to_string(i) + " ";
  return s + "]";
}

TEST_F(DataStages, IdenticalBatchesWithOneTwoAndFourThreads) {
  const Result one = run_toml(graph(), 1);
  ASSERT_EQ(one.report.status, RunStatus::kCompleted) << one.report.error;
  // 60 images: 48 train, 6 validation; 2 epochs; batches of 7.
  int batches = 0, images = 0;
  for (const Packet& p : one.packets) {
    if (p.is_control) continue;
    const Batch& b = payload_as<Batch>(p.value);
    ++batches;
    images += b.size;
    EXPECT_EQ(b.width, 48);
    EXPECT_EQ(b.height, 40);
    EXPECT_EQ(b.normalization.kind, Normalization::Kind::kRescale);
    EXPECT_EQ(b.labels.size(), static_cast<size_t>(b.size));
  }
  EXPECT_EQ(images, 2 * 54);
  EXPECT_EQ(batches, 2 * (7 + 1));  // 48 = 6x7 + 6, 6 = one short batch
  for (int threads : {2, 4}) {
    const Result other = run_toml(graph(), threads);
    ASSERT_EQ(other.report.status, RunStatus::kCompleted) << other.report.error;
    ASSERT_EQ(other.packets.size(), one.packets.size()) << threads;
    for (size_t i = 0; i < one.packets.size(); ++i) {
      ASSERT_EQ(describe(one.packets[i]), describe(other.packets[i])) << threads << " threads";
      if (one.packets[i].is_control) continue;
      const Batch& a = payload_as<Batch>(one.packets[i].value);
      const Batch& b = payload_as<Batch>(other.packets[i].value);
      EXPECT_EQ(a.labels, b.labels);
      EXPECT_EQ(std::memcmp(a.pixels.get(), b.pixels.get(), a.image_bytes() * a.size), 0)
          << "batch " << i << " differs with " << threads << " threads";
    }
  }
}

// Rotation, shifts, vertical flip, channel shift and brightness draw from the
// same counter-based generator: the batches are the same under any thread
// count, in both Keras conventions, and differ from the shear/zoom/flip ones.
TEST_F(DataStages, NewTransformsAreIdenticalUnderOneAndFourThreads) {
  const std::string extra =
      "rotation = 25\nwidth_shift = 0.15\nheight_shift = 4\nvertical_flip = true\n"
      "channel_shift = 30\nbrightness = [0.7, 1.3]\n";
  const Result plain = run_toml(graph(), 1);
  ASSERT_EQ(plain.report.status, RunStatus::kCompleted) << plain.report.error;
  for (const char* convention : {"\"2.9\"", "\"legacy\""}) {
    const std::string toml = graph("", "", extra + "keras_convention = " + convention + "\n");
    const Result one = run_toml(toml, 1);
    ASSERT_EQ(one.report.status, RunStatus::kCompleted) << one.report.error;
    const Result four = run_toml(toml, 4);
    ASSERT_EQ(four.report.status, RunStatus::kCompleted) << four.report.error;
    ASSERT_EQ(one.packets.size(), four.packets.size());
    ASSERT_EQ(one.packets.size(), plain.packets.size());
    int differs_from_plain = 0;
    for (size_t i = 0; i < one.packets.size(); ++i) {
      ASSERT_EQ(describe(one.packets[i]), describe(four.packets[i])) << convention;
      if (one.packets[i].is_control) continue;
      const Batch& a = payload_as<Batch>(one.packets[i].value);
      const Batch& b = payload_as<Batch>(four.packets[i].value);
      const Batch& c = payload_as<Batch>(plain.packets[i].value);
      EXPECT_EQ(std::memcmp(a.pixels.get(), b.pixels.get(), a.image_bytes() * a.size), 0)
          << convention << " batch " << i << " differs with 4 threads";
      differs_from_plain +=
          std::memcmp(a.pixels.get(), c.pixels.get(), a.image_bytes() * a.size) != 0;
    }
    EXPECT_GT(differs_from_plain, 0) << convention;
  }
}

TEST_F(DataStages, MarkersFollowTheirSplitAndBatchesNeverSpanSplits) {
  const Result r = run_toml(graph(), 2);
  ASSERT_EQ(r.report.status, RunStatus::kCompleted) << r.report.error;
  std::vector<std::string> markers;
  std::string split = "train";
  int64_t epoch = 0;
  for (const Packet& p : r.packets) {
    if (p.is_control) {
      const Control& c = p.as_control();
      markers.push_back(describe(p));
      if (c.kind == ControlKind::kEndOfSplit) split = c.split == "train" ? "validation" : "train";
      if (c.kind == ControlKind::kEndOfEpoch) ++epoch;
      continue;
    }
    const Batch& b = payload_as<Batch>(p.value);
    EXPECT_EQ(b.split, split);
    EXPECT_EQ(b.epoch, epoch);
  }
  const std::vector<std::string> expected = {
      "end of split:train:0", "end of split:validation:0", "end of epoch::0",
      "end of split:train:1", "end of split:validation:1", "end of epoch::1"};
  std::vector<std::string> without_eos;
  for (const auto& m : markers)
    if (m.rfind("end of stream", 0) != 0) without_eos.push_back(m);
  EXPECT_EQ(without_eos, expected);
}

class BadImages : public DataStages {
 protected:
  static void SetUpTestSuite() {
    DataStages::SetUpTestSuite();
    fs::remove(image(2));                                         // missing_file
    std::ofstream(image(4), std::ios::binary | std::ios::trunc);  // empty_file
    {
      std::ifstream in(image(6), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      in.close();
      std::ofstream(image(6), std::ios::binary | std::ios::trunc)
          << bytes.substr(0, bytes.size() / 2);
    }
    std::ofstream(image(8), std::ios::binary | std::ios::trunc) << "this is not an image\n";
    {
      // A PNG header claiming 100000 x 100000 pixels.
      std::string png = "\x89PNG\r\n\x1a\n";
      png += std::string("\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0", 21);
      png += std::string(64, '\0');
      std::ofstream(image(10), std::ios::binary | std::ios::trunc) << png;
    }
  }
};

TEST_F(BadImages, EachKindIsSkippedAndCounted) {
  const Result r = run_toml(graph(), 2);
  ASSERT_EQ(r.report.status, RunStatus::kCompleted) << r.report.error;
  for (const char* reason :
       {"missing_file", "empty_file", "truncated", "not_an_image", "too_many_pixels"}) {
    const auto it = r.report.counters.find(std::string("decode.skipped.") + reason);
    ASSERT_NE(it, r.report.counters.end()) << reason;
    EXPECT_EQ(it->second, 2) << reason << " (once per epoch)";
  }
  int images = 0;
  for (const Packet& p : r.packets)
    if (!p.is_control) images += payload_as<Batch>(p.value).size;
  EXPECT_EQ(images, 2 * (54 - 5));
}

TEST_F(BadImages, EachKindFailsUnderPolicyFail) {
  const std::pair<int, const char*> cases[] = {{2, "missing_file"},
                                               {4, "empty_file"},
                                               {6, "truncated"},
                                               {8, "not_an_image"},
                                               {10, "too_many_pixels"}};
  for (const auto& [which, reason] : cases) {
    const std::string csv = (*root_ / "one.csv").string();
    std::ofstream(csv, std::ios::trunc) << "path,label\n"
                                        << image(1) << ",0\n"
                                        << image(which) << ",1\n";
    const std::string toml = "[stages.index]\nuse = \"csv.index\"\nfile = \"" + csv +
                             "\"\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
                             "policy = \"fail\"\n[stages.out]\nuse = \"test.collect\"\n"
                             "input = \"decode\"\n";
    const Result r = run_toml(toml, 2);
    EXPECT_EQ(r.report.status, RunStatus::kFailed) << reason;
    EXPECT_NE(r.report.error.find(image(which)), std::string::npos) << r.report.error;
    EXPECT_NE(r.report.error.find(reason), std::string::npos) << r.report.error;
  }
}

// Routes every stage logger (cloned from the default one) into a string.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(DataStages, ControlCharactersFromIndexFilesAreEscapedInLogsAndErrors) {
  const std::string csv = (*root_ / "escape.csv").string();
  std::ofstream(csv, std::ios::trunc) << "path,label\n"
                                      << image(1) << ",0\n\"bad\x1b[31m\nname.jpg\",1\n";
  auto toml = [&](const char* policy) {
    return "[stages.index]\nuse = \"csv.index\"\nfile = \"" + csv +
           "\"\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\npolicy = \"" + policy +
           "\"\n[stages.out]\nuse = \"test.collect\"\ninput = \"decode\"\n";
  };
  const std::string escaped = (*root_ / "bad").string() + "\\x1b[31m\\nname.jpg";
  std::string log;
  {
    LogCapture capture;
    const Result r = run_toml(toml("skip"), 2);
    ASSERT_EQ(r.report.status, RunStatus::kCompleted) << r.report.error;
    log = capture.text();
  }
  EXPECT_NE(log.find("skipping " + escaped + " (escape.csv:3): missing_file"), std::string::npos)
      << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
  const Result failed = run_toml(toml("fail"), 2);
  ASSERT_EQ(failed.report.status, RunStatus::kFailed);
  EXPECT_NE(failed.report.error.find("Sample " + escaped + " (escape.csv:3)"), std::string::npos)
      << failed.report.error;
  EXPECT_EQ(failed.report.error.find_first_of("\n\x1b"), std::string::npos) << failed.report.error;
}

TEST(DirIndexStage, ASymlinkLoopIsSkippedWarnedAndCounted) {
  const fs::path root =
      fs::temp_directory_path() / ("sluice_dir_index_" + std::to_string(::getpid()));
  fs::create_directories(root / "cats");
  fs::create_directories(root / "dogs");
  std::ofstream(root / "cats" / "a.jpg") << "x";
  std::ofstream(root / "dogs" / "b.jpg") << "x";
  fs::create_symlink("loop", root / "dogs" / "loop");
  std::string log;
  Result r;
  {
    LogCapture capture;
    r = run_toml("[stages.index]\nuse = \"dir.index\"\nroot = \"" + root.string() +
                     "\"\n[stages.out]\nuse = \"test.collect\"\ninput = \"index\"\n",
                 1);
    log = capture.text();
  }
  fs::remove_all(root);
  ASSERT_EQ(r.report.status, RunStatus::kCompleted) << r.report.error;
  int samples = 0;
  for (const Packet& p : r.packets) samples += p.is_control ? 0 : 1;
  EXPECT_EQ(samples, 2);
  EXPECT_EQ(r.report.counters.at("index.skipped_entries"), 1);
  EXPECT_NE(log.find("skipped " + (root / "dogs" / "loop").string() +
                     ": Too many levels of symbolic links"),
            std::string::npos)
      << log;
}

TEST(DataStageHarness, AugmentIsKeyedOnSampleIndexAndEpoch) {
  Registry reg;
  register_builtin_stages(reg);
  auto make = [](int64_t index, int64_t epoch, const std::string& split = "train") {
    Image img;
    img.width = 16;
    img.height = 16;
    img.pixels = ByteBuffer(new uint8_t[16 * 16 * 3]);
    for (int i = 0; i < 16 * 16 * 3; ++i) img.pixels[i] = static_cast<uint8_t>(i * 7);
    img.sample.index = index;
    img.sample.epoch = epoch;
    img.sample.split = split;
    return img;
  };
  StageHarness h(reg,
                 "use = \"image.augment\"\nwidth = 8\nheight = 8\nshear = 30\nzoom = 0.4\n"
                 "seed = 3\nnormalize = \"imagenet\"");
  const HarnessOutput out = h.run({make(1, 0), make(2, 0), make(1, 0), make(1, 1),
                                   make(1, 0, "validation"), make(2, 1, "validation")});
  const auto p = out.payloads();
  ASSERT_EQ(p.size(), 6u);
  auto bytes = [&](size_t i) {
    const Image& im = payload_as<Image>(p[i]);
    return std::vector<uint8_t>(im.pixels.get(), im.pixels.get() + im.bytes());
  };
  EXPECT_EQ(bytes(0), bytes(2));
  EXPECT_NE(bytes(0), bytes(1));
  EXPECT_NE(bytes(0), bytes(3));
  EXPECT_EQ(bytes(4), bytes(5));  // validation: resized only, as a Keras validation generator
  EXPECT_NE(bytes(0), bytes(4));
  EXPECT_EQ(payload_as<Image>(p[0]).normalization.kind, Normalization::Kind::kMeanStd);
}

// What image.augment makes of its parameters: "" when the graph validates and
// the stage starts, else the first error (validation or start).
std::string augment_error(const std::string& params) {
  Registry reg;
  register_builtin_stages(reg);
  try {
    StageHarness h(reg, "use = \"image.augment\"\nwidth = 8\nheight = 8\n" + params);
    return h.run().report.error;
  } catch (const ConfigError& e) {
    return format_diagnostic(e.diagnostics().front());
  }
}

// NaN or out-of-range shear, zoom and cval crashed the warp or wrapped to a
// garbage fill value; they are refused up front with the parameter's name.
TEST(DataStageHarness, AugmentRefusesNonFiniteAndOutOfRangeParameters) {
  const std::pair<const char*, const char*> cases[] = {
      {"zoom = [nan]", "parameter 'zoom' element 1 must be a finite number, got nan"},
      {"zoom = [0.5, nan]", "parameter 'zoom' element 2 must be a finite number, got nan"},
      {"zoom = [0.5, inf]", "parameter 'zoom' element 2 must be a finite number, got inf"},
      {"zoom = [0.5, 11]", "parameter 'zoom' must be in [0, 10], got 11"},
      {"zoom = [0.5, 1e308]", "parameter 'zoom' must be in [0, 10], got 1e+308"},
      {"zoom = [-1, 2]", "parameter 'zoom' must be in [0, 10], got -1"},
      {"zoom = [1.2, 0.8]",
       "zoom: the pair [lo, hi] must satisfy 0 < lo <= hi <= 10, got [1.2, 0.8]"},
      {"zoom = [0, 1]", "zoom: the pair [lo, hi] must satisfy 0 < lo <= hi <= 10, got [0, 1]"},
      {"zoom = 1.5", "zoom: a single value z means [1 - z, 1 + z] and needs 0 <= z < 1, got 1.5"},
      {"shear = nan", "parameter 'shear' must be a finite number, got nan"},
      {"shear = -inf", "parameter 'shear' must be a finite number, got -inf"},
      {"shear = 1e308", "parameter 'shear' must be in [0, 90], got 1e+308"},
      {"cval = 300", "parameter 'cval' must be in [0, 255], got 300"},
      {"cval = nan", "parameter 'cval' must be a finite number, got nan"},
      {"rescale = inf", "parameter 'rescale' must be a finite number, got inf"},
      {"rotation = -5", "parameter 'rotation' must be in [0, 360], got -5"},
      {"width_shift = nan", "parameter 'width_shift' must be a finite number, got nan"},
      {"brightness = [1.2, 0.8]",
       "brightness: give a pair [lo, hi] with 0 < lo <= hi (Keras' brightness_range), got [1.2, "
       "0.8]"},
      {"brightness = [0.9]", "brightness: give a pair [lo, hi]"},
      {"channel_shift = 300", "parameter 'channel_shift' must be in [0, 255], got 300"},
      {"keras_convention = \"2.8\"", "keras_convention"},
  };
  for (const auto& [params, want] : cases) {
    const std::string got = augment_error(params);
    EXPECT_NE(got.find(want), std::string::npos) << params << "\n  got: " << got;
  }
  EXPECT_EQ(augment_error("zoom = [0.5, 10]\nshear = 90\ncval = 255"), "");
  EXPECT_EQ(augment_error("zoom = 0.99"), "");
  EXPECT_EQ(augment_error("rotation = 180\nwidth_shift = 0.5\nheight_shift = 3\n"
                          "brightness = [0.5, 1.5]\nchannel_shift = 40\nvertical_flip = true\n"
                          "keras_convention = \"legacy\""),
            "");
}

// shard_count had no maximum: a huge count was accepted and padded the train
// split towards that many shards.
TEST(DataStageHarness, ShardCountHasAMaximum) {
  Registry reg;
  register_builtin_stages(reg);
  try {
    StageHarness h(reg, "use = \"celeba.index\"\nroot = \"/nonexistent\"\nshard_count = 100000");
    h.run();
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(format_diagnostic(e.diagnostics().front())
                  .find("parameter 'shard_count' must be in [1, 65536], got 100000"),
              std::string::npos)
        << format_diagnostic(e.diagnostics().front());
  }
}

TEST(DataStageHarness, BatchDropLastAndFlushOnMarkers) {
  Registry reg;
  register_builtin_stages(reg);
  auto img = [](int64_t index, const std::string& split) {
    Image im;
    im.width = 2;
    im.height = 2;
    im.pixels = ByteBuffer(new uint8_t[12]());
    im.sample.index = index;
    im.sample.split = split;
    return Packet::data(im);
  };
  std::vector<Packet> in = {
      img(0, "train"),      img(1, "train"),
      img(2, "train"),      Packet::control({ControlKind::kEndOfSplit, "train", 0}),
      img(3, "validation"), Packet::control({ControlKind::kEndOfSplit, "validation", 0})};
  StageHarness keep(reg, "use = \"image.batch\"\nbatch_size = 2");
  const HarnessOutput a = keep.run_packets(in);
  std::vector<std::string> got;
  for (const Packet& p : a.packets) got.push_back(describe(p));
  EXPECT_EQ(got,
            (std::vector<std::string>{"batch train e0 #0 n2 [0 1 ]", "batch train e0 #1 n1 [2 ]",
                                      "end of split:train:0", "batch validation e0 #0 n1 [3 ]",
                                      "end of split:validation:0"}));
  StageHarness drop(reg, "use = \"image.batch\"\nbatch_size = 2\ndrop_last = true");
  const HarnessOutput b = drop.run_packets(in);
  EXPECT_EQ(b.payloads().size(), 1u);
  EXPECT_EQ(b.report.counters.at("under_test.dropped_images"), 2);
}

TEST(DataStageHarness, IndexErrorsNameTheFile) {
  Registry reg;
  register_builtin_stages(reg);
  StageHarness h(reg, "use = \"celeba.index\"\nroot = \"/nonexistent/celeba\"");
  // A missing dataset is a config error (element specs read the index header).
  try {
    h.run();
    FAIL() << "a missing dataset root was accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_NE(e.diagnostics()[0].message.find("/nonexistent/celeba"), std::string::npos)
        << e.diagnostics()[0].message;
  }
}

}  // namespace
}  // namespace sluice

// The prep-then-train workflow end to end: synthetic CelebA -> the prep config
// (configs/celeba-prep.toml: decode, crop, encode, shard.write) -> shards ->
// a training-input pipeline (shard.index -> decode -> augment -> batch) gives
// the samples, labels and attributes the same pipeline gives from the JPEG
// folder (celeba.index).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

// "split id label attrs" of every image of every batch, in stream order.
class DumpBatches : public Sink {
 public:
  explicit DumpBatches(std::shared_ptr<std::vector<std::string>> out) : out_(std::move(out)) {}
  void consume(std::any& in) override {
    const Batch& b = payload_as<Batch>(in);
    const size_t width = b.attr_names ? b.attr_names->size() : 0;
    for (int i = 0; i < b.size; ++i) {
      std::string line = b.split + " " + b.ids[static_cast<size_t>(i)] + " " +
                         std::to_string(b.labels[static_cast<size_t>(i)]);
      for (size_t a = 0; a < width; ++a) line += " " + std::to_string(b.attrs[i * width + a]);
      out_->push_back(line);
    }
  }

 private:
  std::shared_ptr<std::vector<std::string>> out_;
};

class ShardRoundTrip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("sluice_shard_round_trip_" + std::to_string(::getpid())));
    data::write_synthetic_celeba({(*dir_ / "celeba").string(), 40, 7, 90});
    Registry reg;
    register_builtin_stages(reg);
    const ValidatedGraph prep =
        load_pipeline(std::string(SLUICE_SOURCE_DIR) + "/configs/celeba-prep.toml",
                      {"index.root=\"" + (*dir_ / "celeba").string() + "\"",
                       "write.prefix=\"" + (*dir_ / "shards" / "celeba-{split}").string() + "\"",
                       "write.max_samples=6", "resize.width=40", "resize.height=48"},
                      reg);
    const RunReport report = run_graph(prep, RunOptions{});
    ASSERT_EQ(report.status, RunStatus::kCompleted) << report.error;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  // The training input half (decode, augment, batch) behind `index`.
  static std::vector<std::string> run_input(const std::string& index) {
    auto lines = std::make_shared<std::vector<std::string>>();
    Registry reg;
    register_builtin_stages(reg);
    reg.set_origin("test");
    reg.add(StageSpec("test.dump").sink<Batch>().ordered(),
            [lines](const Params&) { return std::make_unique<DumpBatches>(lines); });
    const std::string toml =
        "[pipeline]\nseed = 3\n[stages.index]\n" + index +
        "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
        "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\nheight = 32\n"
        "flip = true\n[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 8\n"
        "[stages.dump]\nuse = \"test.dump\"\ninput = \"batch\"\n";
    const ValidatedGraph g = load_pipeline_string(toml, "<test>", {}, reg);
    RunOptions o;
    o.threads = 2;
    const RunReport report = run_graph(g, o);
    EXPECT_EQ(report.status, RunStatus::kCompleted) << report.error;
    return *lines;
  }
  static std::string jpeg_index(const std::string& extra) {
    return "use = \"celeba.index\"\nroot = \"" + (*dir_ / "celeba").string() +
           "\"\nlabel = \"Male\"\nattributes = [\"Eyeglasses\", \"Young\"]\n" + extra;
  }
  static std::string shard_index(const std::string& extra) {
    return "use = \"shard.index\"\nmanifest = \"" + (*dir_ / "shards" / "manifest.json").string() +
           "\"\n" + extra;
  }
  static fs::path* dir_;
};
fs::path* ShardRoundTrip::dir_ = nullptr;

TEST_F(ShardRoundTrip, ShardsGiveTheSameSamplesLabelsAndAttributesAsTheJpegFolder) {
  const std::string splits = "split = [\"train\", \"validation\", \"test\"]\nshuffle = false\n";
  const auto from_jpegs = run_input(jpeg_index(splits));
  const auto from_shards = run_input(shard_index(splits));
  ASSERT_EQ(from_jpegs.size(), 40u);
  EXPECT_EQ(from_shards, from_jpegs);  // same order too: prep writes the dataset's order
}

TEST_F(ShardRoundTrip, ShuffledEpochsHoldTheSameSamplesInAnotherOrder) {
  const auto from_jpegs = run_input(jpeg_index("shuffle = false\n"));
  const auto shuffled = run_input(shard_index("epochs = 2\nshuffle_buffer = 5\n"));
  ASSERT_EQ(shuffled.size(), 2 * from_jpegs.size());
  const std::multiset<std::string> want(from_jpegs.begin(), from_jpegs.end());
  const std::vector<std::string> e0(shuffled.begin(), shuffled.begin() + from_jpegs.size());
  const std::vector<std::string> e1(shuffled.begin() + from_jpegs.size(), shuffled.end());
  EXPECT_EQ(std::multiset<std::string>(e0.begin(), e0.end()), want);
  EXPECT_EQ(std::multiset<std::string>(e1.begin(), e1.end()), want);
  EXPECT_NE(e0, from_jpegs);
  EXPECT_NE(e0, e1);
}

TEST_F(ShardRoundTrip, TheManifestGivesTheLabelSchemaDownstreamStagesSeeAtCheckTime) {
  Registry reg;
  register_builtin_stages(reg);
  const ValidatedGraph g =
      load_pipeline_string("[stages.index]\n" + shard_index("split = \"all\"") +
                               "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n",
                           "cfg.toml", {}, reg);
  const ElementSpec& spec = g.find("decode")->output_spec;
  ASSERT_TRUE(spec.label.has_value());
  EXPECT_EQ(spec.label->to_string(), "binary \"Male\" (Female/Male)");
  EXPECT_EQ(spec.attributes, (std::vector<std::string>{"Eyeglasses", "Young"}));
  EXPECT_EQ(spec.splits, (std::vector<std::string>{"train", "validation", "test"}));
}

}  // namespace
}  // namespace sluice

// shard.index in graphs: samples read back with their bytes, ids and labels,
// markers as the other index sources emit them, ranks with equal steps, broken
// shards, and the config mistakes `sluice check` reports at their key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "pipeline/data_position.h"
#include "pipeline/diagnostics.h"
#include "pipeline/registry.h"
#include "pipeline/runner.h"
#include "pipeline/testing/stage_harness.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "tests/data/tar_test_writer.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

// 12 train samples in shards of 5, 4, 3; 4 validation samples in one shard.
class ShardIndexStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("sluice_shard_index_" + std::to_string(::getpid())));
    testing::write_test_shards(*dir_, {{"train", {5, 4, 3}}, {"validation", {4}}});
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string manifest_stage(const std::string& extra) {
    return "use = \"shard.index\"\nmanifest = \"" + (*dir_ / "manifest.json").string() + "\"\n" +
           extra;
  }
  static HarnessOutput run(const std::string& stage_toml) {
    Registry reg;
    register_builtin_stages(reg);
    StageHarness h(reg, stage_toml);
    return h.run();
  }
  // "split id label" of a Sample, "marker:split:epoch" of a marker.
  static std::vector<std::string> describe(const HarnessOutput& out) {
    std::vector<std::string> got;
    for (const Packet& p : out.packets) {
      if (p.is_control) {
        const Control& c = p.as_control();
        got.push_back(std::string(control_kind_name(c.kind)) + ":" + c.split + ":" +
                      std::to_string(c.epoch));
      } else {
        const Sample& s = payload_as<Sample>(p.value);
        got.push_back(s.split + " " + s.id + " " + std::to_string(s.label));
      }
    }
    return got;
  }
  static std::string check_errors(const std::string& toml) {
    Registry reg;
    register_builtin_stages(reg);
    try {
      load_pipeline_string("[stages.index]\n" + toml, "cfg.toml", {}, reg);
    } catch (const ConfigError& e) {
      std::string out;
      for (const Diagnostic& d : e.diagnostics()) out += format_diagnostic(d) + "\n";
      return out;
    }
    return {};
  }
  static fs::path* dir_;
};
fs::path* ShardIndexStage::dir_ = nullptr;

TEST_F(ShardIndexStage, ReadsBackIdsLabelsAttributesAndTheImageBytes) {
  const HarnessOutput out =
      run(manifest_stage("split = [\"train\", \"validation\"]\nshuffle = false"));
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  int i = 0;
  for (const Packet& p : out.packets) {
    if (p.is_control) continue;
    const Sample& s = payload_as<Sample>(p.value);
    const std::string key = testing::sample_key(i);
    EXPECT_EQ(s.id, key + ".jpg");
    EXPECT_EQ(s.label, i % 3);
    EXPECT_EQ(s.index, i);
    EXPECT_EQ(s.split, i < 12 ? "train" : "validation");
    ASSERT_TRUE(s.has_encoded());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(s.encoded.get()), s.encoded_size),
              testing::fake_image(i));
    EXPECT_EQ(s.encoded_format, "jpg");
    EXPECT_NE(s.path.find(".tar:" + key + ".jpg"), std::string::npos) << s.path;
    ASSERT_TRUE(s.attr_names);
    EXPECT_EQ(*s.attr_names, std::vector<std::string>{"Young"});
    EXPECT_EQ(s.attrs, std::vector<int8_t>{static_cast<int8_t>(i % 2 ? 1 : -1)});
    ++i;
  }
  EXPECT_EQ(i, 16);
  const auto got = describe(out);
  EXPECT_EQ(got[12], "end of split:train:0");
  EXPECT_EQ(got.back(), "end of epoch::0");
  EXPECT_EQ(got[got.size() - 2], "end of split:validation:0");
}

TEST_F(ShardIndexStage, ShuffleIsDeterministicInSeedAndEpochAndCoversEachEpoch) {
  const std::string cfg = manifest_stage("epochs = 3\nseed = 9\nshuffle_buffer = 4");
  const auto a = describe(run(cfg));
  EXPECT_EQ(describe(run(cfg)), a);
  ASSERT_EQ(a.size(), 3u * (12 + 2));
  std::vector<std::vector<std::string>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<std::string> part(a.begin() + e * 14, a.begin() + e * 14 + 12);
    EXPECT_EQ(std::set<std::string>(part.begin(), part.end()).size(), 12u) << e;
    epochs.push_back(part);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  EXPECT_NE(describe(run(manifest_stage("epochs = 3\nseed = 10\nshuffle_buffer = 4"))), a);
}

TEST_F(ShardIndexStage, RanksTakeEqualStepsAndTogetherCoverTheSplits) {
  std::set<std::string> train, validation;
  for (int rank = 0; rank < 5; ++rank) {
    const auto got = describe(
        run(manifest_stage("split = [\"train\", \"validation\"]\nshard_count = 5\nshard_rank = " +
                           std::to_string(rank))));
    const auto end_train = std::find(got.begin(), got.end(), "end of split:train:0");
    ASSERT_NE(end_train, got.end());
    EXPECT_EQ(end_train - got.begin(), 3) << "rank " << rank;  // ceil(12 / 5), padded
    train.insert(got.begin(), end_train);
    for (auto it = end_train + 1; it != got.end() && it->rfind("validation ", 0) == 0; ++it)
      validation.insert(*it);
  }
  EXPECT_EQ(train.size(), 12u);
  EXPECT_EQ(validation.size(), 4u);  // exact partition: 1, 1, 1, 1, 0
}

TEST_F(ShardIndexStage, PlainShardsByGlobWithSplitPlaceholder) {
  const fs::path plain = *dir_ / "plain";
  testing::write_test_shards(plain, {{"train", {2, 2}}, {"validation", {3}}}, false);
  std::ofstream(plain / "test-train-000002.tar.tmp") << "half-written";
  const auto got = describe(run("use = \"shard.index\"\nshards = \"" + plain.string() +
                                "/test-{split}-*.tar\"\nsplit = [\"train\", \"validation\"]\n"
                                "shuffle = false"));
  EXPECT_EQ(got, (std::vector<std::string>{"train s00000.jpg 0", "train s00001.jpg 1",
                                           "train s00002.jpg 2", "train s00003.jpg 0",
                                           "end of split:train:0", "validation s00004.jpg 1",
                                           "validation s00005.jpg 2", "validation s00006.jpg 0",
                                           "end of split:validation:0", "end of epoch::0"}));
}

TEST_F(ShardIndexStage, ACorruptShardFailsNamingShardAndMemberOrIsSkipped) {
  const fs::path broken = *dir_ / "broken";
  testing::write_test_shards(broken, {{"train", {3, 3}}}, false);
  const std::string second = (broken / "test-train-000001.tar").string();
  fs::resize_file(second, 2048 + 100);  // inside the header of s00003.cls
  const std::string stage = "use = \"shard.index\"\nshards = \"" + broken.string() +
                            "/test-train-*.tar\"\nshuffle = false\n";
  const HarnessOutput failed = run(stage);
  EXPECT_EQ(failed.report.status, RunStatus::kFailed);
  EXPECT_NE(failed.report.error.find(second), std::string::npos) << failed.report.error;

  // A malformed member: the record is refused by name, or skipped alone.
  testing::write_test_shards(broken, {{"train", {3, 3}}}, false);
  std::string bytes;
  {
    std::ifstream in(second, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[1537] = '{';  // s00003.json's payload: its first key's quote becomes a brace
  std::ofstream(second, std::ios::binary) << bytes;
  const HarnessOutput bad_json = run(stage);
  EXPECT_EQ(bad_json.report.status, RunStatus::kFailed);
  EXPECT_NE(bad_json.report.error.find(second + ": member s00003.json: malformed sample metadata"),
            std::string::npos)
      << bad_json.report.error;
  const auto skipped = describe(run(stage + "policy = \"skip\""));
  EXPECT_EQ(skipped.size(), 5u + 2);  // s00003 left out
  EXPECT_EQ(std::count(skipped.begin(), skipped.end(), "train s00003.jpg 0"), 0);
}

TEST_F(ShardIndexStage, AShardShorterThanItsManifestCountIsNamed) {
  const fs::path shorter = *dir_ / "shorter";
  testing::write_test_shards(shorter, {{"train", {3}}});
  std::ifstream in(shorter / "manifest.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::string three = "\"samples\": 3";
  text.replace(text.find(three), three.size(), "\"samples\": 4");
  std::ofstream(shorter / "manifest.json") << text;
  const HarnessOutput out =
      run("use = \"shard.index\"\nmanifest = \"" + shorter.string() + "\"\nshuffle = false");
  EXPECT_EQ(out.report.status, RunStatus::kFailed);
  EXPECT_NE(out.report.error.find((shorter / "test-train-000000.tar").string() +
                                  ": ends after 3 samples, 4 expected"),
            std::string::npos)
      << out.report.error;
}

// A sink that asks the sources to start at a data position, as a trainer
// restoring a mid-epoch checkpoint does, and records "epoch id" of each sample.
class FromPosition : public Sink {
 public:
  FromPosition(DataPosition at, std::shared_ptr<std::vector<std::string>> out)
      : at_(std::move(at)), out_(std::move(out)) {}
  void open(StageContext& ctx) override { ctx.request_start_position(at_); }
  void consume(std::any& in) override {
    const Sample& s = payload_as<Sample>(in);
    out_->push_back(std::to_string(s.epoch) + " " + s.id);
  }

 private:
  DataPosition at_;
  std::shared_ptr<std::vector<std::string>> out_;
};

std::vector<std::string> run_from(const std::string& index, const DataPosition& at) {
  auto out = std::make_shared<std::vector<std::string>>();
  Registry reg;
  register_builtin_stages(reg);
  reg.set_origin("test");
  reg.add(StageSpec("test.from_position").sink<Sample>().ordered(),
          [at, out](const Params&) { return std::make_unique<FromPosition>(at, out); });
  const ValidatedGraph g =
      load_pipeline_string("[stages.index]\n" + index +
                               "\n[stages.sink]\nuse = \"test.from_position\"\ninput = \"index\"\n",
                           "<test>", {}, reg);
  const RunReport report = run_graph(g, RunOptions{});
  EXPECT_EQ(report.status, RunStatus::kCompleted) << report.error;
  return *out;
}

TEST_F(ShardIndexStage, AResumedRunStartsAtItsDataPositionMidEpoch) {
  const std::string index = manifest_stage("epochs = 3\nseed = 4\nshuffle_buffer = 5");
  const std::vector<std::string> all = run_from(index, DataPosition{});
  ASSERT_EQ(all.size(), 36u);
  // Epoch 1 with 7 of its 12 train samples consumed: the rest of epoch 1, then epoch 2.
  EXPECT_EQ(run_from(index, DataPosition{1, "train", 7}),
            std::vector<std::string>(all.begin() + 12 + 7, all.end()));
  // Two ranks, 8 consumed over both: each rank skips its first 4 (of 6).
  for (int rank = 0; rank < 2; ++rank) {
    const std::string ranked = index + "\nshard_count = 2\nshard_rank = " + std::to_string(rank);
    const std::vector<std::string> whole = run_from(ranked, DataPosition{});
    ASSERT_EQ(whole.size(), 18u);
    EXPECT_EQ(run_from(ranked, DataPosition{0, "train", 8}),
              std::vector<std::string>(whole.begin() + 4, whole.end()))
        << "rank " << rank;
  }
}

TEST_F(ShardIndexStage, SpecHasTheManifestsLabelSchemaAndSplits) {
  Registry reg;
  register_builtin_stages(reg);
  const ValidatedGraph g = load_pipeline_string(
      "[stages.index]\n" + manifest_stage("split = \"all\"\nepochs = 2"), "cfg.toml", {}, reg);
  const ElementSpec& spec = g.find("index")->output_spec;
  ASSERT_TRUE(spec.label.has_value());
  EXPECT_EQ(spec.label->kind, LabelSpec::Kind::kCategorical);
  EXPECT_EQ(spec.label->names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(spec.splits, (std::vector<std::string>{"train", "validation"}));
  EXPECT_EQ(spec.attributes, std::vector<std::string>{"Young"});
  EXPECT_EQ(spec.epochs, 2);
}

TEST_F(ShardIndexStage, ConfigMistakesAreErrorsAtTheirKey) {
  const std::string where = "error: stage 'index' (shard.index): ";
  const std::string nothing =
      check_errors("use = \"shard.index\"\nshards = \"/nonexistent/x-*.tar\"");
  EXPECT_NE(
      nothing.find("cfg.toml:3:10: " + where + "shards: no file matches '/nonexistent/x-*.tar'"),
      std::string::npos)
      << nothing;
  const std::string missing =
      check_errors("use = \"shard.index\"\nmanifest = \"/nonexistent/manifest.json\"");
  EXPECT_NE(missing.find("cfg.toml:3:12: " + where + "manifest: "), std::string::npos) << missing;
  EXPECT_NE(missing.find("/nonexistent/manifest.json"), std::string::npos) << missing;
  const std::string split = check_errors(manifest_stage("split = [\"train\", \"test\"]"));
  EXPECT_NE(split.find("cfg.toml:4:9: " + where +
                       "split: the manifest has no shards of split 'test' (it has: train, "
                       "validation)"),
            std::string::npos)
      << split;
  const std::string buffer = check_errors(manifest_stage("shuffle_buffer = -3"));
  EXPECT_NE(buffer.find("cfg.toml:4:18: " + where), std::string::npos) << buffer;
  EXPECT_NE(check_errors("use = \"shard.index\"").find(where + "shards: give either"),
            std::string::npos);
  EXPECT_EQ(check_errors(manifest_stage("split = [\"validation\", \"train\"]")), "");
}

}  // namespace
}  // namespace sluice

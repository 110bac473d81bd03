// shard.index against shards and manifests that do not hold what they claim:
// a truncated plain shard under policy = "skip", a shard whose crc32, size or
// count differs from its manifest entry, a manifest listing a shard twice or
// declaring more classes than a label may have, out-of-range binary labels and
// empty images; and image.decode given an empty shard member.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "pipeline/diagnostics.h"
#include "pipeline/label_limits.h"
#include "pipeline/profiler.h"
#include "pipeline/registry.h"
#include "pipeline/testing/stage_harness.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "tests/data/tar_test_writer.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string crc_hex(const std::string& bytes) {
  char hex[9];
  std::snprintf(
      hex, sizeof hex, "%08lx",
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  return hex;
}

class ShardIntegrityStage : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("sluice_shard_integrity_stage_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static HarnessOutput run(const std::string& stage_toml) {
    Registry reg;
    register_builtin_stages(reg);
    StageHarness h(reg, stage_toml);
    return h.run();
  }
  static size_t samples(const HarnessOutput& out) {
    size_t n = 0;
    for (const Packet& p : out.packets) n += p.is_control ? 0 : 1;
    return n;
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
  std::string stage(const std::string& extra = "") const {
    return "use = \"shard.index\"\nmanifest = \"" + (dir_ / "manifest.json").string() +
           "\"\nshuffle = false\n" + extra;
  }
  // A manifest over the test shards as write_test_shards names them, each entry
  // with the file's size and crc32 (as shard.write records them); `label`: the
  // label object, `count`: a count to record in place of the first shard's.
  void write_manifest(const std::vector<int>& counts, const std::string& label,
                      int first_count = -1) {
    std::string entries;
    for (size_t n = 0; n < counts.size(); ++n) {
      char name[64];
      std::snprintf(name, sizeof name, "test-train-%06zu.tar", n);
      const std::string bytes = file_bytes(dir_ / name);
      const int count = n == 0 && first_count >= 0 ? first_count : counts[n];
      entries += std::string(entries.empty() ? "" : ", ") + "{\"name\": \"" + name +
                 "\", \"split\": \"train\", \"samples\": " + std::to_string(count) +
                 ", \"bytes\": " + std::to_string(bytes.size()) + ", \"crc32\": \"" +
                 crc_hex(bytes) + "\"}";
    }
    std::ofstream(dir_ / "manifest.json")
        << "{\"format\": \"sluice.shards\", \"version\": 1, \"complete\": true, \"shards\": ["
        << entries << "], \"splits\": {}, \"samples\": 0, \"label\": " << label
        << ", \"attributes\": [], \"config\": \"\"}\n";
  }
  static constexpr const char* kCategorical =
      "{\"kind\": \"categorical\", \"attribute\": \"k\", \"names\": [\"a\", \"b\", \"c\"]}";
  fs::path dir_;
};

TEST_F(ShardIntegrityStage, UnderSkipATruncatedPlainShardIsSkippedNamedAndCounted) {
  testing::write_test_shards(dir_, {{"train", {3, 3}}}, false);
  const std::string second = (dir_ / "test-train-000001.tar").string();
  fs::resize_file(second, 2048 + 100);  // inside the header of s00003.cls
  const std::string plain = "use = \"shard.index\"\nshards = \"" +
                            (dir_ / "test-train-*.tar").string() + "\"\nshuffle = false\n";
  EXPECT_EQ(run(plain).report.status, RunStatus::kFailed);
  const HarnessOutput out = run(plain + "policy = \"skip\"");
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  EXPECT_EQ(samples(out), 3u);  // the first shard whole; nothing read whole of the second
  EXPECT_EQ(out.report.counters.at("under_test.skipped.shard_errors"), 1);
}

TEST_F(ShardIntegrityStage, ARecordedCrc32IsCheckedAsTheShardIsRead) {
  testing::write_test_shards(dir_, {{"train", {3, 2}}}, false);
  write_manifest({3, 2}, kCategorical);
  const HarnessOutput good = run(stage());
  ASSERT_EQ(good.report.status, RunStatus::kCompleted) << good.report.error;
  EXPECT_EQ(samples(good), 5u);

  // One byte of s00001.jpg's payload flipped: same size, same tar structure.
  const fs::path first = dir_ / "test-train-000000.tar";
  std::string bytes = file_bytes(first);
  bytes[7 * 512 + 4] ^= 0x20;
  std::ofstream(first, std::ios::binary) << bytes;
  const HarnessOutput bad = run(stage());
  EXPECT_EQ(bad.report.status, RunStatus::kFailed);
  EXPECT_NE(bad.report.error.find(first.string() + ": crc32 is "), std::string::npos)
      << bad.report.error;
  const HarnessOutput skipped = run(stage("policy = \"skip\""));
  ASSERT_EQ(skipped.report.status, RunStatus::kCompleted) << skipped.report.error;
  EXPECT_EQ(skipped.report.counters.at("under_test.skipped.shard_errors"), 1);
}

TEST_F(ShardIntegrityStage, ALoweredCountIsDetectedNotSilentlyDroppingSamples) {
  testing::write_test_shards(dir_, {{"train", {3}}}, false);
  write_manifest({3}, kCategorical, /*first_count=*/2);
  const HarnessOutput out = run(stage());
  EXPECT_EQ(out.report.status, RunStatus::kFailed);
  EXPECT_NE(out.report.error.find("holds more than the 2 samples its manifest records"),
            std::string::npos)
      << out.report.error;
}

TEST_F(ShardIntegrityStage, ADuplicatedManifestEntryIsACheckError) {
  testing::write_test_shards(dir_, {{"train", {2}}}, false);
  write_manifest({2}, kCategorical);
  std::string text = file_bytes(dir_ / "manifest.json");
  const size_t open = text.find('[') + 1, close = text.find(']');
  const std::string entry = text.substr(open, close - open);
  text.insert(close, ", " + entry);
  std::ofstream(dir_ / "manifest.json") << text;
  const std::string errors = check_errors(stage());
  EXPECT_NE(errors.find("manifest: "), std::string::npos) << errors;
  EXPECT_NE(errors.find("'test-train-000000.tar' is listed twice"), std::string::npos) << errors;
}

TEST_F(ShardIntegrityStage, MoreClassesThanTheLimitIsACheckErrorAtTheKey) {
  testing::write_test_shards(dir_, {{"train", {2}}}, false);
  std::string names;
  for (size_t i = 0; i <= kMaxLabelClasses; ++i)
    names += std::string(i ? ", " : "") + "\"c" + std::to_string(i) + "\"";
  write_manifest({2},
                 "{\"kind\": \"categorical\", \"attribute\": \"k\", \"names\": [" + names + "]}");
  const std::string errors = check_errors(stage());
  EXPECT_NE(errors.find("cfg.toml:3:12: error: stage 'index' (shard.index): manifest: "),
            std::string::npos)
      << errors.substr(0, 400);
  EXPECT_NE(errors.find("declares 100001 classes, more than the 100000"), std::string::npos)
      << errors.substr(0, 400);
  const std::string given =
      check_errors("use = \"shard.index\"\nshards = \"" + (dir_ / "*.tar").string() +
                   "\"\nclass_names = [" + names + "]\n");
  EXPECT_NE(given.find("class_names: declares 100001 classes"), std::string::npos)
      << given.substr(0, 400);
}

TEST_F(ShardIntegrityStage, BinaryLabelsOutOfRangeAreRefusedOrSkipped) {
  testing::write_tar((dir_ / "test-train-000000.tar").string(), {{"a.jpg", "J"},
                                                                 {"a.cls", "1"},
                                                                 {"b.jpg", "J"},
                                                                 {"b.cls", "2"},
                                                                 {"c.jpg", "J"},
                                                                 {"c.cls", "-1"},
                                                                 {"d.jpg", "J"},
                                                                 {"d.cls", "9223372036854775807"},
                                                                 {"e.jpg", "J"},
                                                                 {"e.cls", "0"}});
  write_manifest({5}, "{\"kind\": \"binary\", \"attribute\": \"x\", \"names\": [\"n\", \"y\"]}");
  const HarnessOutput out = run(stage());
  EXPECT_EQ(out.report.status, RunStatus::kFailed);
  EXPECT_NE(out.report.error.find("member b.cls: label 2 is not 0 or 1"), std::string::npos)
      << out.report.error;
  const HarnessOutput skipped = run(stage("policy = \"skip\""));
  ASSERT_EQ(skipped.report.status, RunStatus::kCompleted) << skipped.report.error;
  EXPECT_EQ(samples(skipped), 2u);
  EXPECT_EQ(skipped.report.counters.at("under_test.skipped.samples"), 3);
}

TEST_F(ShardIntegrityStage, AnEmptyImageNeverMakesDecodeOpenTheMemberPathOnDisk) {
  Registry reg;
  register_builtin_stages(reg);
  Sample s;
  s.id = "k.jpg";
  s.path = (dir_ / "shard.tar:k.jpg").string();
  s.encoded.reset(new uint8_t[1]);
  s.encoded_size = 0;
  std::ofstream(s.path) << "a file that must not be read";
  StageHarness h(reg, "use = \"image.decode\"\npolicy = \"fail\"");
  const HarnessOutput out = h.run({std::any(s)});
  EXPECT_EQ(out.report.status, RunStatus::kFailed);
  EXPECT_NE(out.report.error.find("zero bytes"), std::string::npos) << out.report.error;
}

TEST_F(ShardIntegrityStage, ANonUtf8ByteInMetadataReachesNeitherTheErrorNorTheProfileRaw) {
  testing::write_tar((dir_ / "test-train-000000.tar").string(),
                     {{"a.jpg", "J"}, {"a.json", "{\"label\": 1, \"id\": \"\xff\"}"}});
  write_manifest({1}, kCategorical);
  const HarnessOutput out = run(stage());
  EXPECT_EQ(out.report.status, RunStatus::kFailed);
  EXPECT_EQ(out.report.error.find('\xff'), std::string::npos) << out.report.error;
  EXPECT_NE(out.report.error.find("\\xff"), std::string::npos) << out.report.error;
  EXPECT_NO_THROW(profile_json(out.report));
  RunReport raw;
  raw.status = RunStatus::kFailed;
  raw.error = "a byte \xff from a data file";
  EXPECT_NO_THROW(profile_json(raw));
}

}  // namespace
}  // namespace sluice

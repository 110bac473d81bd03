// shard.write through `sluice`: configs/celeba-prep.toml on synthetic faces,
// the config mistakes `sluice check` refuses (exit 2, FILE:LINE:COL), and a run
// killed with SIGKILL while writing, which must leave only complete shards that
// its manifest lists.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "stages/data/image_encoder.h"
#include "stages/data/jpeg_decoder.h"
#include "stages/data/shard_manifest.h"
#include "tests/data/shard_test_util.h"

#ifdef SLUICE_BINARY
namespace sluice::data {
namespace {

using shard_test::pattern_image;
using shard_test::read_tar;
using shard_test::TempDir;
namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;
};

Result run(const std::string& command) {
  Result r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string sluice(const std::string& args) { return std::string(SLUICE_BINARY) + " " + args; }

// "FILE:LINE:" of the line of `config` that starts with `key`.
std::string where(const std::string& file, const std::string& config, const std::string& key) {
  std::istringstream in(config);
  int line = 0;
  for (std::string text; std::getline(in, text);) {
    ++line;
    if (text.rfind(key, 0) == 0) return file + ":" + std::to_string(line) + ":";
  }
  return "(no line starting with " + key + ")";
}

// ROOT/<class>/NNN.jpg: `per_class` small JPEGs in each of two classes, for dir.index.
void write_dataset(const fs::path& root, int per_class) {
  for (const char* cls : {"cats", "dogs"}) {
    fs::create_directories(root / cls);
    for (int i = 0; i < per_class; ++i) {
      const auto e = encode_image(pattern_image(24, 24, 3, i), EncodeOptions{});
      char name[32];
      std::snprintf(name, sizeof name, "%03d.jpg", i);
      std::ofstream(root / cls / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(e.bytes.get()),
                 static_cast<std::streamsize>(e.size));
    }
  }
}

// dir.index -> decode -> [sleep] -> encode -> shard.write, with `extra` lines
// appended to the write stage.
std::string pipeline_config(const fs::path& root, const fs::path& out, double sleep_millis,
                            const std::string& extra = "") {
  std::ostringstream c;
  c << "[stages.index]\nuse = \"dir.index\"\nroot = \"" << root.string() << "\"\n"
    << "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n";
  std::string last = "decode";
  if (sleep_millis > 0) {
    c << "[stages.slow]\nuse = \"work.sleep\"\ninput = \"decode\"\nconcurrency = \"serial\"\n"
      << "millis = " << sleep_millis << "\n";
    last = "slow";
  }
  c << "[stages.encode]\nuse = \"image.encode\"\ninput = \"" << last << "\"\n"
    << "[stages.write]\nuse = \"shard.write\"\ninput = \"encode\"\n"
    << "prefix = \"" << (out / "d-{split}").string() << "\"\n"
    << "max_samples = 10\n"
    << extra;
  return c.str();
}

uint32_t file_crc(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string b = ss.str();
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
}

// Every shard the manifest lists is whole (readable to its end, 3 members per
// sample, the size and CRC the manifest says) and every .tar of the folder is
// listed. Returns the manifest.
ShardManifest expect_consistent(const fs::path& out) {
  const ShardManifest m = read_shard_manifest(out.string());
  std::set<std::string> listed;
  int64_t samples = 0;
  for (const ShardEntry& e : m.shards) {
    listed.insert(e.name);
    const fs::path path = out / e.name;
    EXPECT_TRUE(fs::exists(path)) << e.name;
    if (!fs::exists(path)) continue;
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), e.bytes) << e.name;
    EXPECT_EQ(file_crc(path), e.crc32) << e.name;
    std::vector<shard_test::Member> members;
    EXPECT_NO_THROW(members = read_tar(path.string())) << e.name;
    EXPECT_EQ(members.size(), static_cast<size_t>(3 * e.samples)) << e.name;
    samples += e.samples;
  }
  EXPECT_EQ(samples, m.samples);
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".tar") {
      EXPECT_EQ(listed.count(name), 1u) << "unlisted " << name;
    }
  }
  return m;
}

class ShardCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir("shard_cli_data");
    write_dataset(data_->path() / "pets", 150);
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static fs::path pets() { return data_->path() / "pets"; }
  static TempDir* data_;
};
TempDir* ShardCli::data_ = nullptr;

TEST_F(ShardCli, PrepConfigWritesSyntheticFacesAsShards) {
  TempDir dir("shard_cli_prep");
  const Result synth = run(sluice("synth --out " + dir.str("celeba") + " --count 40 --seed 3"));
  ASSERT_EQ(synth.code, 0) << synth.out;
  const Result r =
      run(sluice("run " + std::string(SLUICE_SOURCE_DIR) + "/configs/celeba-prep.toml" +
                 " --set index.root=" + dir.str("celeba") + " --set 'write.prefix=\"" +
                 dir.str("shards/celeba-{split}") + "\"' --set write.max_samples=16 --threads 2"));
  ASSERT_EQ(r.code, 0) << r.out;
  const ShardManifest m = expect_consistent(dir.path() / "shards");
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.samples, 40);
  EXPECT_EQ(m.splits.size(), 3u);  // train, validation, test
  EXPECT_EQ(m.label.kind, LabelSpec::Kind::kBinary);
  EXPECT_EQ(m.label.names, (std::vector<std::string>{"Female", "Male"}));
  EXPECT_EQ(m.attributes, (std::vector<std::string>{"Eyeglasses", "Young"}));
  EXPECT_NE(m.config.find("use = 'image.encode'"), std::string::npos) << m.config;
  const auto members = read_tar(dir.str("shards/celeba-train-000000.tar"));
  ASSERT_EQ(members.size(), 48u);
  int w = 0, h = 0;
  ASSERT_TRUE(read_image_size(reinterpret_cast<const uint8_t*>(members[0].data.data()),
                              members[0].data.size(), w, h));
  EXPECT_EQ(w, 224);
  EXPECT_EQ(h, 224);
  const auto j = nlohmann::json::parse(members[1].data);
  EXPECT_TRUE(j["class"] == "Male" || j["class"] == "Female") << j;
  EXPECT_EQ(j["attributes"].size(), 2u);
  EXPECT_EQ(j["split"], "train");
  // Stream order, whatever the threads did: the index's order (shuffle = false).
  std::vector<int64_t> indices;
  for (size_t i = 1; i < members.size(); i += 3) {
    indices.push_back(nlohmann::json::parse(members[i].data)["index"].get<int64_t>());
  }
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()));
  EXPECT_EQ(std::adjacent_find(indices.begin(), indices.end()), indices.end());
}

TEST_F(ShardCli, CheckRefusesAFolderThatHoldsFilesUnlessOverwrite) {
  TempDir dir("shard_cli_busy");
  fs::create_directories(dir.path() / "out");
  std::ofstream(dir.path() / "out" / "d-train-000000.tar") << "old";
  const std::string config = pipeline_config(pets(), dir.path() / "out", 0);
  const std::string cfg = dir.str("c.toml");
  std::ofstream(cfg) << config;
  const Result r = run(sluice("check " + cfg));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(where(cfg, config, "prefix")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is not empty (d-train-000000.tar)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--set write.overwrite=true"), std::string::npos) << r.out;
  EXPECT_EQ(run(sluice("check " + cfg + " --set write.overwrite=true")).code, 0);
}

TEST_F(ShardCli, CheckRefusesBadLimitsPrefixesAndInputs) {
  TempDir dir("shard_cli_bad");
  const std::string cfg = dir.str("c.toml");
  const auto check = [&](const std::string& config) {
    std::ofstream(cfg) << config;
    return run(sluice("check " + cfg));
  };
  std::string config = pipeline_config(pets(), dir.path() / "out", 0, "max_bytes = 100\n");
  Result r = check(config);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(where(cfg, config, "max_bytes")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("below 4096"), std::string::npos) << r.out;

  config = pipeline_config(pets(), dir.path() / "out", 0, "max_bytes = -1\n");
  r = check(config);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(where(cfg, config, "max_bytes")), std::string::npos) << r.out;

  config = pipeline_config(pets(), dir.path() / "{split}", 0);
  r = check(config);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(where(cfg, config, "prefix")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("file-name part only"), std::string::npos) << r.out;

  // Two epochs would write every sample twice.
  config = pipeline_config(pets(), dir.path() / "out", 0);
  config.insert(config.find("[stages.decode]"), "epochs = 2\n");
  r = check(config);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("2 epochs"), std::string::npos) << r.out;

  // A pending rescale cannot be encoded.
  config = pipeline_config(pets(), dir.path() / "out", 0);
  config.insert(config.find("[stages.encode]"),
                "[stages.aug]\nuse = \"image.augment\"\ninput = \"decode\"\nrescale = 0.5\n");
  const std::string encode_input = "use = \"image.encode\"\ninput = \"decode\"";
  config.replace(config.find(encode_input), encode_input.size(),
                 "use = \"image.encode\"\ninput = \"aug\"");
  r = check(config);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("stage 'encode' (image.encode)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pending scaling"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir.path() / "out")) << "check must not create the shard folder";
}

TEST_F(ShardCli, SigkillWhileWritingLeavesOnlyCompleteListedShards) {
  TempDir dir("shard_cli_kill");
  const fs::path out = dir.path() / "out";
  const std::string cfg = dir.str("c.toml");
  std::ofstream(cfg) << pipeline_config(pets(), out, 4);  // ~1.2 s for 300 samples
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execl(SLUICE_BINARY, SLUICE_BINARY, "run", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill once the manifest lists two shards (the writer is then mid-stream).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t listed = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      listed = read_shard_manifest(out.string()).shards.size();
    } catch (const std::runtime_error&) {
      listed = 0;  // not written yet
    }
    if (listed >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_GE(listed, 2u) << "no shard appeared within a minute";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before the kill";

  const ShardManifest m = expect_consistent(out);
  EXPECT_FALSE(m.complete);
  EXPECT_GE(m.shards.size(), 2u);
  EXPECT_LT(m.samples, 300);

  // The next run may replace them: leftovers are gone, the set is complete.
  const Result again = run(sluice("run " + cfg + " --set write.overwrite=true"));
  ASSERT_EQ(again.code, 0) << again.out;
  const ShardManifest done = expect_consistent(out);
  EXPECT_TRUE(done.complete);
  EXPECT_EQ(done.samples, 300);
  EXPECT_EQ(done.shards.size(), 30u);
  for (const auto& entry : fs::directory_iterator(out)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  EXPECT_NE(done.config.find("overwrite = false"), std::string::npos) << done.config;
}

}  // namespace
}  // namespace sluice::data
#endif  // SLUICE_BINARY

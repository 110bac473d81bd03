// Reading WebDataset tars: records grouped by key, broken shards named with
// their member, and the shard listing (globs, {split}, .tmp files, manifests).
#include "stages/data/tar_records.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "stages/data/shard_set.h"
#include "stages/data/shard_stream.h"
#include "tests/data/tar_test_writer.h"

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

class TarRecords : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_tar_records_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TarRecords, GroupsConsecutiveMembersByTheKeyUpToTheFirstDot) {
  testing::write_tar(path("a.tar"), {{"x/000001.jpg", "J1"},
                                     {"x/000001.seg.png", "P1"},
                                     {"x/000001.cls", "1"},
                                     {"x/000002.jpg", "J2"},
                                     {"x/000002.cls", "0"}});
  TarRecordReader reader(path("a.tar"));
  TarRecord r;
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.key, "x/000001");
  ASSERT_EQ(r.members.size(), 3u);
  EXPECT_EQ(r.members[1].extension, "seg.png");
  ASSERT_NE(r.find("JPG"), nullptr);
  EXPECT_EQ(r.find("jpg")->text(), "J1");
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.key, "x/000002");
  EXPECT_EQ(r.find("cls")->text(), "0");
  EXPECT_FALSE(reader.next(r));
  EXPECT_EQ(count_tar_records(path("a.tar")), 2);
}

TEST_F(TarRecords, ACompressedShardStreamsToo) {
  testing::write_tar(path("z.tar.gz"), {{"k1.jpg", "J1"}, {"k1.cls", "1"}, {"k2.jpg", "J2"}}, true);
  TarRecordReader reader(path("z.tar.gz"));
  TarRecord r;
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.find("jpg")->text(), "J1");
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.key, "k2");
  EXPECT_FALSE(reader.next(r));
}

TEST_F(TarRecords, ATruncatedShardIsAnErrorNamingShardAndMember) {
  testing::TarMembers members;
  for (int i = 0; i < 4; ++i) {
    members.push_back({testing::sample_key(i) + ".jpg", std::string(3000, 'a' + i)});
    members.push_back({testing::sample_key(i) + ".cls", "1"});
  }
  testing::write_tar(path("t.tar"), members);
  fs::resize_file(path("t.tar"), 512 * 2 + 3000 + 512 * 4 + 1000);  // inside s00001.jpg
  TarRecordReader reader(path("t.tar"));
  TarRecord r;
  ASSERT_TRUE(reader.next(r));
  EXPECT_EQ(r.key, "s00000");
  try {
    reader.next(r);
    FAIL() << "read a truncated member";
  } catch (const ShardError& e) {
    EXPECT_EQ(e.shard(), path("t.tar"));
    EXPECT_EQ(e.member(), "s00001.jpg");
    EXPECT_NE(std::string(e.what()).find(path("t.tar") + ": member s00001.jpg: truncated"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TarRecords, ARecordWithoutImageOrLabelIsRefusedByName) {
  testing::write_tar(path("m.tar"), {{"k1.json", "{\"id\": \"k1.jpg\"}"}, {"k1.cls", "2"}});
  TarRecordReader reader(path("m.tar"));
  TarRecord r;
  ASSERT_TRUE(reader.next(r));
  EXPECT_THROW(shard_record_sample(r, "m.tar", 0, "train", nullptr), ShardError);
  r.members.insert(r.members.begin(), r.members.front());
  r.members.front().name = "k1.png";
  r.members.front().extension = "png";
  const Sample s = shard_record_sample(r, "m.tar", 5, "train", nullptr);
  EXPECT_EQ(s.id, "k1.jpg");
  EXPECT_EQ(s.label, 2);
  EXPECT_EQ(s.encoded_format, "png");
  EXPECT_EQ(s.path, "m.tar:k1.png");
  EXPECT_EQ(s.index, 5);
  r.members.pop_back();  // no .cls, and .json has no label
  try {
    shard_record_sample(r, "m.tar", 0, "train", nullptr);
    FAIL() << "a record without a label";
  } catch (const ShardError& e) {
    EXPECT_NE(std::string(e.what()).find("m.tar: member k1.png: sample 'k1' has no label"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TarRecords, GlobsAreSortedAndIgnoreTmpFiles) {
  for (const char* name : {"d-train-000001.tar", "d-train-000000.tar", "d-train-000002.tar.tmp",
                           "d-validation-000000.tar"}) {
    testing::write_tar(path(name), {{"a.jpg", "x"}, {"a.cls", "1"}});
  }
  fs::create_directories(dir_ / "d-train-000009.tar");  // a folder is no shard
  EXPECT_EQ(glob_shard_files(path("d-train-*")),
            (std::vector<std::string>{path("d-train-000000.tar"), path("d-train-000001.tar")}));
  const ShardSet set = shard_set_from_patterns({path("d-{split}-*.tar")}, {"train", "validation"});
  ASSERT_EQ(set.shards.size(), 3u);
  EXPECT_EQ(set.shards[2].split, "validation");
  EXPECT_EQ(set.splits(), (std::vector<std::string>{"train", "validation"}));
  EXPECT_THROW(shard_set_from_patterns({path("d-train-*.tar")}, {"train", "validation"}),
               std::invalid_argument);
  EXPECT_THROW(shard_set_from_patterns({path("nothing-*.tar")}, {"train"}), std::invalid_argument);
}

TEST_F(TarRecords, AManifestWithoutShardsNamesItsFileAndField) {
  std::ofstream(path("manifest.json")) << "{\"format\": \"sluice.shards\", \"version\": 1}";
  try {
    read_shard_set_manifest(path("manifest.json"));
    FAIL() << "read a manifest without shards";
  } catch (const ShardManifestError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path("manifest.json") + ": missing field '", 0), 0u)
        << e.what();
  }
  std::ofstream(path("bad.json")) << "{\"shards\": [";
  EXPECT_THROW(read_shard_set_manifest(path("bad.json")), ShardManifestError);
  EXPECT_THROW(read_shard_set_manifest(path("none.json")), ShardManifestError);
}

}  // namespace
}  // namespace sluice::data

namespace sluice::data {
namespace {

// What a resumed run relies on: a stream told to skip the first k samples of
// its plan emits exactly the rest of what the whole stream emits.
TEST_F(TarRecords, AStreamStartsAnywhereInItsEpoch) {
  testing::write_test_shards(dir_, {{"train", {4, 6, 5}}}, false);
  std::vector<StreamShard> shards;
  int64_t first = 0;
  for (const int n : {4, 6, 5}) {
    char name[64];
    std::snprintf(name, sizeof name, "test-train-%06lld.tar",
                  static_cast<long long>(shards.size()));
    shards.push_back({path(name), n, first});
    first += n;
  }
  ShardPlanOptions o;
  o.shuffle = true;
  o.seed = 11;
  o.buffer = 4;
  o.shard_count = 2;
  o.shard_rank = 1;
  o.pad_shards = true;
  const auto ids = [&](int64_t skip) {
    ShardSampleStream stream(shards, plan_shard_epoch({4, 6, 5}, 3, o), "train", nullptr, nullptr);
    stream.skip_emitted(skip);
    std::vector<std::string> out;
    Sample s;
    while (stream.next(s)) out.push_back(s.id);
    return out;
  };
  const std::vector<std::string> all = ids(0);
  ASSERT_EQ(all.size(), 8u);  // ceil(15 / 2)
  for (int64_t k : {1, 3, 7, 8}) {
    EXPECT_EQ(ids(k), std::vector<std::string>(all.begin() + k, all.end())) << k;
  }
}

}  // namespace
}  // namespace sluice::data

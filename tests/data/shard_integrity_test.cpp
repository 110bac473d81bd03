// What a shard reader no longer takes on trust: a member's size (capped), a
// compressed shard's expansion (capped), a record's labels (against the label
// schema) and members (one image, one of each extension), a manifest's entries
// (each shard once) and completeness.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "stages/data/shard_manifest.h"
#include "stages/data/shard_set.h"
#include "stages/data/shard_stream.h"
#include "stages/data/tar_records.h"
#include "tests/data/tar_test_writer.h"

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

class ShardIntegrity : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_shard_integrity_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // The first record of a one-record tar of `members`.
  TarRecord record_of(const testing::TarMembers& members) {
    testing::write_tar(path("r.tar"), members);
    TarRecordReader reader(path("r.tar"));
    TarRecord r;
    EXPECT_TRUE(reader.next(r));
    return r;
  }
  // The message shard_record_sample throws for `r` under `schema` ("" when it accepts it).
  static std::string refusal(const TarRecord& r, const ShardLabelSchema& schema = {}) {
    try {
      shard_record_sample(r, "r.tar", 0, "train", nullptr, schema);
    } catch (const ShardError& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(ShardIntegrity, AMemberAboveTheCapIsRefusedNamingShardAndMember) {
  const std::string big(static_cast<size_t>(kDefaultMaxMemberBytes) + 1, 'x');
  testing::write_tar(path("big.tar"), {{"k.jpg", big}, {"k.cls", "1"}});
  TarRecord r;
  try {
    TarRecordReader reader(path("big.tar"));
    reader.next(r);
    FAIL() << "read a member above the default cap";
  } catch (const ShardError& e) {
    EXPECT_EQ(e.member(), "k.jpg");
    EXPECT_NE(std::string(e.what()).find("larger than max_member_bytes (67108864)"),
              std::string::npos)
        << e.what();
  }
  TarReadOptions small;
  small.max_member_bytes = 4;
  testing::write_tar(path("small.tar"), {{"k.jpg", "12345"}, {"k.cls", "1"}});
  TarRecordReader reader(path("small.tar"), small);
  EXPECT_THROW(reader.next(r), ShardError);
  EXPECT_THROW(count_tar_records(path("small.tar"), small), ShardError);
}

// 200 MiB of zeros in members each below the cap, gzipped to a few hundred KiB.
TEST_F(ShardIntegrity, ACompressedShardThatExpandsBeyondTheRatioIsRefused) {
  const std::string zeros(size_t{50} << 20, '\0');
  testing::write_tar(path("bomb.tar"),
                     {{"a.jpg", zeros}, {"b.jpg", zeros}, {"c.jpg", zeros}, {"d.jpg", zeros}},
                     /*gzip=*/true);
  ASSERT_LT(fs::file_size(path("bomb.tar")), size_t{1} << 20);
  try {
    TarRecordReader reader(path("bomb.tar"));
    TarRecord r;
    while (reader.next(r)) {
    }
    FAIL() << "read a decompression bomb whole";
  } catch (const ShardError& e) {
    EXPECT_NE(std::string(e.what()).find("decompression bomb"), std::string::npos) << e.what();
  }
  EXPECT_THROW(count_tar_records(path("bomb.tar")), ShardError);
}

TEST_F(ShardIntegrity, ACompressedShardOfOrdinaryRatioStillStreams) {
  testing::write_tar(path("ok.tar.gz"), {{"k.jpg", std::string(1 << 20, 'j')}, {"k.cls", "1"}},
                     true);
  EXPECT_EQ(count_tar_records(path("ok.tar.gz")), 1);
}

TEST_F(ShardIntegrity, LabelsOutsideTheSchemaAreRefusedForEveryKind) {
  const ShardLabelSchema binary{LabelSpec::Kind::kBinary, 2};
  for (const char* bad : {"2", "-1", "9223372036854775807"}) {
    const TarRecord r = record_of({{"k.jpg", "J"}, {"k.cls", bad}});
    EXPECT_NE(refusal(r, binary).find("r.tar: member k.cls: label " + std::string(bad) +
                                      " is not 0 or 1"),
              std::string::npos)
        << bad << ": " << refusal(r, binary);
  }
  EXPECT_EQ(refusal(record_of({{"k.jpg", "J"}, {"k.cls", "1"}}), binary), "");
  const ShardLabelSchema three{LabelSpec::Kind::kCategorical, 3};
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.json", "{\"label\": 3}"}}), three)
                .find("member k.json: label 3 is not a class id of the 3 classes"),
            std::string::npos);
  const ShardLabelSchema two_attributes{LabelSpec::Kind::kMultiLabel, 2};
  EXPECT_NE(
      refusal(record_of({{"k.jpg", "J"}, {"k.json", "{\"label_values\": [1, 2]}"}}), two_attributes)
          .find("value 2 is not 0 or 1"),
      std::string::npos);
  EXPECT_NE(
      refusal(record_of({{"k.jpg", "J"}, {"k.json", "{\"label_values\": [1]}"}}), two_attributes)
          .find("has 1 values for 2 attributes"),
      std::string::npos);
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.json", "{\"label_values\": [1, 300]}"}}),
                    two_attributes)
                .find("out of range"),
            std::string::npos);
  // Without a schema a label is still a class id: never negative.
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.cls", "-1"}})).find("negative"),
            std::string::npos);
}

TEST_F(ShardIntegrity, DuplicateImageOrLabelMembersAreRefused) {
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.png", "P"}, {"k.cls", "1"}}))
                .find("member k.png: sample 'k' has two images (k.jpg and k.png)"),
            std::string::npos);
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.cls", "1"}, {"k.cls", "0"}}))
                .find("sample 'k' has two members with extension 'cls'"),
            std::string::npos);
  EXPECT_NE(refusal(record_of({{"k.jpg", "J"}, {"k.JPG", "J"}, {"k.cls", "1"}})).find("two"),
            std::string::npos);
}

TEST_F(ShardIntegrity, AnEmptyImageMemberIsRefusedNotLookedUpOnDisk) {
  EXPECT_NE(refusal(record_of({{"k.jpg", ""}, {"k.cls", "1"}}))
                .find("r.tar: member k.jpg: empty image member"),
            std::string::npos);
}

TEST_F(ShardIntegrity, NonUtf8BytesInMetadataAreEscapedInTheError) {
  const std::string message =
      refusal(record_of({{"k.jpg", "J"}, {"k.json", "{\"id\": \"a\xff\x1b[31m\"}"}}));
  EXPECT_NE(message.find("malformed sample metadata"), std::string::npos) << message;
  EXPECT_EQ(message.find('\xff'), std::string::npos) << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  const std::string cls = refusal(record_of({{"k.jpg", "J"}, {"k.cls", "1\xfe"}}));
  EXPECT_EQ(cls.find('\xfe'), std::string::npos) << cls;
  EXPECT_NE(cls.find("\\xfe"), std::string::npos) << cls;
}

std::string manifest_text(const std::string& shards, bool complete, const std::string& splits) {
  return std::string("{\"format\": \"sluice.shards\", \"version\": 1, \"complete\": ") +
         (complete ? "true" : "false") + ", \"shards\": [" + shards + "], \"splits\": {" + splits +
         "}, \"samples\": 5, \"label\": {\"kind\": \"binary\", \"attribute\": \"x\", \"names\": "
         "[\"a\", \"b\"]}, \"attributes\": [], \"config\": \"\"}";
}

TEST_F(ShardIntegrity, AManifestListingAShardTwiceIsRefused) {
  const std::string entry =
      "{\"name\": \"a.tar\", \"split\": \"train\", \"samples\": 5, \"bytes\": 10}";
  try {
    parse_shard_manifest(manifest_text(entry + ", " + entry, true, ""), "m.json");
    FAIL() << "a shard listed twice";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("m.json: shards[1]: 'a.tar' is listed twice (also shards[0])"),
        std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parse_shard_manifest(manifest_text("{\"name\": \"a.tar\", \"split\": \"train\", "
                                                  "\"samples\": 5, \"bytes\": 10, \"crc32\": "
                                                  "\"zz\"}",
                                                  true, ""),
                                    "m.json"),
               std::runtime_error);
}

TEST_F(ShardIntegrity, AnIncompleteSetIsReportedAsGaps) {
  const std::string entry =
      "{\"name\": \"a.tar\", \"split\": \"train\", \"samples\": 5, \"bytes\": 10}";
  EXPECT_TRUE(
      shard_manifest_gaps(
          parse_shard_manifest(
              manifest_text(entry, true, "\"train\": {\"samples\": 5, \"shards\": 1}"), "m.json"))
          .empty());
  const auto unfinished = shard_manifest_gaps(parse_shard_manifest(
      manifest_text(entry, false, "\"train\": {\"samples\": 5, \"shards\": 1}"), "m.json"));
  ASSERT_EQ(unfinished.size(), 1u);
  EXPECT_NE(unfinished[0].find("not marked complete"), std::string::npos);
  // A shard entry removed: the split totals no longer add up.
  const auto removed = shard_manifest_gaps(parse_shard_manifest(
      manifest_text(entry, true, "\"train\": {\"samples\": 9, \"shards\": 2}"), "m.json"));
  ASSERT_FALSE(removed.empty());
  EXPECT_NE(removed[0].find("split 'train' totals 9 samples in 2 shards, the listed shards 5 in 1"),
            std::string::npos)
      << removed[0];
}

TEST_F(ShardIntegrity, UnderSkipATruncatedPlainShardCountsTheRecordsBeforeTheBreak) {
  testing::write_test_shards(dir_, {{"train", {4}}}, false);
  const std::string shard = path("test-train-000000.tar");
  fs::resize_file(shard, 3 * 3 * 1024 + 600);  // inside s00003.jpg's data
  ShardSet set = shard_set_from_patterns({shard}, {"train"});
  EXPECT_THROW(count_shard_samples(set), ShardError);
  int errors = 0;
  count_shard_samples(set, {}, [&](const ShardError& e) {
    ++errors;
    EXPECT_EQ(e.shard(), shard);
  });
  EXPECT_EQ(errors, 1);
  EXPECT_GE(set.shards[0].samples, 1);
  EXPECT_LT(set.shards[0].samples, 4);
}

}  // namespace
}  // namespace sluice::data

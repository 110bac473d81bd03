// The shard writing libraries without a graph: image encoding (round trips
// through the decoder), WebDataset keys, the tar shards read back with libarchive,
// shard limits, the manifest, and what an abandoned writer leaves behind.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "stages/data/image_encoder.h"
#include "stages/data/jpeg_decoder.h"
#include "stages/data/shard_manifest.h"
#include "stages/data/shard_writer.h"
#include "tests/data/shard_test_util.h"

namespace sluice::data {
namespace {

using shard_test::encoded_sample;
using shard_test::pattern_image;
using shard_test::read_tar;
using shard_test::TempDir;
namespace fs = std::filesystem;

Image decode(const EncodedImage& e) {
  Image out;
  const DecodeResult r = decode_image(e.bytes.get(), e.size, DecodeOptions{}, heap_buffer, out);
  EXPECT_TRUE(r.ok()) << r.message;
  return out;
}

double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.bytes(); ++i) sum += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return sum / static_cast<double>(a.bytes());
}

TEST(ImageEncoder, Jpeg95DecodesCloseToTheSource) {
  const Image src = pattern_image(96, 80);
  EncodeOptions o;
  o.quality = 95;
  o.subsampling = JpegSubsampling::k444;
  const EncodedImage e = encode_image(src, o);
  ASSERT_GT(e.size, 100u);
  EXPECT_EQ(e.bytes[0], 0xFF);
  EXPECT_EQ(e.bytes[1], 0xD8);  // SOI
  const Image back = decode(e);
  ASSERT_EQ(back.width, 96);
  ASSERT_EQ(back.height, 80);
  EXPECT_LT(mean_abs_diff(src, back), 2.0);

  o.quality = 30;  // lower quality: fewer bytes, further from the source
  const EncodedImage low = encode_image(src, o);
  EXPECT_LT(low.size, e.size);
  EXPECT_GT(mean_abs_diff(src, decode(low)), mean_abs_diff(src, back));
}

TEST(ImageEncoder, SubsamplingIsTheOneAskedFor) {
  const Image src = pattern_image(64, 64);
  EncodeOptions o;
  std::map<JpegSubsampling, int> expected = {{JpegSubsampling::k444, 0},
                                             {JpegSubsampling::k422, 1},
                                             {JpegSubsampling::k420, 2}};  // TJSAMP_*
  for (const auto& [s, tj] : expected) {
    o.subsampling = s;
    const EncodedImage e = encode_image(src, o);
    // The SOF0 marker's first component's sampling factors: 0x11 (444), 0x21 (422),
    // 0x22 (420).
    const uint8_t want = tj == 0 ? 0x11 : tj == 1 ? 0x21 : 0x22;
    bool found = false;
    for (size_t i = 0; i + 11 < e.size; ++i) {
      if (e.bytes[i] == 0xFF && e.bytes[i + 1] == 0xC0) {
        EXPECT_EQ(e.bytes[i + 11], want) << "subsampling " << tj;
        found = true;
        break;
      }
    }
    EXPECT_TRUE(found);
  }
}

TEST(ImageEncoder, PngIsExactAndLeavesItsInputAlone) {
  const Image src = pattern_image(50, 37);
  const Image expected = pattern_image(50, 37);  // src's pixels, in a buffer of their own
  EncodeOptions o;
  o.png = true;
  o.png_compression = 9;
  const EncodedImage e = encode_image(src, o);
  ASSERT_GT(e.size, 8u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(e.bytes.get()) + 1, 3), "PNG");
  EXPECT_EQ(0, std::memcmp(src.pixels.get(), expected.pixels.get(), src.bytes()));
  const Image back = decode(e);
  ASSERT_EQ(back.bytes(), src.bytes());
  EXPECT_EQ(0, std::memcmp(back.pixels.get(), expected.pixels.get(), src.bytes()));
}

TEST(ImageEncoder, GrayPngKeepsItsValues) {
  const Image src = pattern_image(20, 10, 1);
  EncodeOptions o;
  o.png = true;
  const Image back = decode(encode_image(src, o));  // decoded as RGB
  ASSERT_EQ(back.channels, 3);
  for (size_t i = 0; i < src.bytes(); ++i) ASSERT_EQ(back.pixels[i * 3 + 1], src.pixels[i]) << i;
}

TEST(ImageEncoder, RefusesWhatItCannotEncode) {
  Image four = pattern_image(8, 8, 3);
  four.channels = 4;
  EXPECT_THROW(encode_image(four, EncodeOptions{}), std::runtime_error);
  EXPECT_THROW(encode_image(Image{}, EncodeOptions{}), std::runtime_error);
  // A failure does not spoil the thread's compressor for the next image.
  EXPECT_GT(encode_image(pattern_image(8, 8), EncodeOptions{}).size, 0u);
}

TEST(ShardKey, HasNoDotsAndOnlySafeCharacters) {
  EXPECT_EQ(shard_key("000001.jpg", 0), "000001");
  EXPECT_EQ(shard_key("img.v2.final.png", 3), "img_v2_final");
  EXPECT_EQ(shard_key("cats/tabby 01.jpeg", 4), "cats_tabby_01");
  EXPECT_EQ(shard_key("noext", 5), "noext");
  EXPECT_EQ(shard_key(".jpg", 6), "_jpg");
  EXPECT_EQ(shard_key("", 7), "sample_7");
  const std::string long_key = shard_key(std::string(200, 'a') + ".jpg", 42);
  EXPECT_EQ(long_key.size(), kMaxShardKey);
  EXPECT_EQ(long_key.substr(long_key.size() - 3), "_42");
  EXPECT_EQ(shard_file_name("out/celeba-train", 12), "out/celeba-train-000012.tar");
}

TEST(ShardPrefix, ProblemsAreNamed) {
  EXPECT_EQ(shard_prefix_problem("out/celeba-{split}"), "");
  EXPECT_EQ(shard_prefix_problem("celeba"), "");
  EXPECT_NE(shard_prefix_problem(""), "");
  EXPECT_NE(shard_prefix_problem("out/"), "");
  EXPECT_NE(shard_prefix_problem("out/{split}/celeba"), "");
  EXPECT_NE(shard_prefix_problem("out/celeba-{epoch}"), "");
  EXPECT_EQ(shard_folder("out/x/celeba"), "out/x");
  EXPECT_EQ(shard_folder("celeba"), ".");
}

ShardWriterOptions options_for(const TempDir& dir, const std::string& prefix) {
  ShardWriterOptions o;
  o.prefix = dir.str(prefix);
  o.label = LabelSpec::from_classes("Male", {"Female", "Male"}, "index", "label");
  o.attributes = {"Smiling", "Young"};
  o.config = "[stages.w]\nuse = \"shard.write\"\n";
  return o;
}

std::vector<std::string> tar_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint32_t file_crc(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

TEST(ShardWriter, WritesWebDatasetMembersPerSplitSeries) {
  TempDir dir("shard_series");
  ShardWriterOptions o = options_for(dir, "out/faces-{split}");
  o.max_samples = 3;
  auto names = std::make_shared<const std::vector<std::string>>(o.attributes);
  {
    ShardWriter w(o);
    for (int i = 0; i < 7; ++i) {
      Sample s =
          encoded_sample(i, i < 5 ? "train" : "validation", "00000" + std::to_string(i) + ".jpg");
      s.attr_names = names;
      s.attrs = {static_cast<int8_t>(i % 2 ? 1 : -1), 1};
      w.write(s);
    }
    w.finish();
  }
  const fs::path out = dir.path() / "out";
  EXPECT_EQ(tar_files(out),
            (std::vector<std::string>{"faces-train-000000.tar", "faces-train-000001.tar",
                                      "faces-validation-000000.tar", "manifest.json"}));
  const auto first = read_tar((out / "faces-train-000000.tar").string());
  ASSERT_EQ(first.size(), 9u);  // 3 samples x (jpg, json, cls)
  EXPECT_EQ(first[0].name, "000000.jpg");
  EXPECT_EQ(first[1].name, "000000.json");
  EXPECT_EQ(first[2].name, "000000.cls");
  EXPECT_EQ(first[3].name, "000001.jpg");
  EXPECT_EQ(first[5].data, "1");  // sample 1's label
  const auto j = nlohmann::json::parse(first[4].data);
  EXPECT_EQ(j["id"], "000001.jpg");
  EXPECT_EQ(j["label"], 1);
  EXPECT_EQ(j["class"], "Male");
  EXPECT_EQ(j["split"], "train");
  EXPECT_EQ(j["index"], 1);
  EXPECT_EQ(j["attributes"]["Smiling"], 1);
  EXPECT_EQ(j["attributes"]["Young"], 1);
  EXPECT_TRUE(j["label_values"].empty());
  // The image member is the sample's encoded bytes, unchanged.
  const Sample again = encoded_sample(0, "train", "000000.jpg");
  EXPECT_EQ(first[0].data,
            std::string(reinterpret_cast<const char*>(again.encoded.get()), again.encoded_size));
  EXPECT_EQ(read_tar((out / "faces-train-000001.tar").string()).size(), 6u);
  EXPECT_EQ(read_tar((out / "faces-validation-000000.tar").string()).size(), 6u);

  const ShardManifest m = read_shard_manifest(out.string());
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.samples, 7);
  ASSERT_EQ(m.shards.size(), 3u);
  for (const ShardEntry& e : m.shards) {
    EXPECT_EQ(e.bytes, static_cast<int64_t>(fs::file_size(out / e.name))) << e.name;
    EXPECT_EQ(e.crc32, file_crc(out / e.name)) << e.name;
  }
  EXPECT_EQ(m.shards[0].samples, 3);
  EXPECT_EQ(m.shards[0].split, "train");
  EXPECT_EQ(m.splits.at("train").samples, 5);
  EXPECT_EQ(m.splits.at("train").shards, 2);
  EXPECT_EQ(m.splits.at("validation").samples, 2);
  EXPECT_EQ(m.label.kind, LabelSpec::Kind::kBinary);
  EXPECT_EQ(m.label.attribute, "Male");
  EXPECT_EQ(m.label.names, (std::vector<std::string>{"Female", "Male"}));
  EXPECT_EQ(m.attributes, o.attributes);
  EXPECT_EQ(m.config, o.config);
}

TEST(ShardWriter, SameSamplesGiveTheSameBytes) {
  TempDir dir("shard_same");
  for (const char* run : {"a/x", "b/x"}) {
    ShardWriter w(options_for(dir, run));
    for (int i = 0; i < 4; ++i) w.write(encoded_sample(i, "train", std::to_string(i) + ".jpg"));
    w.finish();
  }
  EXPECT_EQ(file_crc(dir.path() / "a/x-000000.tar"), file_crc(dir.path() / "b/x-000000.tar"));
}

TEST(ShardWriter, MaxBytesBoundsEveryShardFile) {
  TempDir dir("shard_bytes");
  ShardWriterOptions o = options_for(dir, "s/part");
  o.max_samples = 0;
  o.max_bytes = 12000;
  {
    ShardWriter w(o);
    for (int i = 0; i < 20; ++i) w.write(encoded_sample(i, "train", std::to_string(i) + ".jpg"));
    w.finish();
  }
  const ShardManifest m = read_shard_manifest(dir.str("s"));
  ASSERT_GT(m.shards.size(), 2u);
  int64_t samples = 0;
  for (const ShardEntry& e : m.shards) {
    const auto size = static_cast<int64_t>(fs::file_size(dir.path() / "s" / e.name));
    EXPECT_LE(size, o.max_bytes) << e.name;
    EXPECT_EQ(size, e.bytes);
    EXPECT_GE(e.samples, 1);
    EXPECT_EQ(read_tar(dir.str("s/" + e.name)).size(), static_cast<size_t>(3 * e.samples));
    samples += e.samples;
  }
  EXPECT_EQ(samples, 20);
  // A shard is closed only when the next sample would not fit: each but the last
  // holds as much as fits.
  for (size_t i = 0; i + 1 < m.shards.size(); ++i) EXPECT_GT(m.shards[i].bytes, o.max_bytes / 2);
}

TEST(ShardWriter, ASampleLargerThanMaxBytesGetsAShardOfItsOwn) {
  TempDir dir("shard_big");
  ShardWriterOptions o = options_for(dir, "s/part");
  o.max_samples = 0;
  o.max_bytes = kMinShardBytes;
  {
    ShardWriter w(o);
    w.write(encoded_sample(0, "train", "small.jpg", 8));
    w.write(encoded_sample(1, "train", "big.jpg", 128));
    w.write(encoded_sample(2, "train", "small2.jpg", 8));
    w.finish();
  }
  const ShardManifest m = read_shard_manifest(dir.str("s"));
  ASSERT_EQ(m.shards.size(), 3u);
  EXPECT_GT(m.shards[1].bytes, o.max_bytes);
  EXPECT_EQ(m.shards[1].samples, 1);
}

TEST(ShardWriter, KeysThatCollideInAShardStayDistinct) {
  TempDir dir("shard_keys");
  {
    ShardWriter w(options_for(dir, "s/k"));
    w.write(encoded_sample(0, "train", "a.b.jpg"));
    w.write(encoded_sample(1, "train", "a_b.jpg"));
    w.finish();
  }
  const auto members = read_tar(dir.str("s/k-000000.tar"));
  ASSERT_EQ(members.size(), 6u);
  EXPECT_EQ(members[0].name, "a_b.jpg");
  EXPECT_EQ(members[3].name, "a_b_1.jpg");
  std::set<std::string> keys;
  for (const auto& m : members) keys.insert(m.name.substr(0, m.name.find('.')));
  EXPECT_EQ(keys.size(), 2u);
}

TEST(ShardWriter, MemberNamesStayShortAndSafe) {
  TempDir dir("shard_names");
  {
    ShardWriter w(options_for(dir, "s/n"));
    Sample longest = encoded_sample(0, "train", std::string(120, 'x') + ".jpg");
    longest.encoded_format = "../a very long format name";
    w.write(longest);
    // An 80-character key, then the same key again: the second gets "_INDEX" and
    // stays at 80.
    w.write(encoded_sample(1, "train", std::string(80, 'y') + ".jpg"));
    Sample again = encoded_sample(123456789, "train", std::string(80, 'y') + ".png");
    again.encoded_format = "we bp";
    w.write(again);
    w.finish();
  }
  const auto members = read_tar(dir.str("s/n-000000.tar"));
  ASSERT_EQ(members.size(), 9u);
  EXPECT_EQ(members[0].name, std::string(78, 'x') + "_0.bin");
  EXPECT_EQ(members[3].name, std::string(80, 'y') + ".jpg");
  EXPECT_EQ(members[6].name, std::string(70, 'y') + "_123456789.we_bp");
  for (const auto& m : members) EXPECT_LE(m.name.size(), 100u) << m.name;
}

TEST(ShardWriter, AnAbandonedWriterLeavesCompleteListedShardsOnly) {
  TempDir dir("shard_abandon");
  ShardWriterOptions o = options_for(dir, "s/part");
  o.max_samples = 2;
  {
    ShardWriter w(o);
    for (int i = 0; i < 5; ++i) w.write(encoded_sample(i, "train", std::to_string(i) + ".jpg"));
    // The open shard has no name yet (or a temporary one): never PREFIX-NNNNNN.tar.
    EXPECT_FALSE(fs::exists(dir.path() / "s/part-000002.tar"));
  }  // no finish(): as a run that failed elsewhere
  EXPECT_EQ(tar_files(dir.path() / "s"),
            (std::vector<std::string>{"manifest.json", "part-000000.tar", "part-000001.tar"}));
  const ShardManifest m = read_shard_manifest(dir.str("s"));
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.shards.size(), 2u);
  EXPECT_EQ(m.samples, 4);
}

TEST(ShardWriter, PacksTheFileOfASampleWithoutEncodedBytes) {
  TempDir dir("shard_raw");
  const Sample encoded = encoded_sample(0, "train", "face.jpg");
  const std::string file = dir.str("face.JPEG");
  std::ofstream(file, std::ios::binary)
      .write(reinterpret_cast<const char*>(encoded.encoded.get()),
             static_cast<std::streamsize>(encoded.encoded_size));
  Sample raw;
  raw.id = "face.JPEG";
  raw.path = file;
  raw.split = "train";
  {
    ShardWriter w(options_for(dir, "s/raw"));
    w.write(raw);
    raw.path = dir.str("missing.jpg");
    EXPECT_THROW(w.write(raw), std::runtime_error);
    w.finish();
  }
  const auto members = read_tar(dir.str("s/raw-000000.tar"));
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "face.jpg");
  EXPECT_EQ(members[0].data.size(), encoded.encoded_size);
}

TEST(ShardWriter, RemoveShardFilesRemovesOnlyWhatAWriterWrites) {
  TempDir dir("shard_remove");
  fs::create_directories(dir.path() / "s");
  for (const char* name :
       {"c-train-000000.tar", "c-validation-000003.tar.tmp", "manifest.json", "manifest.json.tmp",
        "c-train-000004.tar.tmp.Ab12Cd", "manifest.json.tmp.Xy34Zw", "notes.txt", "c-train.tar",
        "other-000000.tar"}) {
    std::ofstream(dir.path() / "s" / name) << "x";
  }
  // Links planted at a shard's and the manifest's names go too; their targets stay.
  std::ofstream(dir.path() / "victim.txt") << "victim";
  fs::create_symlink(dir.path() / "victim.txt", dir.path() / "s/c-train-000001.tar");
  fs::create_symlink(dir.path() / "victim.txt", dir.path() / "s/manifest.json.tmp.Qq12Ww");
  auto removed = remove_shard_files(dir.str("s/c-{split}"));
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed,
            (std::vector<std::string>{
                "c-train-000000.tar", "c-train-000001.tar", "c-train-000004.tar.tmp.Ab12Cd",
                "c-validation-000003.tar.tmp", "manifest.json", "manifest.json.tmp",
                "manifest.json.tmp.Qq12Ww", "manifest.json.tmp.Xy34Zw"}));
  EXPECT_EQ(tar_files(dir.path() / "s"),
            (std::vector<std::string>{"c-train.tar", "notes.txt", "other-000000.tar"}));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "victim.txt"));
}

TEST(ShardWriter, PlantedLinksAtEveryNameAreNeverWrittenThrough) {
  TempDir dir("shard_links");
  const fs::path folder = dir.path() / "s";
  fs::create_directories(folder);
  const fs::path victim = dir.path() / "victim.txt";
  std::ofstream(victim) << "victim";
  // Every name a writer ever used: shards, their temporaries, the manifest and its
  // temporary; for shards 0..2 of a writer closing a shard every 2 samples.
  std::vector<std::string> names = {"manifest.json", "manifest.json.tmp"};
  for (int n = 0; n < 3; ++n) {
    const std::string shard = "part-00000" + std::to_string(n) + ".tar";
    names.push_back(shard);
    names.push_back(shard + ".tmp");
  }
  for (const auto& name : names) fs::create_symlink(victim, folder / name);
  ShardWriterOptions o = options_for(dir, "s/part");
  o.max_samples = 2;
  {
    ShardWriter w(o);
    for (int i = 0; i < 5; ++i) w.write(encoded_sample(i, "train", std::to_string(i) + ".jpg"));
    w.finish();
  }
  std::ifstream in(victim);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "victim") << "a planted link was written through";
  for (const char* name :
       {"manifest.json", "part-000000.tar", "part-000001.tar", "part-000002.tar"}) {
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(folder / name))) << name;
  }
  EXPECT_EQ(read_tar((folder / "part-000002.tar").string()).size(), 3u);
  const ShardManifest m = read_shard_manifest(folder.string());
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.samples, 5);
}

TEST(ShardManifest, RoundTripsAndRefusesWhatItCannotRead) {
  ShardManifest m;
  m.complete = true;
  m.shards.push_back(ShardEntry{"x-000000.tar", "train", 3, 10240, 0xdeadbeef});
  m.splits["train"] = SplitTotals{3, 1};
  m.samples = 3;
  m.label.kind = LabelSpec::Kind::kMultiLabel;
  m.label.names = {"Smiling", "Young"};
  m.attributes = {"Male"};
  m.config = "a = 1\n";
  const std::string text = shard_manifest_json(m);
  const ShardManifest back = parse_shard_manifest(text, "m.json");
  EXPECT_EQ(shard_manifest_json(back), text);
  EXPECT_EQ(back.shards[0].crc32, 0xdeadbeefu);
  EXPECT_EQ(back.label.kind, LabelSpec::Kind::kMultiLabel);

  auto refused = [](const std::string& json, const std::string& says) {
    try {
      parse_shard_manifest(json, "m.json");
      ADD_FAILURE() << "accepted " << json;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  refused("{", "not valid JSON");
  refused(R"({"format": "other"})", "not a shard manifest");
  auto newer = nlohmann::json::parse(text);
  newer["version"] = kShardManifestVersion + 1;
  refused(newer.dump(), "version 2 is not supported");
  auto no_shards = nlohmann::json::parse(text);
  no_shards.erase("shards");
  refused(no_shards.dump(), "missing field 'shards'");
  auto escaping = nlohmann::json::parse(text);
  escaping["shards"][0]["name"] = "../x.tar";
  refused(escaping.dump(), "not a file name");
}

}  // namespace
}  // namespace sluice::data

namespace sluice::data {
namespace {

TEST(ShardSampleJson, MultiLabelHasItsValuesAndNoClass) {
  Sample s;
  s.id = "000007.jpg";
  s.split = "validation";
  s.index = 6;
  s.label_values = {1, 0, 1};
  LabelSpec label;
  label.kind = LabelSpec::Kind::kMultiLabel;
  label.names = {"Male", "Smiling", "Young"};
  const auto j = nlohmann::json::parse(shard_sample_json(s, label));
  EXPECT_EQ(j["label_values"], (nlohmann::json{1, 0, 1}));
  EXPECT_FALSE(j.contains("class"));
  EXPECT_EQ(j["split"], "validation");
  EXPECT_EQ(j["index"], 6);
  EXPECT_TRUE(j["attributes"].empty());
  // A categorical label names its class; an id outside the schema names none.
  label = LabelSpec::from_classes("hair", {"black", "blond", "brown"}, "index", "label");
  s.label_values.clear();
  s.label = 2;
  EXPECT_EQ(nlohmann::json::parse(shard_sample_json(s, label))["class"], "brown");
  s.label = 7;
  EXPECT_FALSE(nlohmann::json::parse(shard_sample_json(s, label)).contains("class"));
}

}  // namespace
}  // namespace sluice::data

// Shards as other tools read them: Python's tarfile opens a shard written by
// ShardWriter, groups its members into samples the way WebDataset does (the key
// is the member name up to the first dot of its basename) and reads each KEY.json.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "stages/data/shard_manifest.h"
#include "stages/data/shard_writer.h"
#include "tests/data/shard_test_util.h"

namespace sluice::data {
namespace {

using shard_test::encoded_sample;
using shard_test::TempDir;

// Runs a command; its stdout, or "exit N: ..." when it fails.
std::string run(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return "popen failed";
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return code == 0 ? out : "exit " + std::to_string(code) + ": " + out;
}

// For each shard the manifest lists: the samples WebDataset would see, each
// with its extensions, its JSON and its .cls, as one JSON line.
constexpr const char* kReader = R"PY(
import json, sys, tarfile, os
folder = sys.argv[1]
manifest = json.load(open(os.path.join(folder, "manifest.json")))
out = {"complete": manifest["complete"], "label": manifest["label"], "shards": []}
for shard in manifest["shards"]:
    samples = {}
    order = []
    with tarfile.open(os.path.join(folder, shard["name"])) as tar:
        for member in tar:
            base = os.path.basename(member.name)
            key = os.path.join(os.path.dirname(member.name), base.split(".", 1)[0])
            ext = base.split(".", 1)[1]
            if key not in samples:
                samples[key] = {}
                order.append(key)
            samples[key][ext] = tar.extractfile(member).read()
    rows = []
    for key in order:
        s = samples[key]
        meta = json.loads(s["json"])
        rows.append({"key": key, "exts": sorted(s), "id": meta["id"], "label": meta["label"],
                     "cls": int(s["cls"].decode()), "split": meta["split"],
                     "class": meta.get("class"), "label_values": meta["label_values"],
                     "image_bytes": len(s.get("jpg", s.get("png", b"")))})
    out["shards"].append({"name": shard["name"], "samples": shard["samples"], "rows": rows})
print(json.dumps(out))
)PY";

TEST(ShardInterop, PythonTarfileReadsShardsAndTheirJson) {
  TempDir dir("shard_python");
  ShardWriterOptions o;
  o.prefix = dir.str("wds/faces-{split}");
  o.max_samples = 2;
  o.label = LabelSpec::from_classes("Male", {"Female", "Male"}, "index", "label");
  {
    ShardWriter w(o);
    for (int i = 0; i < 3; ++i) {
      w.write(encoded_sample(i, "train", "face." + std::to_string(i) + ".v1.jpg"));
    }
    w.write(encoded_sample(3, "test", "000004.jpg"));
    w.finish();
  }
  const std::string script = dir.str("reader.py");
  std::ofstream(script) << kReader;
  const std::string out =
      run(std::string(PYTHON3_EXECUTABLE) + " " + script + " " + dir.str("wds"));
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(out)) << out;
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["label"]["kind"], "binary");
  ASSERT_EQ(j["shards"].size(), 3u);
  int64_t total = 0;
  for (const auto& shard : j["shards"]) {
    EXPECT_EQ(shard["rows"].size(), shard["samples"].get<size_t>()) << shard["name"];
    for (const auto& row : shard["rows"]) {
      EXPECT_EQ(row["exts"], (nlohmann::json{"cls", "jpg", "json"})) << row;
      EXPECT_EQ(row["label"], row["cls"]);
      EXPECT_EQ(row["class"], row["label"].get<int>() == 1 ? "Male" : "Female");
      EXPECT_GT(row["image_bytes"].get<int>(), 100);
      ++total;
    }
  }
  EXPECT_EQ(total, 4);
  // Dots in ids do not split a sample: one key per sample, the id kept in the JSON.
  const auto& first = j["shards"][0]["rows"][0];
  EXPECT_EQ(first["key"], "face_0_v1");
  EXPECT_EQ(first["id"], "face.0.v1.jpg");
  bool test_shard = false;
  for (const auto& shard : j["shards"]) {
    if (shard["name"] != "faces-test-000000.tar") continue;
    test_shard = true;
    EXPECT_EQ(shard["rows"][0]["split"], "test");
  }
  EXPECT_TRUE(test_shard);
}

}  // namespace
}  // namespace sluice::data

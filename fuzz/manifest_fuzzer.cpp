// Fuzz target: the shard manifest (stages/data/shard_manifest.*), as shard.index
// and `sluice check` read it.
//
// Feeds: the input as the text of manifest.json, through parse_shard_manifest
// and shard_manifest_gaps; a manifest that parses is written back with
// shard_manifest_json and parsed again.
//
// Checks: a bad manifest raises std::runtime_error naming the file, nothing
// else; one that parses lists each shard once, by a plain file name, with
// counts and sizes not negative; writing it back and reading it again gives the
// same entries and label.
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

#include "fuzz/check.h"
#include "stages/data/shard_manifest.h"

namespace {

using sluice::data::ShardManifest;
using sluice::fuzz::check;

void check_manifest(const ShardManifest& m) {
  std::set<std::string> names;
  for (const auto& e : m.shards) {
    check(names.insert(e.name).second, "shard listed twice: " + e.name);
    check(
        !e.name.empty() && e.name.find('/') == std::string::npos && e.name != "." && e.name != "..",
        "not a plain file name: " + e.name);
    check(e.samples >= 0 && e.bytes >= 0, "negative samples or bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ShardManifest m;
  try {
    m = sluice::data::parse_shard_manifest(text, "manifest.json");
  } catch (const std::runtime_error& e) {
    check(std::string(e.what()).rfind("manifest.json: ", 0) == 0,
          std::string("error without the file's name: ") + e.what());
    return 0;
  }
  check_manifest(m);
  sluice::data::shard_manifest_gaps(m);
  std::string again;
  try {
    again = sluice::data::shard_manifest_json(m);
  } catch (const std::exception&) {
    return 0;  // names that are not UTF-8 cannot be written back as JSON
  }
  const ShardManifest back = sluice::data::parse_shard_manifest(again, "again.json");
  check(back.shards.size() == m.shards.size(), "entries lost writing the manifest back");
  for (size_t i = 0; i < m.shards.size(); ++i) {
    const auto& a = m.shards[i];
    const auto& b = back.shards[i];
    check(a.name == b.name && a.split == b.split && a.samples == b.samples && a.bytes == b.bytes &&
              a.crc32 == b.crc32,
          "entry " + std::to_string(i) + " changed writing the manifest back");
  }
  check(back.label.names == m.label.names && back.label.kind == m.label.kind,
        "label changed writing the manifest back");
  return 0;
}

// The manifest of a folder of WebDataset shards written by shard.write, and the
// naming rules shard writers and readers share (docs/data.md, "Writing shards").
//
// A shard is a plain (ustar) tar file PREFIX-NNNNNN.tar holding, per sample,
// KEY.jpg or KEY.png (the encoded image), KEY.json (id, label, label_values, class,
// attributes by name, split, source index) and KEY.cls (the label as decimal text),
// in that order. KEY has no dots, so WebDataset's "key = the basename up to its
// first dot" finds it. The manifest, MANIFEST_DIR/manifest.json (the folder of the
// shards), lists the complete shards only: it is rewritten (atomically) after each
// shard was renamed from its ".tmp" name, so a reader that follows it never opens a
// partial shard.
//
//   {
//     "format": "sluice.shards", "version": 1, "complete": true,
//     "shards": [{"name": "celeba-train-000000.tar", "split": "train",
//                 "samples": 1000, "bytes": 5212160, "crc32": "1a2b3c4d"}, ...],
//     "splits": {"train": {"samples": 1620, "shards": 2}, ...},
//     "samples": 2000,
//     "label": {"kind": "binary", "attribute": "Male", "names": ["Female", "Male"]},
//     "attributes": ["Eyeglasses", "Young"],
//     "config": "...the resolved TOML of the run that wrote them..."
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pipeline/element_spec.h"

namespace sluice::data {

inline constexpr int kShardManifestVersion = 1;
inline constexpr const char* kShardManifestFormat = "sluice.shards";
inline constexpr const char* kShardManifestName = "manifest.json";

// One complete shard, its name relative to the manifest's folder.
struct ShardEntry {
  std::string name;   // "celeba-train-000000.tar"
  std::string split;  // the split of all its samples; "" when it mixes splits
  int64_t samples = 0;
  int64_t bytes = 0;       // file size
  uint32_t crc32 = 0;      // zlib crc32 of the whole file
  bool has_crc32 = false;  // read from a manifest that recorded it
};

struct SplitTotals {
  int64_t samples = 0;
  int64_t shards = 0;
};

struct ShardManifest {
  int version = kShardManifestVersion;
  // True once the writer saw the end of its stream; false while writing and
  // after an interrupted run (the listed shards are still whole).
  bool complete = false;
  std::vector<ShardEntry> shards;
  std::map<std::string, SplitTotals> splits;  // from the shards' samples' splits
  int64_t samples = 0;
  LabelSpec label;                      // kind, attribute, names (from_* not stored)
  std::vector<std::string> attributes;  // names of the attribute values in each KEY.json
  std::string config;                   // resolved TOML of the writing run
};

// JSON text of the manifest (2-space indent, keys as above).
std::string shard_manifest_json(const ShardManifest& manifest);
// Parses a manifest; throws std::runtime_error naming `origin` and the field on a
// bad or missing field, or on a version newer than kShardManifestVersion.
ShardManifest parse_shard_manifest(const std::string& json_text, const std::string& origin);
// What makes a manifest's set look incomplete (not marked complete, split or
// overall totals that the listed shards do not add up to), one phrase each to
// follow "manifest M ": warned about by `sluice check` and at the start of a run.
std::vector<std::string> shard_manifest_gaps(const ShardManifest& manifest);
// Reads DIR/manifest.json (or the file itself when `path` names a file).
ShardManifest read_shard_manifest(const std::string& path);
// Writes the manifest to `path` atomically: a temporary in the same folder,
// fsync, rename over `path`, fsync of the folder. `before_rename`, when given,
// runs between the fsync and the rename (the writer renames the new shard there,
// so that the two renames follow each other).
void write_shard_manifest(const std::string& path, const ShardManifest& manifest,
                          const std::function<void()>& before_rename = {});

// "binary", "categorical", "multi_label", "unknown" and back (throws on another).
const char* shard_label_kind_name(LabelSpec::Kind kind);
LabelSpec::Kind parse_shard_label_kind(const std::string& name);

// The WebDataset key of a sample id: the id without its extension, every
// character outside [A-Za-z0-9_-] (dots, slashes, spaces) replaced by '_', at
// most kMaxShardKey characters (longer ones keep a prefix and "_" + index).
inline constexpr size_t kMaxShardKey = 80;
std::string shard_key(const std::string& sample_id, int64_t index);

// "PREFIX-000012.tar" for shard number 12 of a (split-resolved) prefix.
std::string shard_file_name(const std::string& prefix, int64_t number);

}  // namespace sluice::data

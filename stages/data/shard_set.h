// The shards shard.index reads, and what they hold: from a manifest (which
// names every shard with its split and sample count, and the label schema), or
// from glob patterns over plain WebDataset tars (counts from a pre-pass that
// reads the tar headers only; no schema).
//
// A pattern may hold "{split}", replaced by each split name in turn
// ("data/shards/celeba-{split}-*.tar"); without it the shards it matches all
// belong to the one split requested. Matches are sorted; files ending in
// ".tmp" (a shard still being written) and non-regular files are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/element_spec.h"
#include "stages/data/tar_records.h"

namespace sluice::data {

struct ShardFile {
  std::string path;  // as opened (manifest entries resolved against its folder)
  std::string split;
  int64_t samples = -1;  // -1: not known yet (count_shard_samples)
  bool from_manifest = false;
  int64_t bytes = -1;  // the manifest's record of the file size; -1: none
  bool has_crc32 = false;
  uint32_t crc32 = 0;  // the manifest's record of the file's crc32
};

struct ShardSet {
  std::vector<ShardFile> shards;        // in listed order
  LabelSpec label;                      // the manifest's (kind unknown for plain shards)
  std::vector<std::string> attributes;  // extra attributes each sample's .json carries
  std::string description;              // "manifest M" or "shards matching P"
  std::vector<std::string> warnings;    // "manifest M is not marked complete ...", ...
  // The shards of `split`, in listed order.
  std::vector<const ShardFile*> of_split(const std::string& split) const;
  std::vector<std::string> splits() const;  // in order of first appearance
};

// A manifest that cannot be used; the message starts with the file's name.
class ShardManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Sorted matches of one glob pattern (no "{split}"), without ".tmp" files.
std::vector<std::string> glob_shard_files(const std::string& pattern);

// The shards of `patterns` for `splits` (see above). Throws std::invalid_argument
// naming the pattern when one matches nothing, or when several splits are
// requested from patterns without "{split}".
ShardSet shard_set_from_patterns(const std::vector<std::string>& patterns,
                                 const std::vector<std::string>& splits);

// Reads a manifest (shard_manifest.h; `path` may name its folder). Throws
// ShardManifestError on a missing file, invalid JSON or a missing field.
ShardSet read_shard_set_manifest(const std::string& path);

// Fills unknown sample counts by reading the tar headers. A tar that cannot be
// read throws ShardError; with `on_error` (the skip policy) it is called instead
// and the shard counts the records read whole before the error.
void count_shard_samples(ShardSet& set, const TarReadOptions& options = {},
                         const std::function<void(const ShardError&)>& on_error = {});

}  // namespace sluice::data

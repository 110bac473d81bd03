// Writes samples that carry encoded images into WebDataset tar shards with a
// manifest (the format: shard_manifest.h, docs/data.md "Writing shards"). Used by
// the shard.write stage; a library of its own so tests and tools can write shards
// without a graph.
//
// Each series of shards (one per split when the prefix has "{split}") has at most
// one open shard, written to an unnamed or fresh temporary file created O_EXCL
// (pipeline/atomic_file.h: never through a planted link). Closing it:
// end-of-archive, the manifest listing it written to its temporary and synced,
// the shard synced and renamed to NAME.tar, the manifest renamed into place, the
// folder synced. A process killed at any point leaves whole .tar files and a
// manifest listing them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stages/data/shard_manifest.h"
#include "vision/payloads.h"

namespace sluice::data {

struct ShardWriterOptions {
  std::string prefix;       // "out/celeba-{split}": folder + file-name prefix
  int64_t max_samples = 0;  // per shard; 0: no limit
  int64_t max_bytes = 0;    // per shard file; 0: no limit
  LabelSpec label;          // the label schema recorded in the manifest
  std::vector<std::string> attributes;
  std::string config;  // resolved config text recorded in the manifest
};

// Smallest max_bytes accepted: the headers of one sample and the end marker.
inline constexpr int64_t kMinShardBytes = 4096;

// Why `prefix` cannot name shards (empty, ends in '/', "{split}" in its folder
// part, another "{...}"); empty when it can.
std::string shard_prefix_problem(const std::string& prefix);
// The shard folder of a prefix ("." when it names none).
std::string shard_folder(const std::string& prefix);
// The entries of the shard folder, sorted (none when it does not exist).
std::vector<std::string> shard_folder_entries(const std::string& prefix);
// Removes what a writer with this prefix leaves in its folder: manifest.json and
// its temporaries, PREFIX-NNNNNN.tar and .tar.tmp[.XXXXXX] files ({split} matches
// any split), and symlinks planted at those names (not their targets). Returns
// their names.
std::vector<std::string> remove_shard_files(const std::string& prefix);

// KEY.json of a sample: id, label, label_values, class (from the label schema),
// attributes by name, split, index.
std::string shard_sample_json(const Sample& sample, const LabelSpec& label);

class ShardWriter {
 public:
  // Creates the shard folder if needed and writes a manifest of no shards.
  explicit ShardWriter(ShardWriterOptions options);
  // Without finish(): open shards are abandoned (their temporaries removed); the
  // manifest keeps listing the shards completed so far, "complete": false.
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends one sample (its encoded bytes, or else the file at its path).
  // Throws std::runtime_error naming the file on an I/O error.
  void write(const Sample& sample);
  // Closes the open shard of `split`'s series (the split has ended).
  void close_split(const std::string& split);
  // Closes every open shard and writes the manifest with "complete" = `complete`.
  void finish(bool complete = true);

  const ShardManifest& manifest() const { return manifest_; }
  const std::string& folder() const { return folder_; }
  std::string manifest_path() const;

 private:
  class OpenShard;
  struct Series {
    std::string file_prefix;  // file-name prefix with {split} resolved
    int64_t next_number = 0;
    std::unique_ptr<OpenShard> open;
  };

  Series& series_for(const std::string& split);
  void close_shard(Series& series);
  void write_manifest(const std::function<void()>& before_rename = {});

  ShardWriterOptions options_;
  std::string folder_;
  std::string file_pattern_;  // file-name part of the prefix
  bool per_split_ = false;
  std::map<std::string, Series> series_;
  ShardManifest manifest_;
};

}  // namespace sluice::data

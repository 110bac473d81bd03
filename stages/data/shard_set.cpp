#include "stages/data/shard_set.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "stages/data/shard_manifest.h"
#include "stages/data/tar_records.h"

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSplitPlaceholder = "{split}";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string with_split(std::string pattern, const std::string& split) {
  for (size_t at = pattern.find(kSplitPlaceholder); at != std::string::npos;
       at = pattern.find(kSplitPlaceholder, at + split.size())) {
    pattern.replace(at, std::char_traits<char>::length(kSplitPlaceholder), split);
  }
  return pattern;
}

}  // namespace

std::vector<const ShardFile*> ShardSet::of_split(const std::string& split) const {
  std::vector<const ShardFile*> out;
  for (const ShardFile& s : shards) {
    if (s.split == split) out.push_back(&s);
  }
  return out;
}

std::vector<std::string> ShardSet::splits() const {
  std::vector<std::string> out;
  for (const ShardFile& s : shards) {
    if (std::find(out.begin(), out.end(), s.split) == out.end()) out.push_back(s.split);
  }
  return out;
}

std::vector<std::string> glob_shard_files(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      const std::string path = g.gl_pathv[i];
      struct stat st {};
      // ".tmp": an older sluice's temporary; ".tmp.XXXXXX": pipeline/atomic_file.h's.
      const bool temporary = ends_with(path, ".tmp") ||
                             path.find(".tmp.", path.find_last_of('/') + 1) != std::string::npos;
      if (temporary || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        continue;
      }
      out.push_back(path);
    }
  }
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

ShardSet shard_set_from_patterns(const std::vector<std::string>& patterns,
                                 const std::vector<std::string>& splits) {
  if (patterns.empty())
    throw std::invalid_argument("shards: name at least one tar file or pattern");
  if (splits.empty()) throw std::invalid_argument("split: name at least one split");
  ShardSet set;
  for (const std::string& pattern : patterns) {
    const bool per_split = pattern.find(kSplitPlaceholder) != std::string::npos;
    if (!per_split && splits.size() > 1) {
      throw std::invalid_argument("shards: '" + pattern +
                                  "' has no {split}, so its shards cannot be told apart by "
                                  "split; read one split, or write {split} where the name differs");
    }
    for (const std::string& split : splits) {
      const std::string resolved = with_split(pattern, split);
      const std::vector<std::string> files = glob_shard_files(resolved);
      if (files.empty()) throw std::invalid_argument("shards: no file matches '" + resolved + "'");
      for (const std::string& f : files) {
        ShardFile shard;
        shard.path = f;
        shard.split = split;
        set.shards.push_back(shard);
      }
      if (!per_split) break;
    }
  }
  set.description = "shards matching " + patterns.front() + (patterns.size() > 1 ? ", ..." : "");
  return set;
}

ShardSet read_shard_set_manifest(const std::string& path) {
  ShardManifest m;
  try {
    m = read_shard_manifest(path);
  } catch (const std::runtime_error& e) {
    throw ShardManifestError(e.what());
  }
  std::error_code ec;
  const fs::path folder =
      fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
  ShardSet set;
  for (const ShardEntry& e : m.shards) {
    ShardFile shard;
    shard.path = (folder / e.name).string();
    shard.split = e.split;
    shard.samples = e.samples;
    shard.from_manifest = true;
    shard.bytes = e.bytes > 0 ? e.bytes : -1;
    shard.has_crc32 = e.has_crc32;
    shard.crc32 = e.crc32;
    set.shards.push_back(shard);
  }
  for (const std::string& gap : shard_manifest_gaps(m))
    set.warnings.push_back("manifest " + path + " " + gap);
  set.label = m.label;
  set.attributes = m.attributes;
  set.description = "manifest " + path;
  return set;
}

void count_shard_samples(ShardSet& set, const TarReadOptions& options,
                         const std::function<void(const ShardError&)>& on_error) {
  for (ShardFile& s : set.shards) {
    if (s.samples >= 0) continue;
    TarRecord record;
    int64_t n = 0;
    try {
      TarRecordReader reader(s.path, options);
      while (reader.next(record, false)) ++n;
    } catch (const ShardError& e) {
      if (!on_error) throw;
      on_error(e);
    }
    s.samples = n;
  }
}

}  // namespace sluice::data

#include "stages/data/shard_set.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "pipeline/file_read.h"
#include "stages/data/tar_records.h"

namespace sluice::data {

namespace {

constexpr const char* kSplitPlaceholder = "{split}";
constexpr uintmax_t kMaxManifestBytes = 256ull << 20;

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

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw ShardManifestError(file + ": " + what);
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& file,
        const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) bad(file, where + "missing field '" + key + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    bad(file, where + "field '" + key + "' has the wrong type (" + it->type_name() + ")");
  }
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
      if (ends_with(path, ".tmp") || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
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
      for (const std::string& f : files) set.shards.push_back({f, split, -1});
      if (!per_split) break;
    }
  }
  set.description = "shards matching " + patterns.front() + (patterns.size() > 1 ? ", ..." : "");
  return set;
}

ShardSet read_shard_set_manifest(const std::string& file) {
  std::string text;
  try {
    text = read_regular_file(file, kMaxManifestBytes, "shard manifest");
  } catch (const std::exception& e) {
    throw ShardManifestError(e.what());
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    bad(file, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(file, "not a JSON object");
  const auto shards = field<nlohmann::json>(j, "shards", file, "");
  if (!shards.is_array()) bad(file, "field 'shards' is not an array");
  const std::filesystem::path folder = std::filesystem::path(file).parent_path();
  ShardSet set;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string where = "shards[" + std::to_string(i) + "]: ";
    if (!shards[i].is_object()) bad(file, where + "not an object");
    ShardFile s;
    s.path = (folder / field<std::string>(shards[i], "name", file, where)).string();
    s.split = field<std::string>(shards[i], "split", file, where);
    s.samples = field<int64_t>(shards[i], "samples", file, where);
    if (s.samples < 0) bad(file, where + "negative sample count");
    set.shards.push_back(std::move(s));
  }
  if (j.contains("label")) {
    const auto label = field<nlohmann::json>(j, "label", file, "");
    set.label.kind = field<std::string>(label, "kind", file, "label: ");
    set.label.attribute = label.value("attribute", std::string());
    set.label.names = field<std::vector<std::string>>(label, "names", file, "label: ");
  }
  if (j.contains("attributes"))
    set.attributes = field<std::vector<std::string>>(j, "attributes", file, "");
  set.description = "manifest " + file;
  return set;
}

void count_shard_samples(ShardSet& set) {
  for (ShardFile& s : set.shards) {
    if (s.samples < 0) s.samples = count_tar_records(s.path);
  }
}

}  // namespace sluice::data

#include "stages/data/shard_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "pipeline/atomic_file.h"
#include "pipeline/file_read.h"

namespace sluice::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

nlohmann::ordered_json label_json(const LabelSpec& label) {
  return nlohmann::ordered_json{{"kind", shard_label_kind_name(label.kind)},
                                {"attribute", label.attribute},
                                {"names", label.names}};
}

[[noreturn]] void bad(const std::string& origin, const std::string& what) {
  throw std::runtime_error(origin + ": " + what);
}

// The value of `key` in `object` as T; throws naming the field.
template <class T>
T field(const json& object, const char* key, const std::string& origin, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) bad(origin, where + "missing field '" + key + "'");
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // A float (1e300) would be converted out of range, not refused.
    if (!it->is_number_integer()) {
      bad(origin, where + "field '" + key + "' is not an integer (" + it->type_name() + ")");
    }
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    bad(origin, where + "field '" + key + "' has the wrong type (" + it->type_name() + ")");
  }
}

ShardEntry parse_entry(const json& j, const std::string& origin, size_t i) {
  const std::string where = "shards[" + std::to_string(i) + "]: ";
  if (!j.is_object()) bad(origin, where + "not an object");
  ShardEntry e;
  e.name = field<std::string>(j, "name", origin, where);
  e.split = field<std::string>(j, "split", origin, where);
  e.samples = field<int64_t>(j, "samples", origin, where);
  e.bytes = field<int64_t>(j, "bytes", origin, where);
  if (j.contains("crc32")) {
    const std::string hex = field<std::string>(j, "crc32", origin, where);
    size_t used = 0;
    unsigned long value = 0;
    try {
      value = std::stoul(hex, &used, 16);
    } catch (const std::exception&) {
      used = 0;
    }
    if (hex.empty() || used != hex.size() || value > 0xffffffffUL) {
      bad(origin, where + "field 'crc32' is not 8 hex digits ('" + hex.substr(0, 20) + "')");
    }
    e.crc32 = static_cast<uint32_t>(value);
    e.has_crc32 = true;
  }
  if (e.samples < 0 || e.bytes < 0) bad(origin, where + "negative 'samples' or 'bytes'");
  if (e.name.empty() || e.name.find('/') != std::string::npos || e.name == "." || e.name == "..") {
    bad(origin, where + "name '" + e.name + "' is not a file name in the manifest's folder");
  }
  return e;
}

}  // namespace

const char* shard_label_kind_name(LabelSpec::Kind kind) {
  switch (kind) {
    case LabelSpec::Kind::kBinary:
      return "binary";
    case LabelSpec::Kind::kCategorical:
      return "categorical";
    case LabelSpec::Kind::kMultiLabel:
      return "multi_label";
    case LabelSpec::Kind::kUnknown:
      break;
  }
  return "unknown";
}

LabelSpec::Kind parse_shard_label_kind(const std::string& name) {
  if (name == "binary") return LabelSpec::Kind::kBinary;
  if (name == "categorical") return LabelSpec::Kind::kCategorical;
  if (name == "multi_label") return LabelSpec::Kind::kMultiLabel;
  if (name == "unknown") return LabelSpec::Kind::kUnknown;
  throw std::runtime_error("unknown label kind '" + name + "'");
}

std::string shard_manifest_json(const ShardManifest& m) {
  ordered_json shards = ordered_json::array();
  for (const ShardEntry& e : m.shards) {
    shards.push_back(ordered_json{{"name", e.name},
                                  {"split", e.split},
                                  {"samples", e.samples},
                                  {"bytes", e.bytes},
                                  {"crc32", hex32(e.crc32)}});
  }
  ordered_json splits = ordered_json::object();
  for (const auto& [name, t] : m.splits) {
    splits[name] = ordered_json{{"samples", t.samples}, {"shards", t.shards}};
  }
  ordered_json j = ordered_json::object();
  j["format"] = kShardManifestFormat;
  j["version"] = m.version;
  j["complete"] = m.complete;
  j["shards"] = std::move(shards);
  j["splits"] = std::move(splits);
  j["samples"] = m.samples;
  j["label"] = label_json(m.label);
  j["attributes"] = m.attributes;
  j["config"] = m.config;
  return j.dump(2) + "\n";
}

ShardManifest parse_shard_manifest(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    bad(origin, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) bad(origin, "not a JSON object");
  if (field<std::string>(j, "format", origin, "") != kShardManifestFormat) {
    bad(origin,
        std::string("not a shard manifest (format is not \"") + kShardManifestFormat + "\")");
  }
  ShardManifest m;
  m.version = field<int>(j, "version", origin, "");
  if (m.version < 1 || m.version > kShardManifestVersion) {
    bad(origin, "manifest version " + std::to_string(m.version) +
                    " is not supported (this "
                    "sluice reads versions 1 to " +
                    std::to_string(kShardManifestVersion) + ")");
  }
  m.complete = field<bool>(j, "complete", origin, "");
  const json shards = field<json>(j, "shards", origin, "");
  if (!shards.is_array()) bad(origin, "field 'shards' is not an array");
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < shards.size(); ++i) {
    m.shards.push_back(parse_entry(shards[i], origin, i));
    const auto [it, first] = seen.emplace(m.shards.back().name, i);
    if (!first) {
      bad(origin, "shards[" + std::to_string(i) + "]: '" + it->first +
                      "' is listed twice (also shards[" + std::to_string(it->second) +
                      "]): its samples would be read twice");
    }
  }
  const json splits = field<json>(j, "splits", origin, "");
  if (!splits.is_object()) bad(origin, "field 'splits' is not an object");
  for (const auto& [name, t] : splits.items()) {
    const std::string where = "splits." + name + ": ";
    m.splits[name] = SplitTotals{field<int64_t>(t, "samples", origin, where),
                                 field<int64_t>(t, "shards", origin, where)};
  }
  m.samples = field<int64_t>(j, "samples", origin, "");
  const json label = field<json>(j, "label", origin, "");
  try {
    m.label.kind = parse_shard_label_kind(field<std::string>(label, "kind", origin, "label: "));
  } catch (const std::runtime_error& e) {
    bad(origin, std::string("label: ") + e.what());
  }
  m.label.attribute = field<std::string>(label, "attribute", origin, "label: ");
  m.label.names = field<std::vector<std::string>>(label, "names", origin, "label: ");
  m.attributes = field<std::vector<std::string>>(j, "attributes", origin, "");
  m.config = field<std::string>(j, "config", origin, "");
  return m;
}

std::vector<std::string> shard_manifest_gaps(const ShardManifest& m) {
  std::vector<std::string> gaps;
  if (!m.complete) {
    gaps.push_back(
        "is not marked complete (its writer was interrupted or is still running): the set may "
        "lack shards");
  }
  std::map<std::string, SplitTotals> listed;
  int64_t total = 0;
  for (const ShardEntry& e : m.shards) {
    listed[e.split].samples += e.samples;
    ++listed[e.split].shards;
    total += e.samples;
  }
  for (const auto& [name, want] : m.splits) {
    const SplitTotals got = listed[name];
    if (got.samples != want.samples || got.shards != want.shards) {
      gaps.push_back("split '" + name + "' totals " + std::to_string(want.samples) +
                     " samples in " + std::to_string(want.shards) + " shards, the listed shards " +
                     std::to_string(got.samples) + " in " + std::to_string(got.shards));
    }
  }
  if (!m.splits.empty() && total != m.samples) {
    gaps.push_back("totals " + std::to_string(m.samples) + " samples, the listed shards " +
                   std::to_string(total));
  }
  return gaps;
}

ShardManifest read_shard_manifest(const std::string& path) {
  std::error_code ec;
  const std::string file =
      fs::is_directory(path, ec) ? (fs::path(path) / kShardManifestName).string() : path;
  return parse_shard_manifest(read_regular_file(file, kMaxIndexBytes, "shard manifest"), file);
}

void write_shard_manifest(const std::string& path, const ShardManifest& manifest,
                          const std::function<void()>& before_rename) {
  const std::string text = shard_manifest_json(manifest);
  AtomicFile file(path);  // a link planted at either name is never followed
  file.write(text);
  file.commit([&before_rename](size_t) {
    if (before_rename) before_rename();
  });
}

std::string shard_key(const std::string& sample_id, int64_t index) {
  std::string base = sample_id;
  const size_t slash = base.find_last_of('/');
  const size_t dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0 && (slash == std::string::npos || dot > slash + 1)) {
    base.resize(dot);
  }
  std::string key;
  key.reserve(base.size());
  for (const char c : base) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
    key += safe ? c : '_';
  }
  if (key.empty()) key = "sample_" + std::to_string(index);
  if (key.size() > kMaxShardKey) {
    const std::string suffix = "_" + std::to_string(index);
    key = key.substr(0, kMaxShardKey - suffix.size()) + suffix;
  }
  return key;
}

std::string shard_file_name(const std::string& prefix, int64_t number) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%06lld", static_cast<long long>(number));
  return prefix + "-" + digits + ".tar";
}

}  // namespace sluice::data

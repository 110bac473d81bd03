#include "stages/data/shard_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "pipeline/atomic_file.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::data {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSplitPlaceholder = "{split}";
constexpr int64_t kTarBlock = 512;
constexpr int64_t kEndOfArchive = 2 * kTarBlock;
constexpr size_t kMaxExtension = 10;

// A member's size in a ustar archive: its header block and its data, padded.
int64_t member_bytes(size_t size) {
  return kTarBlock + (static_cast<int64_t>(size) + kTarBlock - 1) / kTarBlock * kTarBlock;
}

// Characters kept in keys and split names in file names.
std::string safe_name(const std::string& text) {
  std::string out;
  for (const char c : text)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
  return out;
}

// "jpg" for "x/0001.JPEG"; "" without an extension.
std::string format_of_path(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  if (ext.size() < 2) return {};
  std::string format = ext.substr(1);
  std::transform(format.begin(), format.end(), format.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (format == "jpeg") format = "jpg";
  return format;
}

// "celeba-000012" -> true: the name ends in "-" and at least six digits.
bool strip_shard_number(std::string& name) {
  size_t digits = 0;
  while (digits < name.size() &&
         std::isdigit(static_cast<unsigned char>(name[name.size() - 1 - digits]))) {
    ++digits;
  }
  if (digits < 6 || digits == name.size() || name[name.size() - 1 - digits] != '-') return false;
  name.resize(name.size() - 1 - digits);
  return true;
}

bool strip_suffix(std::string& name, const std::string& suffix) {
  if (name.size() < suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  name.resize(name.size() - suffix.size());
  return true;
}

// "x.tar.tmp.Ab12Cd" (AtomicFile's temporary) or "x.tar.tmp" (an older sluice's)
// -> "x.tar".
void strip_temporary(std::string& name) {
  const size_t at = name.rfind(".tmp");
  if (at == std::string::npos) return;
  if (at + 4 == name.size() || is_atomic_temporary(name, name.substr(0, at))) name.resize(at);
}

// True when `name` is a shard (or its temporary) of the file-name pattern.
bool is_shard_file(std::string name, const std::string& pattern) {
  strip_temporary(name);
  if (!strip_suffix(name, ".tar") || !strip_shard_number(name)) return false;
  const size_t at = pattern.find(kSplitPlaceholder);
  if (at == std::string::npos) return name == pattern;
  const std::string before = pattern.substr(0, at);
  const std::string after = pattern.substr(at + std::strlen(kSplitPlaceholder));
  return name.size() >= before.size() + after.size() &&
         name.compare(0, before.size(), before) == 0 &&
         name.compare(name.size() - after.size(), after.size(), after) == 0;
}

}  // namespace

// One shard being written: a ustar archive streamed into an AtomicFile (unnamed, or
// NAME.tar.tmp.XXXXXX: a link planted at any name is never followed), with its
// byte count and CRC-32 kept as the bytes go out.
class ShardWriter::OpenShard {
 public:
  OpenShard(std::string name, const std::string& folder)
      : name_(std::move(name)), path_((fs::path(folder) / name_).string()), file_(path_) {
    archive_ = archive_write_new();
    if (!archive_ || archive_write_set_format_ustar(archive_) != ARCHIVE_OK ||
        archive_write_add_filter_none(archive_) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(archive_, 1) != ARCHIVE_OK ||
        archive_write_open2(archive_, this, nullptr, &OpenShard::write_callback, nullptr,
                            nullptr) != ARCHIVE_OK) {
      fail("cannot start the tar archive");
    }
  }

  ~OpenShard() {
    if (archive_) archive_write_free(archive_);
  }

  OpenShard(const OpenShard&) = delete;
  OpenShard& operator=(const OpenShard&) = delete;

  void add(const std::string& member, const void* data, size_t size) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, member.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(size));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, 0, 0);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    const int header = archive_write_header(archive_, entry);
    archive_entry_free(entry);
    if (header != ARCHIVE_OK) fail("cannot add " + member);
    if (size > 0 && archive_write_data(archive_, data, size) != static_cast<la_ssize_t>(size)) {
      fail("cannot write " + member);
    }
    content_bytes_ += member_bytes(size);
  }

  // Ends the archive; returns its entry (name, bytes, crc32).
  ShardEntry close_archive() {
    if (archive_write_close(archive_) != ARCHIVE_OK) fail("cannot finish the tar archive");
    archive_write_free(archive_);
    archive_ = nullptr;
    ShardEntry entry;
    entry.name = name_;
    entry.samples = samples;
    entry.bytes = written_;
    entry.crc32 = static_cast<uint32_t>(crc_);
    return entry;
  }

  // Syncs the shard and renames it to NAME.tar.
  void publish() { file_.commit(); }

  // Bytes of the archive once ended: the members so far and the end marker.
  int64_t bytes_when_closed() const { return content_bytes_ + kEndOfArchive; }

  int64_t samples = 0;
  std::set<std::string> keys;
  std::map<std::string, int64_t> split_samples;

 private:
  static la_ssize_t write_callback(archive* a, void* client, const void* buffer, size_t length) {
    auto* self = static_cast<OpenShard*>(client);
    const auto* bytes = static_cast<const uint8_t*>(buffer);
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::write(self->file_.fd(), bytes + done, length - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        archive_set_error(a, errno, "%s", std::strerror(errno));
        return -1;
      }
      done += static_cast<size_t>(n);
    }
    self->crc_ = crc32(self->crc_, bytes, static_cast<uInt>(length));
    self->written_ += static_cast<int64_t>(length);
    return static_cast<la_ssize_t>(length);
  }

  [[noreturn]] void fail(const std::string& what) {
    const char* why = archive_ ? archive_error_string(archive_) : nullptr;
    throw std::runtime_error(path_ + ": " + what + (why ? std::string(": ") + why : std::string()));
  }

  std::string name_, path_;
  AtomicFile file_;
  archive* archive_ = nullptr;
  uLong crc_ = crc32(0L, Z_NULL, 0);
  int64_t written_ = 0;
  int64_t content_bytes_ = 0;
};

std::string shard_prefix_problem(const std::string& prefix) {
  if (prefix.empty())
    return "prefix is empty; give a folder and a file-name prefix (\"shards/celeba\")";
  if (prefix.back() == '/') {
    return "prefix '" + prefix + "' ends in '/'; add a file-name prefix (\"" + prefix + "celeba\")";
  }
  const fs::path path(prefix);
  const std::string file = path.filename().string();
  if (file == "." || file == "..") return "prefix '" + prefix + "' has no file-name part";
  if (path.parent_path().string().find('{') != std::string::npos) {
    return "prefix '" + prefix +
           "': {split} may appear in the file-name part only (one manifest per folder)";
  }
  std::string rest = file;
  for (size_t at; (at = rest.find(kSplitPlaceholder)) != std::string::npos;) {
    rest.erase(at, std::strlen(kSplitPlaceholder));
  }
  if (rest.find_first_of("{}") != std::string::npos) {
    return "prefix '" + prefix + "': the only placeholder is {split}";
  }
  return {};
}

std::string shard_folder(const std::string& prefix) {
  const std::string parent = fs::path(prefix).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::vector<std::string> shard_folder_entries(const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(shard_folder(prefix), ec), end; !ec && it != end;
       it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> remove_shard_files(const std::string& prefix) {
  const std::string folder = shard_folder(prefix);
  const std::string pattern = fs::path(prefix).filename().string();
  const std::string manifest = kShardManifestName;
  std::vector<std::string> removed;
  for (const std::string& name : shard_folder_entries(prefix)) {
    std::string plain = name;
    strip_temporary(plain);
    const bool ours = plain == manifest || is_shard_file(name, pattern);
    const fs::path path = fs::path(folder) / name;
    std::error_code ec;
    // A symlink planted at one of these names goes too (the link, not its target).
    const fs::file_status st = fs::symlink_status(path, ec);
    if (!ours || !(fs::is_regular_file(st) || fs::is_symlink(st))) continue;
    if (!fs::remove(path, ec) || ec)
      throw fs::filesystem_error("overwrite: cannot remove", path, ec);
    removed.push_back(name);
  }
  return removed;
}

std::string shard_sample_json(const Sample& sample, const LabelSpec& label) {
  nlohmann::ordered_json j;
  j["id"] = sample.id;
  j["label"] = sample.label;
  nlohmann::ordered_json values = nlohmann::ordered_json::array();
  for (const int8_t v : sample.label_values) values.push_back(static_cast<int>(v));
  j["label_values"] = std::move(values);
  const bool named =
      label.kind == LabelSpec::Kind::kBinary || label.kind == LabelSpec::Kind::kCategorical;
  if (named && sample.label >= 0 && sample.label < static_cast<int64_t>(label.names.size())) {
    j["class"] = label.names[static_cast<size_t>(sample.label)];
  }
  nlohmann::ordered_json attributes = nlohmann::ordered_json::object();
  if (sample.attr_names && sample.attr_names->size() == sample.attrs.size()) {
    for (size_t i = 0; i < sample.attrs.size(); ++i) {
      attributes[(*sample.attr_names)[i]] = static_cast<int>(sample.attrs[i]);
    }
  }
  j["attributes"] = std::move(attributes);
  j["split"] = sample.split;
  j["index"] = sample.index;
  return j.dump();
}

ShardWriter::ShardWriter(ShardWriterOptions options)
    : options_(std::move(options)), folder_(shard_folder(options_.prefix)) {
  if (auto why = shard_prefix_problem(options_.prefix); !why.empty())
    throw std::invalid_argument(why);
  if (options_.max_samples < 0 || options_.max_bytes < 0 ||
      (options_.max_bytes > 0 && options_.max_bytes < kMinShardBytes)) {
    throw std::invalid_argument(
        "max_samples and max_bytes must be 0 (no limit) or positive, max_bytes at least " +
        std::to_string(kMinShardBytes));
  }
  file_pattern_ = fs::path(options_.prefix).filename().string();
  per_split_ = file_pattern_.find(kSplitPlaceholder) != std::string::npos;
  std::error_code ec;
  fs::create_directories(folder_, ec);
  if (ec) throw fs::filesystem_error("cannot create the shard folder", folder_, ec);
  manifest_.label = options_.label;
  manifest_.attributes = options_.attributes;
  manifest_.config = options_.config;
  write_manifest();  // an interrupted run still leaves a manifest (of no shards)
}

ShardWriter::~ShardWriter() = default;

std::string ShardWriter::manifest_path() const {
  return (fs::path(folder_) / kShardManifestName).string();
}

ShardWriter::Series& ShardWriter::series_for(const std::string& split) {
  const std::string key = per_split_ ? split : std::string();
  auto it = series_.find(key);
  if (it != series_.end()) return it->second;
  Series series;
  series.file_prefix = file_pattern_;
  const std::string split_name = split.empty() ? std::string("unsplit") : safe_name(split);
  for (size_t at; (at = series.file_prefix.find(kSplitPlaceholder)) != std::string::npos;) {
    series.file_prefix.replace(at, std::strlen(kSplitPlaceholder), split_name);
  }
  return series_.emplace(key, std::move(series)).first->second;
}

void ShardWriter::write(const Sample& sample) {
  const uint8_t* data = sample.encoded.get();
  size_t size = sample.encoded_size;
  std::string format = sample.encoded_format;
  std::vector<uint8_t> file;
  if (!sample.has_encoded()) {  // an index's sample: pack its file as it is
    const DecodeResult r = read_file_bytes(sample.path, file);
    if (!r.ok())
      throw std::runtime_error(sample.path + ": " + decode_status_name(r.status) + ": " +
                               r.message);
    data = file.data();
    size = file.size();
    format = format_of_path(sample.path);
  }
  // Keeps member names within ustar's 100 characters: a key of at most 80, a dot,
  // an extension of at most kMaxExtension safe characters.
  format = safe_name(format);
  if (format.empty() || format.size() > kMaxExtension) format = "bin";
  const std::string json = shard_sample_json(sample, options_.label);
  const std::string cls = std::to_string(sample.label);
  const int64_t need = member_bytes(size) + member_bytes(json.size()) + member_bytes(cls.size());

  Series& series = series_for(sample.split);
  if (series.open && options_.max_bytes > 0 && series.open->samples > 0 &&
      series.open->bytes_when_closed() + need > options_.max_bytes) {
    close_shard(series);
  }
  if (!series.open) {
    series.open = std::make_unique<OpenShard>(
        shard_file_name(series.file_prefix, series.next_number++), folder_);
  }
  OpenShard& shard = *series.open;
  std::string key = shard_key(sample.id, sample.index);
  if (!shard.keys.insert(key).second) {  // a key of this shard already: add "_INDEX"
    const std::string suffix = "_" + std::to_string(sample.index);
    key = key.substr(0, std::min(key.size(), kMaxShardKey - suffix.size())) + suffix;
    shard.keys.insert(key);
  }
  shard.add(key + "." + format, data, size);
  shard.add(key + ".json", json.data(), json.size());
  shard.add(key + ".cls", cls.data(), cls.size());
  ++shard.samples;
  ++shard.split_samples[sample.split];
  if (options_.max_samples > 0 && shard.samples >= options_.max_samples) close_shard(series);
}

void ShardWriter::close_split(const std::string& split) {
  if (!per_split_) return;
  auto it = series_.find(split);
  if (it != series_.end() && it->second.open) close_shard(it->second);
}

void ShardWriter::close_shard(Series& series) {
  std::unique_ptr<OpenShard> shard = std::move(series.open);
  ShardEntry entry = shard->close_archive();
  entry.split =
      shard->split_samples.size() == 1 ? shard->split_samples.begin()->first : std::string();
  for (const auto& [split, count] : shard->split_samples) {
    manifest_.splits[split].samples += count;
    manifest_.splits[split].shards += 1;
  }
  manifest_.samples += entry.samples;
  manifest_.shards.push_back(entry);
  write_manifest([&shard] { shard->publish(); });
}

void ShardWriter::finish(bool complete) {
  for (auto& [split, series] : series_) {
    if (series.open) close_shard(series);
  }
  manifest_.complete = complete;
  write_manifest();
}

void ShardWriter::write_manifest(const std::function<void()>& before_rename) {
  write_shard_manifest(manifest_path(), manifest_, before_rename);
}

}  // namespace sluice::data

#include "stages/data/shard_stream.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "pipeline/text_escape.h"

namespace sluice::data {

namespace {

constexpr const char* kImageExtensions[] = {"jpg", "jpeg", "png",  "bmp", "ppm",
                                            "pgm", "tif",  "tiff", "webp"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_extension(const std::string& extension) {
  const std::string e = lower(extension);
  for (const char* ext : kImageExtensions) {
    if (e == ext) return true;
  }
  return false;
}

// The record's one image member; throws when it has two, or two members of one
// extension (two labels, say): WebDataset would keep one of them silently.
const TarMember* image_member(const TarRecord& record, const std::string& shard) {
  const TarMember* image = nullptr;
  std::set<std::string> seen;
  for (const TarMember& m : record.members) {
    if (!seen.insert(lower(m.extension)).second) {
      throw ShardError(shard, m.name,
                       "sample '" + printable(record.key) + "' has two members with extension '" +
                           printable(m.extension) + "'");
    }
    if (!is_image_extension(m.extension)) continue;
    if (image != nullptr) {
      throw ShardError(shard, m.name,
                       "sample '" + printable(record.key) + "' has two images (" +
                           printable(image->name) + " and " + printable(m.name) + ")");
    }
    image = &m;
  }
  return image;
}

// The label against the schema the manifest or class_names give.
void check_label(const Sample& s, const ShardLabelSchema& schema, const std::string& shard,
                 const std::string& member) {
  const auto refuse = [&](const std::string& what) {
    throw ShardError(shard, member, "label " + what);
  };
  switch (schema.kind) {
    case LabelSpec::Kind::kBinary:
      if (s.label != 0 && s.label != 1) refuse(std::to_string(s.label) + " is not 0 or 1 (binary)");
      break;
    case LabelSpec::Kind::kCategorical:
      if (s.label < 0 || static_cast<uint64_t>(s.label) >= schema.names) {
        refuse(std::to_string(s.label) + " is not a class id of the " +
               std::to_string(schema.names) + " classes (0 to " +
               std::to_string(static_cast<int64_t>(schema.names) - 1) + ")");
      }
      break;
    case LabelSpec::Kind::kMultiLabel:
      if (s.label_values.size() != schema.names) {
        refuse("has " + std::to_string(s.label_values.size()) + " values for " +
               std::to_string(schema.names) + " attributes");
      }
      for (const int8_t v : s.label_values) {
        if (v != 0 && v != 1) refuse("value " + std::to_string(v) + " is not 0 or 1 (multi-label)");
      }
      break;
    case LabelSpec::Kind::kUnknown:
      if (s.label < 0) refuse(std::to_string(s.label) + " is negative (not a class id)");
      break;
  }
}

int64_t parse_cls(const TarMember& m, const std::string& shard) {
  std::string text = m.text();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw ShardError(shard, m.name, "not a decimal label: '" + text.substr(0, 40) + "'");
  }
  return v;
}

// An integer field: a float (1e300) is refused, not converted out of range.
int64_t integer(const nlohmann::json& v) {
  if (!v.is_number_integer())
    throw std::invalid_argument(std::string("not an integer (") + v.type_name() + ")");
  return v.get<int64_t>();
}

// A label value or attribute: -128..127, not wrapped into that range.
int8_t small_int(const nlohmann::json& v) {
  const int64_t n = integer(v);
  if (n < -128 || n > 127) throw std::out_of_range("value " + std::to_string(n) + " out of range");
  return static_cast<int8_t>(n);
}

// Fills id, label, label_values, attrs and index from KEY.json.
void apply_json(const TarMember& m, const std::string& shard, const AttributeNames& attributes,
                Sample& s, bool& has_label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(m.text());
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    if (j.contains("id")) s.id = j.at("id").get<std::string>();
    if (j.contains("index")) s.index = integer(j.at("index"));
    if (j.contains("label") && j.at("label").is_number_integer()) {
      s.label = j.at("label").get<int64_t>();
      has_label = true;
    }
    if (j.contains("label_values")) {
      for (const auto& v : j.at("label_values")) s.label_values.push_back(small_int(v));
      if (!s.label_values.empty()) has_label = true;
    }
    if (attributes && !attributes->empty()) {
      const auto& given = j.at("attributes");
      for (const std::string& name : *attributes) s.attrs.push_back(small_int(given.at(name)));
    }
  } catch (const std::exception& e) {
    // The parser quotes the bytes it stopped at: escaped, so that a stray byte
    // reaches neither the terminal nor the run's JSON profile raw.
    throw ShardError(shard, m.name, "malformed sample metadata: " + printable(e.what()));
  }
}

}  // namespace

Sample shard_record_sample(const TarRecord& record, const std::string& shard, int64_t index,
                           const std::string& split, const AttributeNames& attributes,
                           const ShardLabelSchema& schema) {
  const TarMember* image = image_member(record, shard);
  const std::string first = record.members.empty() ? record.key : record.members.front().name;
  if (image == nullptr) throw ShardError(shard, first, "sample '" + record.key + "' has no image");
  if (image->size == 0) throw ShardError(shard, image->name, "empty image member (0 bytes)");
  Sample s;
  s.index = index;
  s.split = split;
  const size_t slash = record.key.rfind('/');
  s.id = slash == std::string::npos ? record.key : record.key.substr(slash + 1);
  s.path = shard + ":" + image->name;
  s.origin = s.path;
  s.encoded = image->bytes;
  s.encoded_size = image->size;
  s.encoded_format = lower(image->extension);
  s.attr_names = attributes;
  bool has_label = false;
  if (const TarMember* json = record.find("json"))
    apply_json(*json, shard, attributes, s, has_label);
  if (const TarMember* cls = record.find("cls")) {
    s.label = parse_cls(*cls, shard);
    has_label = true;
  }
  if (!has_label) {
    throw ShardError(shard, first, "sample '" + record.key + "' has no label (.cls or .json)");
  }
  const TarMember* label = record.find("cls") ? record.find("cls") : record.find("json");
  check_label(s, schema, shard, label->name);
  return s;
}

ShardSampleStream::ShardSampleStream(std::vector<StreamShard> shards, ShardEpochPlan plan,
                                     std::string split, AttributeNames attributes,
                                     ErrorHandler on_error, ShardStreamOptions options)
    : shards_(std::move(shards)),
      plan_(std::move(plan)),
      split_(std::move(split)),
      attributes_(std::move(attributes)),
      on_error_(std::move(on_error)),
      options_(options),
      dropped_(static_cast<size_t>(plan_.stream_size()), false) {}

void ShardSampleStream::skip_emitted(int64_t emitted) {
  const auto n = std::min(static_cast<size_t>(std::max<int64_t>(emitted, 0)), plan_.emit.size());
  for (size_t k = emitted_; k < n; ++k) dropped_[static_cast<size_t>(plan_.emit[k])] = true;
  emitted_ = std::max(emitted_, n);
}

bool ShardSampleStream::next(Sample& out) {
  while (emitted_ < plan_.emit.size()) {
    const int64_t want = plan_.emit[emitted_];
    if (dropped_[static_cast<size_t>(want)]) {
      ++emitted_;
      continue;
    }
    const auto it = waiting_.find(want);
    if (it == waiting_.end()) {
      if (!read_one()) throw std::logic_error("shard stream: the plan's stream ended early");
      continue;
    }
    out = std::move(it->second);
    waiting_.erase(it);
    ++emitted_;
    return true;
  }
  return false;
}

void ShardSampleStream::open_segment() {
  const ShardSegment& seg = plan_.segments[segment_];
  const StreamShard& shard = shards_[static_cast<size_t>(seg.shard)];
  if (!reader_ || reader_shard_ != seg.shard || reader_at_ > seg.begin) {
    reader_.reset();
    TarReadOptions tar = options_.tar;
    tar.digest = seg.begin == 0;  // read whole, so its end can vouch for the file
    reader_ = std::make_unique<TarRecordReader>(shard.path, tar);
    reader_shard_ = seg.shard;
    reader_at_ = 0;
  }
  TarRecord skipped;
  for (; reader_at_ < seg.begin; ++reader_at_) {
    if (!reader_->next(skipped, false)) {
      throw ShardError(shard.path, "",
                       "ends after " + std::to_string(reader_at_) + " samples, " +
                           std::to_string(shard.samples) + " expected");
    }
  }
}

void ShardSampleStream::lose_rest_of_segment(const ShardError& e) {
  const ShardSegment& seg = plan_.segments[segment_];
  const int64_t left = (seg.end - seg.begin) - in_segment_;
  for (int64_t i = 0; i < left; ++i) dropped_[static_cast<size_t>(stream_pos_ + i)] = true;
  stream_pos_ += left;
  ++segment_;
  in_segment_ = 0;
  reader_.reset();
  reader_shard_ = -1;
  on_error_(e, left);
}

bool ShardSampleStream::read_one() {
  if (segment_ >= plan_.segments.size()) return false;
  const ShardSegment& seg = plan_.segments[segment_];
  const StreamShard& shard = shards_[static_cast<size_t>(seg.shard)];
  const int64_t pos = stream_pos_;
  const bool keep = !dropped_[static_cast<size_t>(pos)];
  TarRecord record;
  try {
    if (in_segment_ == 0) open_segment();
    if (!reader_->next(record, keep)) {
      throw ShardError(shard.path, "",
                       "ends after " + std::to_string(reader_at_) + " samples, " +
                           std::to_string(shard.samples) + " expected");
    }
  } catch (const ShardError& e) {  // the tar itself: the rest of the segment is lost
    if (!on_error_) throw;
    lose_rest_of_segment(e);
    return true;
  }
  const int64_t at = reader_at_++;
  ++stream_pos_;
  const bool shard_done = at + 1 == shard.samples;
  if (++in_segment_ == seg.end - seg.begin) {
    ++segment_;
    in_segment_ = 0;
  }
  if (keep) {
    try {
      waiting_.emplace(pos, shard_record_sample(record, shard.path, shard.first_index + at, split_,
                                                attributes_, options_.label));
    } catch (const ShardError& e) {  // one record: it alone is left out
      if (!on_error_) throw;
      dropped_[static_cast<size_t>(pos)] = true;
      on_error_(e, 1);
    }
  }
  if (shard_done && shard.from_manifest) {
    try {
      verify_shard_end(shard);
    } catch (const ShardError& e) {  // the samples read stay; the error is counted
      if (!on_error_) throw;
      on_error_(e, 0);
    }
  }
  return true;
}

// At the last record the shard should hold: nothing may follow, and a shard
// read from its first byte must have the size and crc32 its manifest recorded.
void ShardSampleStream::verify_shard_end(const StreamShard& shard) {
  TarRecord extra;
  if (reader_->next(extra, false)) {
    reader_.reset();
    reader_shard_ = -1;
    throw ShardError(shard.path, "",
                     "holds more than the " + std::to_string(shard.samples) +
                         " samples its manifest records (the rest was not read)");
  }
  uint32_t crc = 0;
  int64_t bytes = 0;
  const bool whole = reader_->whole_file_digest(crc, bytes);
  reader_.reset();
  reader_shard_ = -1;
  if (!whole) return;
  if (shard.bytes >= 0 && bytes != shard.bytes) {
    throw ShardError(shard.path, "",
                     "is " + std::to_string(bytes) + " bytes, its manifest records " +
                         std::to_string(shard.bytes));
  }
  if (shard.has_crc32 && crc != shard.crc32) {
    char text[64];
    std::snprintf(text, sizeof text, "crc32 is %08x, its manifest records %08x",
                  static_cast<unsigned>(crc), static_cast<unsigned>(shard.crc32));
    throw ShardError(shard.path, "", text);
  }
}

}  // namespace sluice::data

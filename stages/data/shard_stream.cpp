#include "stages/data/shard_stream.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::data {

namespace {

constexpr const char* kImageExtensions[] = {"jpg", "jpeg", "png",  "bmp", "ppm",
                                            "pgm", "tif",  "tiff", "webp"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const TarMember* image_member(const TarRecord& record) {
  for (const char* ext : kImageExtensions) {
    if (const TarMember* m = record.find(ext)) return m;
  }
  return nullptr;
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

// Fills id, label, label_values, attrs and index from KEY.json.
void apply_json(const TarMember& m, const std::string& shard, const AttributeNames& attributes,
                Sample& s, bool& has_label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(m.text());
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    if (j.contains("id")) s.id = j.at("id").get<std::string>();
    if (j.contains("index")) s.index = j.at("index").get<int64_t>();
    if (j.contains("label") && j.at("label").is_number_integer()) {
      s.label = j.at("label").get<int64_t>();
      has_label = true;
    }
    if (j.contains("label_values")) {
      for (const auto& v : j.at("label_values")) s.label_values.push_back(v.get<int8_t>());
      if (!s.label_values.empty()) has_label = true;
    }
    if (attributes && !attributes->empty()) {
      const auto& given = j.at("attributes");
      for (const std::string& name : *attributes) s.attrs.push_back(given.at(name).get<int8_t>());
    }
  } catch (const std::exception& e) {
    throw ShardError(shard, m.name, std::string("malformed sample metadata: ") + e.what());
  }
}

}  // namespace

Sample shard_record_sample(const TarRecord& record, const std::string& shard, int64_t index,
                           const std::string& split, const AttributeNames& attributes) {
  const TarMember* image = image_member(record);
  const std::string first = record.members.empty() ? record.key : record.members.front().name;
  if (image == nullptr) throw ShardError(shard, first, "sample '" + record.key + "' has no image");
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
  return s;
}

ShardSampleStream::ShardSampleStream(std::vector<StreamShard> shards, ShardEpochPlan plan,
                                     std::string split, AttributeNames attributes,
                                     ErrorHandler on_error)
    : shards_(std::move(shards)),
      plan_(std::move(plan)),
      split_(std::move(split)),
      attributes_(std::move(attributes)),
      on_error_(std::move(on_error)),
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
    reader_ = std::make_unique<TarRecordReader>(shard.path);
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
  if (++in_segment_ == seg.end - seg.begin) {
    ++segment_;
    in_segment_ = 0;
  }
  if (!keep) return true;
  try {
    waiting_.emplace(
        pos, shard_record_sample(record, shard.path, shard.first_index + at, split_, attributes_));
  } catch (const ShardError& e) {  // one record: it alone is left out
    if (!on_error_) throw;
    dropped_[static_cast<size_t>(pos)] = true;
    on_error_(e, 1);
  }
  return true;
}

}  // namespace sluice::data

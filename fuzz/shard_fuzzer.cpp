// Fuzz target: reading WebDataset tar shards (stages/data/tar_records.*,
// stages/data/shard_stream.*), as shard.index reads them.
//
// Feeds: the input is written to a scratch file (a plain tar, or a compressed one:
// libarchive sniffs gzip, bzip2, xz, zstd, ...) and read through the public entry
// points: count_tar_records, then TarRecordReader record by record, each record
// made a Sample under a binary, a categorical (3 classes) and a multi-label
// (2 attributes) schema, with a small member cap so that the cap is exercised.
//
// Checks: a broken shard raises ShardError, nothing else; the counting pass and
// the reading pass agree when both succeed; a Sample it makes has image bytes,
// a label the schema allows and a "SHARD:MEMBER" path; ShardError messages are
// printable (no control characters, valid UTF-8).
#include <cstdint>
#include <string>

#include "fuzz/check.h"
#include "fuzz/temp_file.h"
#include "pipeline/text_escape.h"
#include "stages/data/shard_stream.h"
#include "stages/data/tar_records.h"

namespace {

using sluice::LabelSpec;
using sluice::data::ShardError;
using sluice::data::ShardLabelSchema;
using sluice::fuzz::check;

constexpr int64_t kMemberCap = 1 << 20;

void check_message(const ShardError& e) {
  const std::string what = e.what();
  check(sluice::printable(what) == what, "ShardError message is not printable: " + what);
}

void check_sample(const sluice::data::TarRecord& r, const std::string& shard,
                  const ShardLabelSchema& schema) {
  try {
    const sluice::Sample s =
        sluice::data::shard_record_sample(r, shard, 0, "train", nullptr, schema);
    check(s.encoded != nullptr && s.encoded_size > 0, "a sample without image bytes");
    check(s.path.rfind(shard + ":", 0) == 0, "sample path not SHARD:MEMBER: " + s.path);
    switch (schema.kind) {
      case LabelSpec::Kind::kBinary:
        check(s.label == 0 || s.label == 1, "binary label " + std::to_string(s.label));
        break;
      case LabelSpec::Kind::kCategorical:
        check(s.label >= 0 && static_cast<size_t>(s.label) < schema.names,
              "categorical label " + std::to_string(s.label));
        break;
      case LabelSpec::Kind::kMultiLabel:
        check(s.label_values.size() == schema.names, "multi-label values of the wrong count");
        break;
      default:
        check(s.label >= 0, "negative label");
    }
  } catch (const ShardError& e) {
    check_message(e);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string shard = sluice::fuzz::scratch().write("shard.tar", data, size);
  sluice::data::TarReadOptions options;
  options.max_member_bytes = kMemberCap;
  int64_t counted = -1;
  try {
    counted = sluice::data::count_tar_records(shard, options);
  } catch (const ShardError& e) {
    check_message(e);
  }
  int64_t read = 0;
  try {
    options.digest = true;
    sluice::data::TarRecordReader reader(shard, options);
    sluice::data::TarRecord r;
    while (reader.next(r)) {
      ++read;
      for (const auto& m : r.members) {
        check(m.size <= static_cast<size_t>(kMemberCap), "a member above the cap was read");
      }
      check_sample(r, shard, {LabelSpec::Kind::kBinary, 2});
      check_sample(r, shard, {LabelSpec::Kind::kCategorical, 3});
      check_sample(r, shard, {LabelSpec::Kind::kMultiLabel, 2});
      check_sample(r, shard, {});
    }
    uint32_t crc = 0;
    int64_t bytes = 0;
    if (reader.whole_file_digest(crc, bytes)) {
      check(bytes == static_cast<int64_t>(size),
            "digest of " + std::to_string(bytes) + " bytes for a file of " + std::to_string(size));
    }
    if (counted >= 0) {
      check(read == counted,
            "read " + std::to_string(read) + " records, counted " + std::to_string(counted));
    }
  } catch (const ShardError& e) {
    check_message(e);
  }
  return 0;
}

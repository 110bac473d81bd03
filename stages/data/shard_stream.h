// The Samples of one split in one epoch, read from tar shards in the order a
// ShardEpochPlan gives (shard_plan.h). Records stream in segment by segment;
// the ones read ahead of their turn wait in memory (at most the shuffle
// buffer's size), so memory stays bounded whatever the shard size.
//
// Each record becomes a Sample: `encoded` holds its image member (jpg, jpeg,
// png, ...), `path` and `origin` read "SHARD.tar:MEMBER"; id, label,
// label_values, attributes and index come from KEY.json when present, the
// label from KEY.cls otherwise (id: the key, index: the record's position
// among all listed shards).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stages/data/shard_plan.h"
#include "stages/data/shard_set.h"
#include "stages/data/tar_records.h"
#include "vision/payloads.h"

namespace sluice::data {

// One shard of a split as the stream reads it.
struct StreamShard {
  std::string path;
  int64_t samples = 0;
  int64_t first_index = 0;     // Sample::index of its first record when .json has none
  bool from_manifest = false;  // samples, bytes and crc32 are a manifest's record
  int64_t bytes = -1;          // recorded file size; -1: not known
  bool has_crc32 = false;      // recorded crc32 of the whole file
  uint32_t crc32 = 0;
};

// The labels a record may carry: binary 0 or 1, categorical 0..classes-1,
// multi-label one 0/1 value per attribute; unknown: any id from 0 up.
struct ShardLabelSchema {
  LabelSpec::Kind kind = LabelSpec::Kind::kUnknown;
  size_t names = 0;  // classes (categorical) or attributes (multi-label)
};

struct ShardStreamOptions {
  TarReadOptions tar;
  ShardLabelSchema label;
};

// Builds a Sample from a record; throws ShardError naming shard and member
// when the record has no image or no label, an empty image, two images or two
// members of one extension, a label outside `schema`, or a malformed .json/.cls.
Sample shard_record_sample(const TarRecord& record, const std::string& shard, int64_t index,
                           const std::string& split, const AttributeNames& attributes,
                           const ShardLabelSchema& schema = {});

class ShardSampleStream {
 public:
  // `on_error`: called with a ShardError under the skip policy (the record, or
  // the rest of the shard when the tar itself is broken, is left out); null:
  // the error is thrown.
  using ErrorHandler = std::function<void(const ShardError&, int64_t samples_lost)>;

  // A shard read whole is checked against its record when the stream reaches
  // its end: no more records than `samples`, and the recorded size and crc32.
  ShardSampleStream(std::vector<StreamShard> shards, ShardEpochPlan plan, std::string split,
                    AttributeNames attributes, ErrorHandler on_error,
                    ShardStreamOptions options = {});

  // Skips the first `emitted` samples of the plan without decoding them (resume).
  void skip_emitted(int64_t emitted);
  // The next Sample in plan order; false when the plan is done.
  bool next(Sample& out);

 private:
  bool read_one();  // reads the next stream position into waiting_ (or marks it lost)
  void open_segment();
  void lose_rest_of_segment(const ShardError& e);
  void verify_shard_end(const StreamShard& shard);

  std::vector<StreamShard> shards_;
  ShardEpochPlan plan_;
  std::string split_;
  AttributeNames attributes_;
  ErrorHandler on_error_;
  ShardStreamOptions options_;
  size_t emitted_ = 0;
  std::vector<bool> dropped_;  // stream positions not to emit (resume, lost)
  std::map<int64_t, Sample> waiting_;
  int64_t stream_pos_ = 0;  // next stream position to read
  size_t segment_ = 0;
  int64_t in_segment_ = 0;  // records of the segment read so far
  std::unique_ptr<TarRecordReader> reader_;
  int64_t reader_shard_ = -1;
  int64_t reader_at_ = 0;  // record position of reader_ in its shard
};

}  // namespace sluice::data

// WebDataset records read from one tar shard, streamed: libarchive reads the
// file sequentially in kTarBlockBytes blocks, so a shard is never loaded whole
// and a shard on a network file system is read as a stream.
//
// WebDataset groups consecutive members into one record by their key: the
// member's path up to the first dot of its file name ("a/000001.jpg" and
// "a/000001.json" are record "a/000001", extensions "jpg" and "json").
// Directories and other non-file entries are passed over. A compressed tar
// (.tar.gz, .tar.zst, ...) is decompressed as it streams.
#pragma once

#include <archive.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sluice::data {

inline constexpr size_t kTarBlockBytes = 1 << 20;

// A shard that cannot be read: names the shard and the member where reading stopped.
class ShardError : public std::runtime_error {
 public:
  ShardError(const std::string& shard, const std::string& member, const std::string& message);
  const std::string& shard() const { return shard_; }
  const std::string& member() const { return member_; }

 private:
  std::string shard_;
  std::string member_;
};

struct TarMember {
  std::string name;       // the member's path in the archive
  std::string extension;  // after the first dot of the file name: "jpg", "seg.png"
  std::shared_ptr<uint8_t[]> bytes;
  size_t size = 0;
  std::string text() const { return std::string(reinterpret_cast<const char*>(bytes.get()), size); }
};

struct TarRecord {
  std::string key;
  std::vector<TarMember> members;  // in archive order
  // The member with this extension (case-insensitive), or null.
  const TarMember* find(const std::string& extension) const;
};

// Splits a member path into its WebDataset key and extension ("" when no dot).
std::pair<std::string, std::string> tar_key(const std::string& member);

class TarRecordReader {
 public:
  explicit TarRecordReader(std::string shard);
  ~TarRecordReader();
  TarRecordReader(const TarRecordReader&) = delete;
  TarRecordReader& operator=(const TarRecordReader&) = delete;

  // The next record; false at the end of the archive. `with_data` false skips
  // the members' bytes (a record that is counted or passed over). Throws
  // ShardError on a truncated or corrupt archive.
  bool next(TarRecord& record, bool with_data = true);
  const std::string& shard() const { return shard_; }

 private:
  bool next_header();  // false at the end
  void read_member(TarMember& m, bool with_data);
  [[noreturn]] void fail(const std::string& member, const std::string& what) const;

  std::string shard_;
  archive* archive_ = nullptr;
  int fd_ = -1;                     // the shard, opened as pipeline/file_read.h opens every input
  archive_entry* entry_ = nullptr;  // the header read ahead, not yet consumed
  bool pending_ = false;
  bool done_ = false;
};

// The number of records in `shard`, reading headers only (data is skipped).
int64_t count_tar_records(const std::string& shard);

}  // namespace sluice::data

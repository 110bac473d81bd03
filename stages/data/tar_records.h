// WebDataset records read from one tar shard, streamed: libarchive reads the
// file sequentially in kTarBlockBytes blocks, so a shard is never loaded whole
// and a shard on a network file system is read as a stream.
//
// WebDataset groups consecutive members into one record by their key: the
// member's path up to the first dot of its file name ("a/000001.jpg" and
// "a/000001.json" are record "a/000001", extensions "jpg" and "json").
// Directories and other non-file entries are passed over. A compressed tar
// (.tar.gz, .tar.zst, ...) is decompressed as it streams, within bounds: a
// member is at most TarReadOptions::max_member_bytes, and the bytes a compressed
// shard expands to at most kMaxExpansionRatio times the compressed bytes read
// (plus kExpansionAllowance), so a small file cannot unpack to gigabytes.
//
// The raw bytes read are summed into a crc32 as they stream: when a reader has
// read its file from the first byte to the last, verified_crc32() is the whole
// file's, to compare with a manifest's record.
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
inline constexpr int64_t kDefaultMaxMemberBytes = int64_t{64} << 20;
inline constexpr int64_t kMaxMemberBytesLimit = int64_t{2} << 30;
inline constexpr int64_t kMaxExpansionRatio = 100;
inline constexpr int64_t kExpansionAllowance = int64_t{64} << 20;

struct TarReadOptions {
  // A member larger than this is refused (shard.index's max_member_bytes).
  int64_t max_member_bytes = kDefaultMaxMemberBytes;
  // Read skipped data instead of seeking over it, so that whole_file_digest()
  // can vouch for every byte (the reader of a whole shard); false: seek.
  bool digest = false;
};

// A shard that cannot be read: names the shard and the member where reading
// stopped. what() is printable() (member names and quoted bytes come from the file).
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
  explicit TarRecordReader(std::string shard, TarReadOptions options = {});
  ~TarRecordReader();
  TarRecordReader(const TarRecordReader&) = delete;
  TarRecordReader& operator=(const TarRecordReader&) = delete;

  // The next record; false at the end of the archive. `with_data` false skips
  // the members' bytes (a record that is counted or passed over). Throws
  // ShardError on a truncated or corrupt archive.
  bool next(TarRecord& record, bool with_data = true);
  const std::string& shard() const { return shard_; }
  // Drains the file after the end of the archive; true (and `crc`, `bytes` set)
  // when every byte of it passed through the reader, so that they are the file's.
  bool whole_file_digest(uint32_t& crc, int64_t& bytes);

  struct Io;  // the file, its crc32 and offset (libarchive's callbacks)

 private:
  bool next_header();  // false at the end
  void read_member(TarMember& m, bool with_data);
  [[noreturn]] void fail(const std::string& member, const std::string& what) const;
  void check_expansion(const std::string& member) const;

  std::string shard_;
  TarReadOptions options_;
  std::unique_ptr<Io> io_;
  archive* archive_ = nullptr;
  archive_entry* entry_ = nullptr;  // the header read ahead, not yet consumed
  bool pending_ = false;
  bool done_ = false;
};

// The number of records in `shard`, reading headers only (data is skipped).
int64_t count_tar_records(const std::string& shard, TarReadOptions options = {});

}  // namespace sluice::data

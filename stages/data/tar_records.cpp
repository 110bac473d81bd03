#include "stages/data/tar_records.h"

#include <archive_entry.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>

#include "pipeline/file_read.h"
#include "pipeline/text_escape.h"

namespace sluice::data {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// The shard's file as libarchive reads it: each block read is summed into the
// crc32; a skip reads through the data too while digesting, and seeks otherwise.
struct TarRecordReader::Io {
  int fd = -1;
  bool digest = false;
  bool seeked = false;  // bytes went by unread: the crc is not the file's
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t offset = 0;  // raw bytes consumed from the file
  int64_t size = 0;    // the file's, when opened
  std::vector<unsigned char> buffer = std::vector<unsigned char>(kTarBlockBytes);

  ~Io() {
    if (fd >= 0) ::close(fd);
  }
  la_ssize_t read_block() {
    while (true) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        crc = crc32(crc, buffer.data(), static_cast<uInt>(n));
        offset += n;
      }
      return n;
    }
  }
  static la_ssize_t read(archive* a, void* self, const void** block) {
    Io& io = *static_cast<Io*>(self);
    const la_ssize_t n = io.read_block();
    if (n < 0) archive_set_error(a, errno, "read error: %s", std::strerror(errno));
    *block = io.buffer.data();
    return n;
  }
  static la_int64_t skip(archive*, void* self, la_int64_t request) {
    Io& io = *static_cast<Io*>(self);
    if (io.digest || request <= 0) return 0;  // libarchive reads through instead
    // Never past the end: a truncated member must read short, not seek into nothing.
    const off_t at = ::lseek(io.fd, 0, SEEK_CUR);
    if (at < 0 || at >= io.size) return 0;
    request = std::min<la_int64_t>(request, io.size - at);
    if (::lseek(io.fd, request, SEEK_CUR) < 0) return 0;
    io.offset += request;
    io.seeked = true;
    return request;
  }
};

ShardError::ShardError(const std::string& shard, const std::string& member,
                       const std::string& message)
    : std::runtime_error(
          printable(shard + (member.empty() ? "" : ": member " + member) + ": " + message)),
      shard_(shard),
      member_(member) {}

const TarMember* TarRecord::find(const std::string& extension) const {
  const std::string want = lower(extension);
  for (const TarMember& m : members) {
    if (lower(m.extension) == want) return &m;
  }
  return nullptr;
}

std::pair<std::string, std::string> tar_key(const std::string& member) {
  const size_t slash = member.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = member.find('.', base);
  if (dot == std::string::npos) return {member, ""};
  return {member.substr(0, dot), member.substr(dot + 1)};
}

TarRecordReader::TarRecordReader(std::string shard, TarReadOptions options)
    : shard_(std::move(shard)), options_(options), io_(std::make_unique<Io>()) {
  io_->digest = options_.digest;
  // A FIFO or a device in a shard's place is refused, not waited on or read forever.
  FileReadResult opened;
  uint64_t size = 0;
  io_->fd = open_regular_file(shard_, std::numeric_limits<uint64_t>::max(), "shard", opened, size);
  if (io_->fd < 0) throw ShardError(shard_, "", "cannot open: " + opened.reason);
  io_->size = static_cast<int64_t>(size);
  archive_ = archive_read_new();
  if (archive_ == nullptr) throw ShardError(shard_, "", "cannot allocate an archive reader");
  archive_read_support_format_tar(archive_);
  archive_read_support_format_gnutar(archive_);
  archive_read_support_filter_all(archive_);  // .tar.gz and the like stream too
  archive_read_set_callback_data(archive_, io_.get());
  archive_read_set_read_callback(archive_, &Io::read);
  archive_read_set_skip_callback(archive_, &Io::skip);
  if (archive_read_open1(archive_) != ARCHIVE_OK) {
    const std::string why = archive_error_string(archive_) ? archive_error_string(archive_) : "";
    archive_read_free(archive_);
    archive_ = nullptr;
    throw ShardError(shard_, "", "cannot open: " + why);
  }
}

TarRecordReader::~TarRecordReader() {
  if (archive_ != nullptr) archive_read_free(archive_);
}

void TarRecordReader::fail(const std::string& member, const std::string& what) const {
  const char* why = archive_error_string(archive_);
  throw ShardError(shard_, member, what + (why != nullptr ? std::string(": ") + why : ""));
}

// A compressed shard that expands far beyond its size is a decompression bomb,
// not a dataset: refused before the expanded bytes fill memory.
void TarRecordReader::check_expansion(const std::string& member) const {
  const int64_t expanded = archive_filter_bytes(archive_, 0);
  const int64_t cap = io_->offset * kMaxExpansionRatio + kExpansionAllowance;
  if (expanded > cap) {
    throw ShardError(shard_, member,
                     "decompresses to more than " + std::to_string(kMaxExpansionRatio) +
                         " times its size (" + std::to_string(expanded) + " bytes from " +
                         std::to_string(io_->offset) + "): refused as a decompression bomb");
  }
}

bool TarRecordReader::next_header() {
  while (true) {
    const int r = archive_read_next_header(archive_, &entry_);
    if (r == ARCHIVE_EOF) return false;
    if (r < ARCHIVE_WARN) fail("", "truncated or corrupt archive (reading a member header)");
    check_expansion("");
    if (archive_entry_filetype(entry_) == AE_IFREG) return true;
  }
}

bool TarRecordReader::whole_file_digest(uint32_t& crc, int64_t& bytes) {
  if (!io_->digest || io_->seeked) return false;
  while (true) {
    const la_ssize_t n = io_->read_block();
    if (n < 0) return false;
    if (n == 0) break;
  }
  crc = static_cast<uint32_t>(io_->crc);
  bytes = io_->offset;
  return true;
}

void TarRecordReader::read_member(TarMember& m, bool with_data) {
  m.name = archive_entry_pathname(entry_) ? archive_entry_pathname(entry_) : "";
  m.extension = tar_key(m.name).second;
  const int64_t size = archive_entry_size(entry_);
  if (size < 0) fail(m.name, "member size out of range");
  if (size > options_.max_member_bytes) {
    throw ShardError(shard_, m.name,
                     "member of " + std::to_string(size) +
                         " bytes is larger than max_member_bytes (" +
                         std::to_string(options_.max_member_bytes) + ")");
  }
  if (!with_data) {
    if (archive_read_data_skip(archive_) < ARCHIVE_WARN) fail(m.name, "truncated member");
    check_expansion(m.name);
    return;
  }
  m.size = static_cast<size_t>(size);
  m.bytes.reset(new uint8_t[std::max<size_t>(m.size, 1)]);
  size_t got = 0;
  while (got < m.size) {
    const la_ssize_t n = archive_read_data(archive_, m.bytes.get() + got, m.size - got);
    if (n < 0) fail(m.name, "truncated or corrupt member data");
    if (n == 0) break;
    got += static_cast<size_t>(n);
    check_expansion(m.name);
  }
  if (got != m.size) {
    throw ShardError(
        shard_, m.name,
        "truncated member: " + std::to_string(got) + " of " + std::to_string(m.size) + " bytes");
  }
}

bool TarRecordReader::next(TarRecord& record, bool with_data) {
  record.key.clear();
  record.members.clear();
  if (done_) return false;
  if (!pending_ && !next_header()) {
    done_ = true;
    return false;
  }
  pending_ = false;
  record.key = tar_key(archive_entry_pathname(entry_) ? archive_entry_pathname(entry_) : "").first;
  while (true) {
    record.members.emplace_back();
    read_member(record.members.back(), with_data);
    if (!next_header()) {
      done_ = true;
      return true;
    }
    const char* name = archive_entry_pathname(entry_);
    if (tar_key(name ? name : "").first != record.key) {
      pending_ = true;
      return true;
    }
  }
}

int64_t count_tar_records(const std::string& shard, TarReadOptions options) {
  TarRecordReader reader(shard, options);
  TarRecord record;
  int64_t n = 0;
  while (reader.next(record, false)) ++n;
  return n;
}

}  // namespace sluice::data

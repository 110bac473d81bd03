#include "stages/data/tar_records.h"

#include <archive_entry.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <limits>

#include "pipeline/file_read.h"

namespace sluice::data {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Members larger than this are refused: a corrupt size field must not make the
// reader allocate without bound.
constexpr int64_t kMaxMemberBytes = int64_t{1} << 31;

}  // namespace

ShardError::ShardError(const std::string& shard, const std::string& member,
                       const std::string& message)
    : std::runtime_error(shard + (member.empty() ? "" : ": member " + member) + ": " + message),
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

TarRecordReader::TarRecordReader(std::string shard) : shard_(std::move(shard)) {
  archive_ = archive_read_new();
  if (archive_ == nullptr) throw ShardError(shard_, "", "cannot allocate an archive reader");
  archive_read_support_format_tar(archive_);
  archive_read_support_format_gnutar(archive_);
  archive_read_support_filter_all(archive_);  // .tar.gz and the like stream too
  // A FIFO or a device in a shard's place is refused, not waited on or read forever.
  FileReadResult opened;
  uint64_t size = 0;
  fd_ = open_regular_file(shard_, std::numeric_limits<uint64_t>::max(), "shard", opened, size);
  if (fd_ < 0 || archive_read_open_fd(archive_, fd_, kTarBlockBytes) != ARCHIVE_OK) {
    const std::string why = fd_ < 0                          ? opened.reason
                            : archive_error_string(archive_) ? archive_error_string(archive_)
                                                             : "";
    archive_read_free(archive_);
    archive_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    throw ShardError(shard_, "", "cannot open: " + why);
  }
}

TarRecordReader::~TarRecordReader() {
  if (archive_ != nullptr) archive_read_free(archive_);
  if (fd_ >= 0) ::close(fd_);
}

void TarRecordReader::fail(const std::string& member, const std::string& what) const {
  const char* why = archive_error_string(archive_);
  throw ShardError(shard_, member, what + (why != nullptr ? std::string(": ") + why : ""));
}

bool TarRecordReader::next_header() {
  while (true) {
    const int r = archive_read_next_header(archive_, &entry_);
    if (r == ARCHIVE_EOF) return false;
    if (r < ARCHIVE_WARN) fail("", "truncated or corrupt archive (reading a member header)");
    if (archive_entry_filetype(entry_) == AE_IFREG) return true;
  }
}

void TarRecordReader::read_member(TarMember& m, bool with_data) {
  m.name = archive_entry_pathname(entry_) ? archive_entry_pathname(entry_) : "";
  m.extension = tar_key(m.name).second;
  const int64_t size = archive_entry_size(entry_);
  if (!with_data) {
    if (archive_read_data_skip(archive_) < ARCHIVE_WARN) fail(m.name, "truncated member");
    return;
  }
  if (size < 0 || size > kMaxMemberBytes) fail(m.name, "member size out of range");
  m.size = static_cast<size_t>(size);
  m.bytes.reset(new uint8_t[std::max<size_t>(m.size, 1)]);
  size_t got = 0;
  while (got < m.size) {
    const la_ssize_t n = archive_read_data(archive_, m.bytes.get() + got, m.size - got);
    if (n < 0) fail(m.name, "truncated or corrupt member data");
    if (n == 0) break;
    got += static_cast<size_t>(n);
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

int64_t count_tar_records(const std::string& shard) {
  TarRecordReader reader(shard);
  TarRecord record;
  int64_t n = 0;
  while (reader.next(record, false)) ++n;
  return n;
}

}  // namespace sluice::data

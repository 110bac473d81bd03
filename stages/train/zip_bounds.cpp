#include "stages/train/zip_bounds.h"

#include <stdexcept>

#include "pipeline/text_escape.h"

namespace sluice::train {
namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr size_t kEndSize = 22;
constexpr size_t kEntrySize = 46;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Directory {
  uint64_t offset = 0, size = 0, entries = 0;
};

// The central directory's place, from the end record (and its zip64 form);
// false when there is none.
bool find_directory(const unsigned char* d, size_t size, Directory& dir) {
  if (size < kEndSize) return false;
  const size_t lowest = size > kEndSize + 0xffff ? size - kEndSize - 0xffff : 0;
  for (size_t at = size - kEndSize + 1; at-- > lowest;) {
    if (le(d + at, 4) != kEndOfDirectory) continue;
    dir = {le(d + at + 16, 4), le(d + at + 12, 4), le(d + at + 10, 2)};
    if (at >= 20 && le(d + at - 20, 4) == kZip64Locator) {
      const uint64_t end64 = le(d + at - 20 + 8, 8);
      if (end64 <= size && size - end64 >= 56 && le(d + end64, 4) == kZip64End) {
        dir = {le(d + end64 + 48, 8), le(d + end64 + 40, 8), le(d + end64 + 32, 8)};
      }
    }
    return dir.offset <= size && dir.size <= size - dir.offset;
  }
  return false;
}

// The zip64 extra field's sizes, for those the entry marks 0xffffffff.
void zip64_sizes(const unsigned char* extra, size_t length, uint64_t& uncompressed,
                 uint64_t& compressed) {
  size_t at = 0;
  while (at + 4 <= length) {
    const uint64_t id = le(extra + at, 2), n = le(extra + at + 2, 2);
    if (at + 4 + n > length) return;
    if (id == 1) {
      size_t k = at + 4;
      if (uncompressed == 0xffffffff && k + 8 <= at + 4 + n)
        uncompressed = le(extra + k, 8), k += 8;
      if (compressed == 0xffffffff && k + 8 <= at + 4 + n) compressed = le(extra + k, 8);
      return;
    }
    at += 4 + n;
  }
}

[[noreturn]] void refuse(const std::string& name, const std::string& what) {
  throw std::runtime_error("zip record " + printable(name) + " " + what +
                           ": refused as a decompression bomb");
}

}  // namespace

void check_zip_bounds(const char* data, size_t size, uint64_t max_total) {
  const auto* d = reinterpret_cast<const unsigned char*>(data);
  Directory dir;
  if (!find_directory(d, size, dir)) return;
  uint64_t total = 0;
  size_t at = dir.offset;
  const size_t end = dir.offset + dir.size;
  while (at + kEntrySize <= end && le(d + at, 4) == kDirectoryEntry) {
    const uint64_t method = le(d + at + 10, 2);
    uint64_t compressed = le(d + at + 20, 4), uncompressed = le(d + at + 24, 4);
    const size_t name_length = le(d + at + 28, 2), extra_length = le(d + at + 30, 2),
                 comment_length = le(d + at + 32, 2);
    if (at + kEntrySize + name_length + extra_length > end) return;
    const std::string name(data + at + kEntrySize, name_length);
    zip64_sizes(d + at + kEntrySize + name_length, extra_length, uncompressed, compressed);
    if (method == 0 && uncompressed != compressed) {
      refuse(name, "is stored but declares " + std::to_string(uncompressed) + " bytes in " +
                       std::to_string(compressed));
    }
    if (uncompressed > compressed * kMaxZipExpansion + kZipExpansionAllowance) {
      refuse(name, "declares " + std::to_string(uncompressed) + " bytes from " +
                       std::to_string(compressed) + " compressed (more than " +
                       std::to_string(kMaxZipExpansion) + " times)");
    }
    total += uncompressed;
    if (total > max_total) {
      refuse(name, "brings the records to " + std::to_string(total) + " bytes, more than " +
                       std::to_string(max_total));
    }
    at += kEntrySize + name_length + extra_length + comment_length;
  }
}

}  // namespace sluice::train

// The store behind image.cache: decoded images by key, in memory within a byte
// budget and, optionally, in a folder on disk within its own byte budget. When
// the memory budget is full, new images are either not kept (kKeep) or the
// least recently used entries make room (kEvictLru); a full disk folder
// refuses new entries.
//
// get() looks a key up in memory, then on disk; on a miss it calls the
// producer (decode, resize), stores what it made and returns it. Two threads
// asking for the same missing key at once produce it once: the second waits
// for the first. Disk entries are written to a temporary file and renamed, so
// a reader (this process or another) sees a whole entry or none, and a link
// planted in the folder is never written through (pipeline/atomic_file.h). Each
// file holds its key, sizes and a CRC-32; an entry whose size, shape or checksum
// does not match, or that is not a regular file (a FIFO, a link), is a miss with
// a warning: it is removed and written again.
//
//   ImageCache cache({64 << 20, WhenFull::kKeep, "cache/", 1LL << 30, fingerprint}, counters);
//   CachedImage img;
//   cache.get(key, [&](CachedImage& out) { return decode(path, out); }, img);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "pipeline/stage.h"
#include "vision/payloads.h"

namespace sluice::data {

// One cached image: 8-bit interleaved pixels, as Image holds them.
struct CachedImage {
  int width = 0;
  int height = 0;
  int channels = 0;
  ByteBuffer pixels;  // shared with every Image emitted from it
  size_t bytes() const { return static_cast<size_t>(width) * height * channels; }
};

// What the memory tier does with a new image that does not fit.
enum class WhenFull {
  kKeep,      // keep what it holds, do not keep the new image
  kEvictLru,  // evict the least recently used entries until it fits
};

struct ImageCacheOptions {
  int64_t memory_budget = 0;  // bytes the memory tier may hold; 0: no memory tier
  WhenFull when_full = WhenFull::kKeep;
  std::string dir;          // folder of the disk tier; empty: none
  int64_t disk_budget = 0;  // bytes of entries the disk tier may hold
  // Identifies what produced the entries (the stage's parameters that change
  // pixels); disk entries live in DIR/<fingerprint as 16 hex digits>/.
  uint64_t fingerprint = 0;
};

// Where get() reports; every pointer must be valid while the cache lives.
struct ImageCacheCounters {
  Counter* hits;          // served from memory or disk (no producer call)
  Counter* disk_hits;     // of which read from the disk tier
  Counter* misses;        // the producer ran
  Counter* evictions;     // memory entries dropped for newer ones
  Counter* bytes_held;    // memory tier: bytes now held (goes down on eviction)
  Counter* too_large;     // images larger than the memory budget, not kept
  Counter* full;          // images not kept: the budget was full (WhenFull::kKeep)
  Counter* disk_writes;   // entries written to the disk tier
  Counter* disk_refused;  // entries not written: the disk budget was reached
  Counter* disk_bad;      // disk entries ignored: unreadable, truncated, another key
};

class ImageCache {
 public:
  // Charge per memory entry on top of its pixels: the key, list and map nodes.
  static constexpr int64_t kEntryOverhead = 192;

  // Creates the disk tier's folder and sums the entries already there.
  // Throws std::runtime_error naming the folder when it cannot be created.
  ImageCache(ImageCacheOptions options, ImageCacheCounters counters);
  ~ImageCache();

  // Fills `out` for `key`, from memory, disk or `produce` (false: nothing was
  // made, e.g. a corrupt file: nothing is stored and get() returns false).
  // An exception of `produce` propagates; threads waiting on it then try
  // themselves.
  using Producer = std::function<bool(CachedImage& out)>;
  bool get(const std::string& key, const Producer& produce, CachedImage& out);

  // The disk tier's folder for this fingerprint (empty without a disk tier).
  const std::string& disk_folder() const { return folder_; }
  int64_t disk_bytes() const { return disk_held_; }
  int64_t memory_bytes() const;

 private:
  struct Entry {
    std::string key;
    CachedImage image;
    int64_t charge = 0;
  };
  struct Pending;

  bool find_in_memory(const std::string& key, CachedImage& out);
  void keep_in_memory(const std::string& key, const CachedImage& image);
  bool read_disk(const std::string& key, CachedImage& out);
  bool drop_disk_entry(const std::string& path, const std::string& why);
  void write_disk(const std::string& key, const CachedImage& image);
  std::string disk_path(const std::string& key) const;
  bool produce_and_store(const std::string& key, const Producer& produce, CachedImage& out);

  ImageCacheOptions options_;
  ImageCacheCounters counters_;
  std::string folder_;
  std::atomic<int64_t> disk_held_{0};
  std::atomic<int> bad_warnings_{0};
  static constexpr int kMaxBadWarnings = 10;  // warnings about bad entries, then only counts

  mutable std::mutex mutex_;  // guards everything below
  std::list<Entry> lru_;      // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::unordered_map<std::string, std::shared_ptr<Pending>> pending_;
  int64_t held_ = 0;
};

// FNV-1a, 64 bits: the fingerprint and the disk file names.
uint64_t fnv1a64(const std::string& text, uint64_t hash = 14695981039346656037ULL);

}  // namespace sluice::data

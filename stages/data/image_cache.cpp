#include "stages/data/image_cache.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/atomic_file.h"
#include "pipeline/file_read.h"

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

// Entries of SLCACHE1 (no checksum) fail the magic check and are written again.
constexpr char kMagic[8] = {'S', 'L', 'C', 'A', 'C', 'H', 'E', '2'};
constexpr const char* kSuffix = ".px";
constexpr uint32_t kMaxKey = 1 << 16;
constexpr uint32_t kMaxSide = 65535;
// The largest entry read: far above any decoded training image (16k x 16k RGB is
// 768 MiB), so a forged or runaway file fails before memory is committed to it.
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 30;

std::string hex16(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

// An entry: this header, the key, then width x height x channels pixel bytes; the
// checksum is the CRC-32 of the sizes, the key and the pixels.
struct DiskHeader {
  char magic[8];
  uint32_t width, height, channels, key_size, checksum;
};

}  // namespace

uint64_t fnv1a64(const std::string& text, uint64_t hash) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

// A key being produced by one thread; others asking for it wait here.
struct ImageCache::Pending {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  bool ok = false;
  CachedImage image;
};

ImageCache::ImageCache(ImageCacheOptions options, ImageCacheCounters counters)
    : options_(std::move(options)), counters_(counters) {
  if (options_.dir.empty()) return;
  folder_ = (fs::path(options_.dir) / hex16(options_.fingerprint)).string();
  std::error_code ec;
  fs::create_directories(folder_, ec);
  if (ec)
    throw std::runtime_error("cannot create the cache folder " + folder_ + ": " + ec.message());
  // sluice makes this folder: a symlink in its place was put there by someone else.
  if (fs::is_symlink(fs::symlink_status(folder_, ec))) {
    throw std::runtime_error("the cache folder " + folder_ +
                             " is a symbolic link; refusing to write through it (remove it)");
  }
  int64_t held = 0;
  for (const auto& e : fs::directory_iterator(folder_, ec)) {
    if (e.path().extension() == kSuffix && e.symlink_status(ec).type() == fs::file_type::regular) {
      held += static_cast<int64_t>(e.file_size(ec));
    }
  }
  disk_held_ = held;
}

ImageCache::~ImageCache() = default;

int64_t ImageCache::memory_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_;
}

bool ImageCache::get(const std::string& key, const Producer& produce, CachedImage& out) {
  std::shared_ptr<Pending> wait_for;
  std::shared_ptr<Pending> mine;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      out = it->second->image;
      counters_.hits->add();
      return true;
    }
    auto [it, inserted] = pending_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Pending>();
      mine = it->second;
    } else {
      wait_for = it->second;
    }
  }
  if (wait_for) {
    std::unique_lock<std::mutex> lock(wait_for->mutex);
    wait_for->done_cv.wait(lock, [&] { return wait_for->done; });
    if (wait_for->ok) {
      out = wait_for->image;
      counters_.hits->add();
      return true;
    }
    lock.unlock();
    return produce_and_store(key, produce, out);  // the first try failed: try here too
  }
  bool ok = false;
  try {
    ok = read_disk(key, out) || produce_and_store(key, produce, out);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.erase(key);
    {
      std::lock_guard<std::mutex> plock(mine->mutex);
      mine->done = true;
    }
    mine->done_cv.notify_all();
    throw;
  }
  if (ok) keep_in_memory(key, out);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.erase(key);
  }
  {
    std::lock_guard<std::mutex> plock(mine->mutex);
    mine->done = true;
    mine->ok = ok;
    if (ok) mine->image = out;
  }
  mine->done_cv.notify_all();
  return ok;
}

bool ImageCache::produce_and_store(const std::string& key, const Producer& produce,
                                   CachedImage& out) {
  counters_.misses->add();
  if (!produce(out)) return false;
  if (!folder_.empty()) write_disk(key, out);
  return true;
}

void ImageCache::keep_in_memory(const std::string& key, const CachedImage& image) {
  const int64_t charge = static_cast<int64_t>(image.bytes() + key.size()) + kEntryOverhead;
  if (options_.memory_budget <= 0) return;
  if (charge > options_.memory_budget) {
    counters_.too_large->add();
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (index_.count(key)) return;
  if (options_.when_full == WhenFull::kKeep && held_ + charge > options_.memory_budget) {
    counters_.full->add();
    return;
  }
  while (held_ + charge > options_.memory_budget && !lru_.empty()) {
    Entry& victim = lru_.back();
    held_ -= victim.charge;
    counters_.bytes_held->add(-victim.charge);
    counters_.evictions->add();
    index_.erase(victim.key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, image, charge});
  index_[key] = lru_.begin();
  held_ += charge;
  counters_.bytes_held->add(charge);
}

std::string ImageCache::disk_path(const std::string& key) const {
  return (fs::path(folder_) / (hex16(fnv1a64(key)) + kSuffix)).string();
}

namespace {

// Why an entry on disk is not used, or "" for a good one. Everything is checked
// against the file's real size before a pixel buffer is allocated: a header may
// claim any size.
std::string entry_problem(const DiskHeader& h, uint64_t file_size) {
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return "not a cache entry of this sluice";
  if (h.key_size > kMaxKey) return "its key length is out of range";
  if (h.channels < 1 || h.channels > 4 || h.width < 1 || h.height < 1 || h.width > kMaxSide ||
      h.height > kMaxSide) {
    return "its image shape " + std::to_string(h.width) + "x" + std::to_string(h.height) + "x" +
           std::to_string(h.channels) + " is out of range";
  }
  const uint64_t expected =
      sizeof h + uint64_t{h.key_size} + uint64_t{h.width} * h.height * h.channels;
  if (expected != file_size) {
    return "its header describes " + std::to_string(expected) + " bytes, the file has " +
           std::to_string(file_size);
  }
  return {};
}

// CRC-32 of the header's sizes, the key and the pixels.
uint32_t entry_checksum(const DiskHeader& h, const std::string& key, const uint8_t* pixels,
                        size_t bytes) {
  const uint32_t sizes[4] = {h.width, h.height, h.channels, h.key_size};
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(sizes), sizeof sizes);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(key.data()), static_cast<uInt>(key.size()));
  while (bytes > 0) {  // crc32 takes at most 4 GiB - 1 at a time
    const size_t n = std::min<size_t>(bytes, 1u << 30);
    crc = crc32(crc, pixels, static_cast<uInt>(n));
    pixels += n;
    bytes -= n;
  }
  return static_cast<uint32_t>(crc);
}

bool pread_fully(int fd, void* buffer, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(buffer);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// A damaged entry (entries appear whole, by rename, so this is damage after the
// fact, or a file someone else put there: a FIFO, a link, a forged header) is
// counted, warned about and removed, so that this miss writes a good one.
bool ImageCache::drop_disk_entry(const std::string& path, const std::string& why) {
  counters_.disk_bad->add();
  if (bad_warnings_.fetch_add(1) < kMaxBadWarnings) {
    spdlog::warn("image.cache: ignoring {}: {}; the image is decoded again", path, why);
  }
  struct stat st {};
  const bool counted = ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  if (::unlink(path.c_str()) == 0 && counted)
    disk_held_.fetch_sub(static_cast<int64_t>(st.st_size));
  return false;
}

bool ImageCache::read_disk(const std::string& key, CachedImage& out) {
  if (folder_.empty()) return false;
  const std::string path = disk_path(key);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;  // no entry: a plain miss
  if (!S_ISREG(st.st_mode)) {
    return drop_disk_entry(path, std::string("it is ") + file_type_name(st.st_mode));
  }
  FileReadResult opened;
  uint64_t size = 0;
  FdCloser f;
  f.fd = open_regular_file(path, kMaxEntryBytes, "cache entry", opened, size);
  if (f.fd < 0) return drop_disk_entry(path, opened.reason);
  DiskHeader h{};
  if (!pread_fully(f.fd, &h, sizeof h, 0)) return drop_disk_entry(path, "its header is cut short");
  if (std::string why = entry_problem(h, size); !why.empty()) return drop_disk_entry(path, why);
  std::string stored_key(h.key_size, '\0');
  if (!pread_fully(f.fd, stored_key.data(), h.key_size, sizeof h)) {
    return drop_disk_entry(path, "it cannot be read");
  }
  if (stored_key != key) {  // two keys with one hash: the other one's entry, left alone
    counters_.disk_bad->add();
    return false;
  }
  CachedImage img;
  img.width = static_cast<int>(h.width);
  img.height = static_cast<int>(h.height);
  img.channels = static_cast<int>(h.channels);
  img.pixels = ByteBuffer(new uint8_t[img.bytes()]);
  if (!pread_fully(f.fd, img.pixels.get(), img.bytes(), sizeof h + h.key_size)) {
    return drop_disk_entry(path, "it cannot be read");
  }
  if (entry_checksum(h, key, img.pixels.get(), img.bytes()) != h.checksum) {
    return drop_disk_entry(path, "its checksum does not match its pixels");
  }
  out = std::move(img);
  counters_.hits->add();
  counters_.disk_hits->add();
  return true;
}

void ImageCache::write_disk(const std::string& key, const CachedImage& image) {
  const std::string path = disk_path(key);
  const int64_t size = static_cast<int64_t>(sizeof(DiskHeader) + key.size() + image.bytes());
  struct stat st {};
  // Another process wrote it meanwhile. Anything else there (a planted link) is
  // replaced by the rename below, never written through.
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return;
  if (disk_held_.fetch_add(size) + size > options_.disk_budget) {
    disk_held_.fetch_sub(size);
    counters_.disk_refused->add();
    return;
  }
  DiskHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.width = static_cast<uint32_t>(image.width);
  h.height = static_cast<uint32_t>(image.height);
  h.channels = static_cast<uint32_t>(image.channels);
  h.key_size = static_cast<uint32_t>(key.size());
  h.checksum = entry_checksum(h, key, image.pixels.get(), image.bytes());
  try {
    // Unsynced: a torn entry after a crash fails its checksum and is rewritten.
    AtomicFile f(path, Durability::kUnsynced);
    f.write(std::string_view(reinterpret_cast<const char*>(&h), sizeof h));
    f.write(key);
    f.write(std::string_view(reinterpret_cast<const char*>(image.pixels.get()), image.bytes()));
    f.commit();
  } catch (const std::exception&) {
    disk_held_.fetch_sub(size);
    return;  // a full disk or a read-only folder: the run goes on uncached
  }
  counters_.disk_writes->add();
}

}  // namespace sluice::data

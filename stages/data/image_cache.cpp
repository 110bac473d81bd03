#include "stages/data/image_cache.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace sluice::data {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'L', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr const char* kSuffix = ".px";
constexpr uint32_t kMaxKey = 1 << 16;

std::string hex16(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

struct DiskHeader {
  char magic[8];
  uint32_t width, height, channels, key_size;
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
  int64_t held = 0;
  for (const auto& e : fs::directory_iterator(folder_, ec)) {
    if (e.path().extension() == kSuffix && e.is_regular_file(ec)) {
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

bool ImageCache::read_disk(const std::string& key, CachedImage& out) {
  if (folder_.empty()) return false;
  const std::string path = disk_path(key);
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  DiskHeader h{};
  std::string stored_key;
  // A damaged entry (entries appear whole, by rename, so this is damage after
  // the fact) is removed, so that this miss writes a good one in its place.
  const auto bad = [this, &path, &f] {
    counters_.disk_bad->add();
    f.close();
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (!ec && fs::remove(path, ec)) disk_held_.fetch_sub(static_cast<int64_t>(size));
    return false;
  };
  if (!f.read(reinterpret_cast<char*>(&h), sizeof h) ||
      std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.key_size > kMaxKey || h.channels < 1 ||
      h.channels > 4 || h.width < 1 || h.height < 1 || h.width > 65535 || h.height > 65535) {
    return bad();
  }
  stored_key.resize(h.key_size);
  if (!f.read(stored_key.data(), h.key_size)) return bad();
  if (stored_key != key) {  // two keys with one hash: the other one's entry, left alone
    counters_.disk_bad->add();
    return false;
  }
  CachedImage img;
  img.width = static_cast<int>(h.width);
  img.height = static_cast<int>(h.height);
  img.channels = static_cast<int>(h.channels);
  img.pixels = ByteBuffer(new uint8_t[img.bytes()]);
  if (!f.read(reinterpret_cast<char*>(img.pixels.get()),
              static_cast<std::streamsize>(img.bytes())) ||
      f.peek() != std::char_traits<char>::eof()) {
    return bad();
  }
  out = std::move(img);
  counters_.hits->add();
  counters_.disk_hits->add();
  return true;
}

void ImageCache::write_disk(const std::string& key, const CachedImage& image) {
  const std::string path = disk_path(key);
  const int64_t size = static_cast<int64_t>(sizeof(DiskHeader) + key.size() + image.bytes());
  std::error_code ec;
  if (fs::exists(path, ec)) return;  // another process wrote it meanwhile
  if (disk_held_.fetch_add(size) + size > options_.disk_budget) {
    disk_held_.fetch_sub(size);
    counters_.disk_refused->add();
    return;
  }
  const std::string temp = (fs::path(folder_) / (".tmp." + std::to_string(::getpid()) + "." +
                                                 std::to_string(temp_serial_.fetch_add(1))))
                               .string();
  DiskHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.width = static_cast<uint32_t>(image.width);
  h.height = static_cast<uint32_t>(image.height);
  h.channels = static_cast<uint32_t>(image.channels);
  h.key_size = static_cast<uint32_t>(key.size());
  bool written = false;
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    written = f.write(reinterpret_cast<const char*>(&h), sizeof h) &&
              f.write(key.data(), static_cast<std::streamsize>(key.size())) &&
              f.write(reinterpret_cast<const char*>(image.pixels.get()),
                      static_cast<std::streamsize>(image.bytes()));
    f.close();
    written = written && !f.fail();
  }
  if (!written || std::rename(temp.c_str(), path.c_str()) != 0) {
    fs::remove(temp, ec);
    disk_held_.fetch_sub(size);
    return;  // a full disk or a read-only folder: the run goes on uncached
  }
  counters_.disk_writes->add();
}

}  // namespace sluice::data

// The store behind image.cache: byte sizes as configs write them, the memory
// tier's LRU within its budget, one producer call per key under concurrency,
// and the disk tier across cache instances (as across runs), with entries of
// another fingerprint or a damaged file ignored and a full folder refusing.
// Entries are checked before use: a wrong size, flipped pixels or a header that
// claims 17 GB are misses (counted, replaced) and nothing is allocated for the
// claim; a FIFO in the folder does not block; planted links are never written
// through.
#include <gtest/gtest.h>

#include <unistd.h>

#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "stages/data/byte_size.h"
#include "stages/data/image_cache.h"
#include "tests/special_files.h"

// The largest single operator new request of this test binary (replaced in
// jpeg_decoder_test.cpp): a forged cache header must not make the cache allocate
// what it claims.
extern std::atomic<size_t> g_largest_new;

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

TEST(ByteSize, ParsesUnitsAndPlainBytes) {
  EXPECT_EQ(parse_byte_size("2GiB"), 2LL << 30);
  EXPECT_EQ(parse_byte_size("512MiB"), 512LL << 20);
  EXPECT_EQ(parse_byte_size("1.5KiB"), 1536);
  EXPECT_EQ(parse_byte_size("4MB"), 4000000);
  EXPECT_EQ(parse_byte_size("4 MB"), 4000000);
  EXPECT_EQ(parse_byte_size("300kB"), 300000);
  EXPECT_EQ(parse_byte_size("4000000"), 4000000);
  EXPECT_EQ(parse_byte_size("4_000_000"), 4000000);
  EXPECT_EQ(parse_byte_size("0"), 0);
  EXPECT_EQ(parse_byte_size("17B"), 17);
}

TEST(ByteSize, RefusesWhatIsNotASize) {
  for (const char* bad : {"", "GiB", "-1", "2GB!", "2 gigs", "1.5", "1.2.3MiB", "9999999TiB"}) {
    EXPECT_FALSE(parse_byte_size(bad)) << bad;
  }
}

struct Counters {
  Counter hits, disk_hits, misses, evictions, bytes_held, too_large, full, disk_writes,
      disk_refused, disk_bad;
  ImageCacheCounters pointers() {
    return {&hits,      &disk_hits, &misses,      &evictions,    &bytes_held,
            &too_large, &full,      &disk_writes, &disk_refused, &disk_bad};
  }
};

// A producer making a w x h x 3 image whose bytes derive from `seed`.
ImageCache::Producer image_of(int w, int h, int seed, std::atomic<int>* calls = nullptr) {
  return [=](CachedImage& out) {
    if (calls) calls->fetch_add(1);
    out.width = w;
    out.height = h;
    out.channels = 3;
    out.pixels = ByteBuffer(new uint8_t[out.bytes()]);
    for (size_t i = 0; i < out.bytes(); ++i) out.pixels[i] = static_cast<uint8_t>(seed * 31 + i);
    return true;
  };
}

TEST(ImageCache, MemoryTierEvictsLeastRecentlyUsedWithinBudget) {
  Counters c;
  const int64_t entry = 32 * 32 * 3 + 1 + ImageCache::kEntryOverhead;  // keys are one letter
  ImageCache cache({3 * entry, WhenFull::kEvictLru, "", 0, 1}, c.pointers());
  CachedImage img;
  for (const char* k : {"a", "b", "c"}) ASSERT_TRUE(cache.get(k, image_of(32, 32, k[0]), img));
  EXPECT_EQ(c.misses.value(), 3);
  ASSERT_TRUE(cache.get("a", image_of(32, 32, 0), img));  // a is now the most recent
  EXPECT_EQ(img.pixels[0], static_cast<uint8_t>('a' * 31));
  ASSERT_TRUE(cache.get("d", image_of(32, 32, 'd'), img));  // evicts b, the least recent
  EXPECT_EQ(c.evictions.value(), 1);
  EXPECT_EQ(c.bytes_held.value(), 3 * entry);
  EXPECT_LE(cache.memory_bytes(), 3 * entry);
  std::atomic<int> calls{0};
  cache.get("a", image_of(32, 32, 'a', &calls), img);
  cache.get("c", image_of(32, 32, 'c', &calls), img);
  EXPECT_EQ(calls.load(), 0);
  cache.get("b", image_of(32, 32, 'b', &calls), img);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(c.hits.value(), 3);
}

TEST(ImageCache, KeepModeKeepsTheFirstImagesAndRefusesTheRest) {
  Counters c;
  const int64_t entry = 32 * 32 * 3 + 1 + ImageCache::kEntryOverhead;
  ImageCache cache({3 * entry, WhenFull::kKeep, "", 0, 1}, c.pointers());
  CachedImage img;
  for (const char* k : {"a", "b", "c", "d", "e"}) cache.get(k, image_of(32, 32, k[0]), img);
  EXPECT_EQ(c.full.value(), 2);
  EXPECT_EQ(c.evictions.value(), 0);
  EXPECT_EQ(cache.memory_bytes(), 3 * entry);
  std::atomic<int> calls{0};
  for (const char* k : {"a", "b", "c"}) cache.get(k, image_of(32, 32, k[0], &calls), img);
  EXPECT_EQ(calls.load(), 0);
  cache.get("e", image_of(32, 32, 'e', &calls), img);
  EXPECT_EQ(calls.load(), 1);
}

TEST(ImageCache, ImageLargerThanTheBudgetIsServedButNotKept) {
  Counters c;
  ImageCache cache({1000, WhenFull::kKeep, "", 0, 1}, c.pointers());
  CachedImage img;
  ASSERT_TRUE(cache.get("big", image_of(100, 100, 1), img));
  EXPECT_EQ(img.bytes(), 30000u);
  EXPECT_EQ(c.too_large.value(), 1);
  EXPECT_EQ(cache.memory_bytes(), 0);
}

TEST(ImageCache, ConcurrentMissesOfOneKeyProduceOnce) {
  Counters c;
  ImageCache cache({1 << 20, WhenFull::kKeep, "", 0, 1}, c.pointers());
  std::atomic<int> calls{0};
  auto slow = [&](CachedImage& out) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return image_of(8, 8, 5, &calls)(out);
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      CachedImage img;
      if (cache.get("k", slow, img) && img.pixels[0] == static_cast<uint8_t>(5 * 31)) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(c.misses.value(), 1);
  EXPECT_EQ(c.hits.value(), 7);
}

class ImageCacheDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_image_cache_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ImageCacheDisk, ANewInstanceReadsWhatAnEarlierOneWrote) {
  Counters first;
  {
    ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, first.pointers());
    CachedImage img;
    for (int k = 0; k < 5; ++k) cache.get("key" + std::to_string(k), image_of(16, 8, k), img);
  }
  EXPECT_EQ(first.disk_writes.value(), 5);
  for (const auto& e : fs::directory_iterator(dir_ / "0000000000000007")) {
    EXPECT_EQ(e.path().extension(), ".px") << "temporary files left: " << e.path();
  }
  Counters second;
  ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, second.pointers());
  std::atomic<int> calls{0};
  for (int k = 0; k < 5; ++k) {
    CachedImage img;
    ASSERT_TRUE(cache.get("key" + std::to_string(k), image_of(16, 8, 99, &calls), img));
    CachedImage expected;
    image_of(16, 8, k)(expected);
    ASSERT_EQ(img.bytes(), expected.bytes());
    EXPECT_EQ(0, std::memcmp(img.pixels.get(), expected.pixels.get(), img.bytes()));
  }
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(second.disk_hits.value(), 5);
  EXPECT_EQ(second.misses.value(), 0);
}

TEST_F(ImageCacheDisk, AnotherFingerprintReadsNoneOfTheEntries) {
  Counters first, second;
  CachedImage img;
  {
    ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, first.pointers());
    cache.get("k", image_of(16, 8, 1), img);
  }
  ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 8}, second.pointers());
  std::atomic<int> calls{0};
  cache.get("k", image_of(16, 8, 2, &calls), img);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(second.disk_hits.value(), 0);
  EXPECT_EQ(img.pixels[0], static_cast<uint8_t>(2 * 31));
}

TEST_F(ImageCacheDisk, ATruncatedEntryIsReplaced) {
  Counters first, second;
  CachedImage img;
  std::string folder;
  {
    ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, first.pointers());
    cache.get("k", image_of(16, 8, 1), img);
    folder = cache.disk_folder();
  }
  for (const auto& e : fs::directory_iterator(folder)) fs::resize_file(e.path(), 40);
  ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, second.pointers());
  std::atomic<int> calls{0};
  ASSERT_TRUE(cache.get("k", image_of(16, 8, 1, &calls), img));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(second.disk_bad.value(), 1);
  EXPECT_EQ(second.disk_writes.value(), 1);  // the damaged entry was replaced
  Counters third;
  ImageCache again({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, third.pointers());
  ASSERT_TRUE(again.get("k", image_of(16, 8, 1, &calls), img));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(third.disk_hits.value(), 1);
}

TEST_F(ImageCacheDisk, AFullFolderRefusesNewEntries) {
  Counters c;
  // Each entry: 28-byte header + 4-byte key + 16x8x3 pixels = 416 bytes.
  ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1000, 7}, c.pointers());
  CachedImage img;
  for (int k = 0; k < 5; ++k) cache.get("key" + std::to_string(k), image_of(16, 8, k), img);
  EXPECT_EQ(c.disk_writes.value(), 2);
  EXPECT_EQ(c.disk_refused.value(), 3);
  EXPECT_LE(cache.disk_bytes(), 1000);
  int64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(cache.disk_folder())) {
    on_disk += static_cast<int64_t>(e.file_size());
  }
  EXPECT_LE(on_disk, 1000);
}

// The entry file of `key` in the folder of fingerprint 7.
fs::path entry_of(const fs::path& dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.px", static_cast<unsigned long long>(fnv1a64(key)));
  return dir / "0000000000000007" / name;
}

// Writes key "k" into the disk tier, lets `damage` change the entry's file,
// then reads "k" with a new instance: the damage must make it a miss (the
// producer runs, disk_bad counts it) and a good entry replaces it.
void expect_damage_detected(const fs::path& dir,
                            const std::function<void(const fs::path&)>& damage) {
  Counters first, second, third;
  CachedImage img;
  {
    ImageCache cache({0, WhenFull::kKeep, dir.string(), 1 << 20, 7}, first.pointers());
    cache.get("k", image_of(16, 8, 1), img);
  }
  const fs::path entry = entry_of(dir, "k");
  ASSERT_TRUE(fs::exists(entry));
  damage(entry);
  std::atomic<int> calls{0};
  {
    ImageCache cache({0, WhenFull::kKeep, dir.string(), 1 << 20, 7}, second.pointers());
    ASSERT_TRUE(cache.get("k", image_of(16, 8, 1, &calls), img));
  }
  EXPECT_EQ(calls.load(), 1) << "a damaged entry was served";
  EXPECT_EQ(second.disk_hits.value(), 0);
  EXPECT_EQ(second.disk_bad.value(), 1);
  EXPECT_EQ(second.disk_writes.value(), 1);
  EXPECT_EQ(img.pixels[0], static_cast<uint8_t>(31));
  ImageCache again({0, WhenFull::kKeep, dir.string(), 1 << 20, 7}, third.pointers());
  ASSERT_TRUE(again.get("k", image_of(16, 8, 1, &calls), img));
  EXPECT_EQ(third.disk_hits.value(), 1) << "the damaged entry was not replaced";
}

TEST_F(ImageCacheDisk, AnEntryOfTheWrongSizeIsAMiss) {
  expect_damage_detected(dir_, [](const fs::path& entry) {
    std::ofstream(entry, std::ios::binary | std::ios::app) << 'x';
  });
}

TEST_F(ImageCacheDisk, AHeaderWithAnotherShapeOfTheSameSizeIsAMiss) {
  expect_damage_detected(dir_, [](const fs::path& entry) {
    std::fstream f(entry, std::ios::binary | std::ios::in | std::ios::out);
    const uint32_t swapped[2] = {8, 16};  // 8x16 instead of 16x8: as many bytes
    f.seekp(8);
    f.write(reinterpret_cast<const char*>(swapped), sizeof swapped);
  });
}

TEST_F(ImageCacheDisk, FlippedPixelsFailTheChecksum) {
  expect_damage_detected(dir_, [](const fs::path& entry) {
    std::fstream f(entry, std::ios::binary | std::ios::in | std::ios::out);
    f.seekg(-1, std::ios::end);
    const char last = static_cast<char>(f.get());
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(last ^ 0x01));
  });
}

TEST_F(ImageCacheDisk, AHeaderClaiming17GBIsAMissWithoutTheAllocation) {
  g_largest_new = 0;
  expect_damage_detected(dir_, [](const fs::path& entry) {
    std::fstream f(entry, std::ios::binary | std::ios::in | std::ios::out);
    const uint32_t huge[3] = {65535, 65535, 4};  // width, height, channels: 17.2 GB
    f.seekp(8);
    f.write(reinterpret_cast<const char*>(huge), sizeof huge);
  });
  EXPECT_LT(g_largest_new.load(), size_t{1} << 30) << "the claimed size was allocated";
}

TEST_F(ImageCacheDisk, AnEntryOfAnotherVersionIsAMiss) {
  expect_damage_detected(dir_, [](const fs::path& entry) {
    std::fstream f(entry, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(7);
    f.put('1');  // SLCACHE1: the format without a checksum
  });
}

TEST_F(ImageCacheDisk, AFifoInTheFolderDoesNotBlockTheRun) {
  const fs::path entry = entry_of(dir_, "k");
  fs::create_directories(entry.parent_path());
  ASSERT_EQ(::mkfifo(entry.c_str(), 0600), 0);
  auto counters = std::make_shared<Counters>();
  const std::string dir = dir_.string();
  const auto done = test::finish_within(test::kHangLimit, [counters, dir] {
    ImageCache cache({0, WhenFull::kKeep, dir, 1 << 20, 7}, counters->pointers());
    CachedImage img;
    if (!cache.get("k", image_of(16, 8, 1), img)) throw std::runtime_error("no image");
  });
  ASSERT_TRUE(done) << "reading a FIFO in the cache folder blocked";
  EXPECT_EQ(done->error, "");
  EXPECT_EQ(counters->disk_bad.value(), 1);
  EXPECT_EQ(counters->disk_writes.value(), 1);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(entry))) << "the FIFO was not replaced";
}

TEST_F(ImageCacheDisk, PlantedLinksAreNeverWrittenThrough) {
  const fs::path folder = dir_ / "0000000000000007";
  fs::create_directories(folder);
  const fs::path victim = dir_ / "victim.txt";
  std::ofstream(victim) << "victim";
  const fs::path entry = entry_of(dir_, "k");
  const std::string missing = (dir_ / "victim-to-be").string();
  fs::create_symlink(missing, entry);  // dangling: the entry "does not exist"
  // The temporary names the cache used to write (".tmp.PID.N"), and the pattern's.
  for (int n = 0; n < 32; ++n) {
    fs::create_symlink(victim,
                       folder / (".tmp." + std::to_string(::getpid()) + "." + std::to_string(n)));
  }
  fs::create_symlink(victim, folder / (entry.filename().string() + ".tmp"));
  Counters c;
  {
    ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, c.pointers());
    CachedImage img;
    for (int k = 0; k < 8; ++k)
      cache.get(k ? "k" + std::to_string(k) : "k", image_of(16, 8, k), img);
  }
  EXPECT_EQ(c.disk_writes.value(), 8);
  std::ifstream in(victim);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "victim");
  EXPECT_FALSE(fs::exists(missing)) << "the dangling link's target was created";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(entry)));
  // A link to a victim at an entry's name is a bad entry: removed, not read.
  const fs::path other = entry_of(dir_, "k1");
  fs::remove(other);
  fs::create_symlink(victim, other);
  Counters d;
  ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, d.pointers());
  CachedImage img;
  ASSERT_TRUE(cache.get("k1", image_of(16, 8, 1), img));
  EXPECT_EQ(d.disk_bad.value(), 1);
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(other)));
  EXPECT_TRUE(fs::exists(victim));
}

TEST_F(ImageCacheDisk, ASymlinkedFingerprintFolderIsRefused) {
  const fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_symlink(elsewhere, dir_ / "0000000000000007");
  Counters c;
  try {
    ImageCache cache({0, WhenFull::kKeep, dir_.string(), 1 << 20, 7}, c.pointers());
    FAIL() << "a cache folder that is a symlink was used";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sluice::data

// image.cache: decodes each Sample's file to an RGB Image -- optionally resized
// to width x height -- and keeps the result, so that later epochs read the
// pixels from memory (or from a folder on disk) instead of decoding the JPEG
// again, as tf.data's cache() does.
//
// Samples that carry their encoded file in memory (read from a shard) are
// decoded from those bytes, keyed by their content hash, as image.decode does.
//
// Why the cache takes Samples and does the decoding itself: in a dataflow graph
// a cache placed after image.decode cannot keep decode from running, since
// every item flows through every stage. So image.cache *is* the decode step
// (and the deterministic resize that follows it), run only on a miss: a hit
// skips the file read, the JPEG decode and the resize. Its decode behaves as
// image.decode's (same bad-file policy and skipped.<reason> counters) and its
// resize as image.augment's without random transforms, byte for byte. Random
// augmentation goes after it, so it still differs every epoch.
//
// Memory tier: `budget` bytes (pixels plus a small charge per entry), never
// more. When it is full, `when_full = "keep"` (the default) keeps what it holds
// and does not keep new images: every epoch then hits on the same part of the
// data set, about budget / set size of it. `when_full = "evict_lru"` evicts
// the least recently used entries instead; that suits a working set that
// changes, but an epoch visits every sample once, so over a set larger than
// the budget LRU evicts each image before its next visit and hits almost
// nothing (300 images through a budget of about 80: 2 hits in 900 lookups, against
// 168 with "keep"; tests/data/cache_stage_test.cpp). An image larger than the
// whole budget is not kept.
// Disk tier (`dir`): one file per image, written to a temporary name and
// renamed (a reader never sees half an entry), in DIR/<fingerprint>/, where the
// fingerprint hashes the parameters that change pixels (fast_dct, width,
// height, `version`). A changed pipeline thus reads none of the old entries;
// their folders stay until removed by hand. New entries are refused once the
// folder holds `dir_budget` bytes (nothing already written is deleted, so
// several runs can share the folder). Entries are keyed by the file's path,
// size and modification time: an image rewritten in place is decoded again.
//
// Counters: hits, disk_hits (of the hits), misses (decodes), evictions,
// bytes_held (memory tier, now), full (not kept: budget full), too_large,
// disk_writes, disk_refused, disk_bad; logged at the end of every epoch and in
// --profile JSON.
//
// `sluice check` refuses an input whose content depends on the run's random
// numbers (a stage declared with StageSpec::random upstream): a cache would
// freeze it at the first epoch's draw.
//
// Example config:
//   [stages.index]
//   use = "celeba.index"
//   root = "data/celeba"
//   epochs = 10
//
//   [stages.cache]
//   use = "image.cache"
//   input = "index"
//   budget = "2GiB"        # memory; "512MiB", "4MB" or "4000000" (bytes)
//   width = 128            # resize once, before caching (0: keep the size)
//   height = 128
//   dir = "cache/celeba"   # optional disk tier, reused by the next run
//   dir_budget = "20GiB"
//
//   [stages.augment]       # random per epoch: after the cache
//   use = "image.augment"
//   input = "cache"
//   width = 128
//   height = 128
//   flip = true
#include <sys/stat.h>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include "pipeline/choice_list.h"
#include "pipeline/registry.h"
#include "pipeline/text_escape.h"
#include "stages/data/affine_warp.h"
#include "stages/data/buffer_pool.h"
#include "stages/data/byte_size.h"
#include "stages/data/data_specs.h"
#include "stages/data/data_stages.h"
#include "stages/data/image_cache.h"
#include "stages/data/jpeg_decoder.h"

namespace sluice::data {
namespace {

constexpr DecodeStatus kBadKinds[] = {DecodeStatus::kMissingFile,   DecodeStatus::kEmptyFile,
                                      DecodeStatus::kTruncated,     DecodeStatus::kNotAnImage,
                                      DecodeStatus::kTooManyPixels, DecodeStatus::kCorrupt};

const ChoiceList<WhenFull>& when_full_choices() {
  static const ChoiceList<WhenFull> list(
      "when_full", {{"keep", WhenFull::kKeep}, {"evict_lru", WhenFull::kEvictLru}});
  return list;
}

// The first problem of a byte-size parameter, as the constructor throws it.
std::string byte_size_problem(const Params& p, const std::string& key) {
  if (parse_byte_size(p.get_string(key))) return {};
  return key +
         ": expected a byte size such as \"2GiB\", \"512MiB\", \"4MB\" or \"4000000\" "
         "(bytes), got '" +
         printable(p.get_string(key)) + "'";
}

void check_cache_params(const ParamCheck& c) {
  const Params& p = c.params();
  for (const char* key : {"budget", "dir_budget"}) {
    if (auto why = byte_size_problem(p, key); !why.empty()) c.error(key, why);
  }
  const bool disk = !p.get_string("dir").empty();
  const auto budget = parse_byte_size(p.get_string("budget"));
  if (budget && *budget == 0 && !disk) {
    c.error("budget",
            "budget: 0 bytes and no dir: the cache would keep nothing (give a budget, "
            "or a dir for a disk cache)");
  }
  const auto dir_budget = parse_byte_size(p.get_string("dir_budget"));
  if (disk && dir_budget && *dir_budget == 0) {
    c.error("dir_budget", "dir_budget: 0 bytes: the disk cache in dir would keep nothing");
  }
  if ((p.get_int("width") == 0) != (p.get_int("height") == 0)) {
    c.error(c.given("width") ? "width" : "height",
            "width and height: give both (resize before caching) or neither");
  }
  struct stat st {};
  if (disk && ::stat(p.get_string("dir").c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    c.error("dir", "dir: '" + printable(p.get_string("dir")) + "' exists and is not a folder");
  }
}

void accept_input(const Params&, const ElementSpec& in, SpecContext& ctx) {
  if (in.random_from.empty()) return;
  ctx.error("input", "its input depends on the run's random numbers (" + in.random_from +
                         "): caching it would freeze that randomness at the first epoch's "
                         "draw; place image.cache before the random stage");
}

ElementSpec cache_spec(const Params& p, const std::vector<ElementSpec>& in, SpecContext& ctx) {
  ElementSpec out = decode_spec(p, in, ctx);
  if (p.get_int("width") > 0 && p.get_int("height") > 0) {
    out.image->width = static_cast<int>(p.get_int("width"));
    out.image->height = static_cast<int>(p.get_int("height"));
    out.image->size_from = ctx.stage_id();
  }
  return out;
}

// What identifies the pixels a set of parameters makes.
uint64_t fingerprint(const Params& p) {
  return fnv1a64("image.cache 1|fast_dct=" + std::to_string(p.get_bool("fast_dct")) +
                 "|width=" + std::to_string(p.get_int("width")) + "|height=" +
                 std::to_string(p.get_int("height")) + "|version=" + p.get_string("version"));
}

// A Sample's encoded file carried in memory (Sample::encoded, filled by shard
// readers), as image.decode decodes it; false: read the sample's path.
bool encoded_bytes(const Sample& sample, const uint8_t*& bytes, size_t& size) {
  if (!sample.has_encoded()) return false;
  bytes = sample.encoded.get();
  size = sample.encoded_size;
  return true;
}

int64_t byte_size(const Params& p, const std::string& key) {
  if (auto why = byte_size_problem(p, key); !why.empty()) throw std::invalid_argument(why);
  return *parse_byte_size(p.get_string(key));
}

class CacheStage : public Transform {
 public:
  explicit CacheStage(const Params& p)
      : fail_(p.get_string("policy") == "fail"),
        width_(static_cast<int>(p.get_int("width"))),
        height_(static_cast<int>(p.get_int("height"))) {
    options_.max_pixels = p.get_int("max_pixels");
    options_.fast_dct = p.get_bool("fast_dct");
    cache_options_.memory_budget = byte_size(p, "budget");
    cache_options_.when_full = when_full_choices().parse(p.get_string("when_full"));
    cache_options_.dir = p.get_string("dir");
    cache_options_.disk_budget = byte_size(p, "dir_budget");
    cache_options_.fingerprint = fingerprint(p);
    if ((width_ == 0) != (height_ == 0)) {
      throw std::invalid_argument("width and height: give both (resize before caching) or neither");
    }
  }

  void open(StageContext& ctx) override {
    log_ = &ctx.log();
    for (DecodeStatus s : kBadKinds) {
      skipped_[static_cast<int>(s)] = &ctx.counter(std::string("skipped.") + decode_status_name(s));
    }
    auto at = [&ctx](const char* name) { return &ctx.counter(name); };
    c_ = {at("hits"),      at("disk_hits"), at("misses"),      at("evictions"),    at("bytes_held"),
          at("too_large"), at("full"),      at("disk_writes"), at("disk_refused"), at("disk_bad")};
    cache_ = std::make_unique<ImageCache>(cache_options_, c_);
    if (!cache_->disk_folder().empty()) {
      log_->info("disk cache {}: {} held of {}", cache_->disk_folder(),
                 format_byte_size(cache_->disk_bytes()),
                 format_byte_size(cache_options_.disk_budget));
    }
  }

  void process(std::any& in, Emitter& out) override {
    Sample& sample = payload_as<Sample>(in);
    CachedImage cached;
    DecodeResult failure;
    const uint8_t* bytes = nullptr;
    size_t size = 0;
    const bool in_memory = encoded_bytes(sample, bytes, size);
    const std::string key =
        in_memory ? key_of_bytes(sample.path, bytes, size) : key_of(sample.path);
    const bool ok = cache_->get(
        key,
        [&](CachedImage& made) {
          return make(sample.path, in_memory ? bytes : nullptr, size, made, failure);
        },
        cached);
    if (!ok) return report_bad(sample, failure);
    Image image;
    image.width = cached.width;
    image.height = cached.height;
    image.channels = cached.channels;
    image.pixels = std::move(cached.pixels);
    image.sample = std::move(sample);
    out.emit(std::move(image));
  }

  void on_control(const Control& c, Emitter& out) override {
    if (c.kind == ControlKind::kEndOfEpoch) log_epoch(c.epoch);
    out.emit_control(c);
  }

 private:
  // The file's path, size and modification time: a rewritten file is a new key.
  static std::string key_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return path;
    return path + '\n' + std::to_string(st.st_size) + '\n' + std::to_string(st.st_mtim.tv_sec) +
           '.' + std::to_string(st.st_mtim.tv_nsec);
  }

  // Encoded bytes carried in memory (from a shard): their path (the entry's
  // name), size and content hash.
  static std::string key_of_bytes(const std::string& path, const uint8_t* bytes, size_t size) {
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx",
                  static_cast<unsigned long long>(
                      fnv1a64(std::string(reinterpret_cast<const char*>(bytes), size))));
    return "encoded\n" + path + '\n' + std::to_string(size) + '\n' + hash;
  }

  // Decode (and resize) on a miss, into heap buffers of their own: cached
  // pixels stay out of the pools (and out of pinned memory). `bytes`: the
  // sample's encoded file in memory, else null (read `path`).
  bool make(const std::string& path, const uint8_t* bytes, size_t size, CachedImage& made,
            DecodeResult& failure) {
    Image decoded;
    const bool resize = width_ > 0;
    const auto allocate = [this, resize](size_t n) {
      return resize ? pool_->get(n) : heap_buffer(n);
    };
    failure = bytes ? decode_image(bytes, size, options_, allocate, decoded)
                    : decode_image_file(path, options_, allocate, decoded);
    if (!failure.ok()) return false;
    made.channels = decoded.channels;
    if (!resize) {
      made.width = decoded.width;
      made.height = decoded.height;
      made.pixels = std::move(decoded.pixels);
      return true;
    }
    made.width = width_;
    made.height = height_;
    made.pixels = heap_buffer(made.bytes());
    warp_affine({decoded.pixels.get(), decoded.width, decoded.height, decoded.channels,
                 static_cast<ptrdiff_t>(decoded.width) * decoded.channels},
                keras_inverse_map(KerasTransform{}, decoded.width, decoded.height, width_, height_),
                FillMode::kNearest, 0,
                {made.pixels.get(), width_, height_, made.channels,
                 static_cast<ptrdiff_t>(width_) * made.channels});
    return true;
  }

  // As image.decode: fail the run, or count, log once per path and skip.
  void report_bad(const Sample& sample, const DecodeResult& r) {
    const std::string what =
        printable(sample.path) + ": " + decode_status_name(r.status) + ": " + printable(r.message);
    if (fail_) throw std::runtime_error(what + " (policy = \"fail\")");
    skipped_[static_cast<int>(r.status)]->add();
    std::lock_guard<std::mutex> lock(logged_mutex_);
    if (logged_.insert(sample.path).second) {
      log_->warn("skipping {} ({}): {}: {}", printable(sample.path), printable(sample.origin),
                 decode_status_name(r.status), printable(r.message));
    }
  }

  // Counts of this epoch (since the previous marker; items of neighbouring
  // epochs may overlap it, as they are processed in parallel).
  void log_epoch(int64_t epoch) {
    std::lock_guard<std::mutex> lock(epoch_mutex_);
    const int64_t hits = c_.hits->value(), misses = c_.misses->value();
    const int64_t evictions = c_.evictions->value(), disk_hits = c_.disk_hits->value();
    log_->info(
        "epoch {}: {} hits ({} from disk), {} misses (decoded), {} evictions; holding {} of "
        "{}",
        epoch + 1, hits - last_hits_, disk_hits - last_disk_hits_, misses - last_misses_,
        evictions - last_evictions_, format_byte_size(c_.bytes_held->value()),
        format_byte_size(cache_options_.memory_budget));
    last_hits_ = hits;
    last_misses_ = misses;
    last_evictions_ = evictions;
    last_disk_hits_ = disk_hits;
  }

  bool fail_;
  int width_, height_;
  DecodeOptions options_;
  ImageCacheOptions cache_options_;
  ImageCacheCounters c_{};
  std::unique_ptr<ImageCache> cache_;
  spdlog::logger* log_ = nullptr;
  Counter* skipped_[8] = {};
  std::mutex logged_mutex_;
  std::unordered_set<std::string> logged_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();
  std::mutex epoch_mutex_;  // markers may arrive on several threads at once
  int64_t last_hits_ = 0, last_misses_ = 0, last_evictions_ = 0, last_disk_hits_ = 0;
};

}  // namespace

void register_cache_stage(Registry& r) {
  r.add<CacheStage>(
      StageSpec("image.cache")
          .doc("Decodes (and resizes) each Sample's image once and serves later epochs from a "
               "memory cache (LRU, byte budget) and/or a disk folder.",
               "A hit skips the file read, the decode and the resize. Place random augmentation "
               "after it; `sluice check` refuses an input that depends on the run's random "
               "numbers. Counters: hits, disk_hits, misses, evictions, bytes_held, too_large, "
               "disk_writes, disk_refused, disk_bad, skipped.<reason>.")
          .transform<Sample, Image>()
          .output_spec(cache_spec)
          .accepts(accept_input)
          .parallel()
          .param(ParamSpec::string("budget", "1GiB",
                                   "memory the cache may hold: \"2GiB\", \"512MiB\", \"4MB\" or "
                                   "bytes (\"0\": disk only)"))
          .param(ParamSpec::string("when_full", "keep",
                                   "a new image when the budget is full: keep what is held "
                                   "(best for epochs over a larger set) or evict_lru")
                     .one_of(when_full_choices().names()))
          .param(ParamSpec::string("dir", "",
                                   "folder of a disk cache kept across runs (empty: "
                                   "memory only)"))
          .param(ParamSpec::string("dir_budget", "16GiB",
                                   "bytes the disk cache may hold; new entries are refused beyond"))
          .param(ParamSpec::integer("width", 0, "resize to this width before caching (0: keep)")
                     .range(0, 16384))
          .param(ParamSpec::integer("height", 0, "resize to this height before caching (0: keep)")
                     .range(0, 16384))
          .param(ParamSpec::string("version", "",
                                   "mixed into the disk fingerprint: change it to start afresh"))
          .param(ParamSpec::string("policy", "skip", "what a bad image does: skip or fail")
                     .one_of({"skip", "fail"}))
          .param(ParamSpec::integer("max_pixels", 100'000'000,
                                    "refuse images with more pixels (0: no limit)")
                     .min(0))
          .param(ParamSpec::boolean("fast_dct", false, "faster, slightly less exact JPEG IDCT"))
          .check(check_cache_params));
}

}  // namespace sluice::data

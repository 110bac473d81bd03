// shard.index: a dataset source reading WebDataset tar shards (shard.write's,
// or any with KEY.jpg/png + KEY.cls or KEY.json members). Each sample carries
// its image's bytes (Sample::encoded), so `shard.index -> image.decode -> ...`
// reads as `celeba.index -> image.decode -> ...` does. Epochs, split markers,
// limit, shard_rank/shard_count and resume behave as the other index sources
// (index_sources.cpp), mid-epoch resume included (pipeline/data_position.h:
// each rank skips its share of the consumed samples); the order is shard_plan.h's: a shuffled shard
// order, a contiguous range of it per rank (the train split padded so every rank takes the same
// number of steps) and a bounded shuffle buffer, all a function of (seed, epoch, rank). Shards are
// streamed, never loaded whole.
//
// Example config:
//   [stages.index]
//   use = "shard.index"
//   manifest = "data/shards/manifest.json"   # splits, counts and the label schema
//   split = ["train", "validation"]
//   epochs = 10
//   shuffle_buffer = 2000
//
//   [stages.index]
//   use = "shard.index"                       # plain WebDataset shards, no manifest
//   shards = "data/shards/celeba-{split}-*.tar"
//   split = ["train", "validation"]
//   class_names = ["Female", "Male"]
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/data_position.h"
#include "pipeline/label_limits.h"
#include "pipeline/registry.h"
#include "pipeline/text_escape.h"
#include "stages/data/data_stages.h"
#include "stages/data/launch_env.h"
#include "stages/data/shard_plan.h"
#include "stages/data/shard_set.h"
#include "stages/data/shard_stream.h"

namespace sluice::data {
namespace {

// The splits requested, "all" standing for every split the shards hold.
std::vector<std::string> requested_splits(const Params& p, const ShardSet* set) {
  std::vector<std::string> out;
  for (const std::string& s : p.get_strings("split")) {
    if (s == "all" && set != nullptr) {
      for (const std::string& name : set->splits()) out.push_back(name);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The shards the parameters name; throws std::invalid_argument or
// ShardManifestError with the offending parameter's name first.
ShardSet load_shard_set(const Params& p) {
  const bool manifest = !p.get_string("manifest").empty();
  if (manifest == !p.get_strings("shards").empty()) {
    throw std::invalid_argument("shards: give either shards (a glob or a list) or manifest");
  }
  if (!manifest) {
    const std::string too_many = too_many_classes(p.get_strings("class_names").size());
    if (!too_many.empty()) throw std::invalid_argument("class_names: " + too_many);
    return shard_set_from_patterns(p.get_strings("shards"), requested_splits(p, nullptr));
  }
  ShardSet set = read_shard_set_manifest(p.get_string("manifest"));
  const std::string too_many = too_many_classes(set.label.names.size());
  if (set.label.kind == LabelSpec::Kind::kCategorical && !too_many.empty()) {
    throw ShardManifestError(p.get_string("manifest") + ": its label " + too_many);
  }
  for (const std::string& split : requested_splits(p, &set)) {
    if (set.of_split(split).empty()) {
      throw std::invalid_argument("split: the manifest has no shards of split '" + split +
                                  "' (it has: " + joined(set.splits()) + ")");
    }
  }
  return set;
}

LabelSpec manifest_label(const ShardSet& set, const std::string& stage) {
  LabelSpec l = set.label;
  l.from_stage = stage;
  l.from_param = "manifest";
  return l;
}

ElementSpec shard_index_spec(const Params& p, SpecContext& ctx) {
  ElementSpec out;
  out.type = payload_name<Sample>();
  out.epochs = p.get_int("epochs");
  out.splits = requested_splits(p, nullptr);
  if (!p.get_string("manifest").empty()) {
    try {
      const ShardSet set = read_shard_set_manifest(p.get_string("manifest"));
      out.splits = requested_splits(p, &set);
      const LabelSpec label = manifest_label(set, ctx.stage_id());
      if (label.kind != LabelSpec::Kind::kUnknown) out.label = label;
      out.attributes = set.attributes;
    } catch (const std::exception&) {  // the check hook reports it
    }
  } else if (!p.get_strings("class_names").empty()) {
    out.label = LabelSpec::from_classes("label", p.get_strings("class_names"), ctx.stage_id(),
                                        "class_names");
  }
  return out;
}

// What the constructor and open() would refuse: no shards, a bad manifest, an
// unknown split, a listed shard that is not there.
void check_shard_index(const ParamCheck& c) {
  const Params& p = c.params();
  if (!p.get_string("manifest").empty() && !p.get_strings("class_names").empty()) {
    c.error("class_names", "class_names: the manifest names the classes; drop class_names");
  }
  try {
    const ShardSet set = load_shard_set(p);
    for (const std::string& w : set.warnings) spdlog::warn("{}", printable(w));
    for (const ShardFile& s : set.shards) {
      struct stat st {};
      if (::stat(s.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        c.error("manifest", "manifest: lists shard " + s.path + ", which is not a readable file");
        break;
      }
    }
  } catch (const ShardManifestError& e) {
    c.error("manifest", std::string("manifest: ") + e.what());
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    const std::string key = what.substr(0, what.find(':'));
    const bool own_key = key == "split" || key == "class_names";
    c.error(own_key ? key : (c.given("shards") ? "shards" : "manifest"), what);
  }
}

class ShardIndexSource : public Source {
 public:
  explicit ShardIndexSource(const Params& p)
      : set_(load_shard_set(p)),
        splits_(requested_splits(p, &set_)),
        epochs_(p.get_int("epochs")),
        seed_param_(p.get_int("seed")),
        skip_policy_(p.get_string("policy") == "skip") {
    stream_options_.tar.max_member_bytes = p.get_int("max_member_bytes");
    stream_options_.label = label_schema(p);
    options_.shuffle = p.get_bool("shuffle");
    options_.limit = p.get_int("limit");
    options_.buffer = p.get_int("shuffle_buffer");
    const LaunchEnv launch = launch_env_from_environment();
    options_.shard_rank = p.has("shard_rank") ? p.get_int("shard_rank") : launch.rank;
    options_.shard_count = p.has("shard_count") ? p.get_int("shard_count") : launch.world_size;
    if (options_.shard_rank >= options_.shard_count) {
      throw std::invalid_argument("shard_rank " + std::to_string(options_.shard_rank) +
                                  " must be below shard_count " +
                                  std::to_string(options_.shard_count));
    }
    std::vector<std::string> names = set_.attributes;
    if (!names.empty()) attributes_ = std::make_shared<const std::vector<std::string>>(names);
  }

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    options_.seed = seed_param_ >= 0 ? static_cast<uint64_t>(seed_param_) : ctx.seed();
    for (const std::string& w : set_.warnings) ctx.log().warn("{}", printable(w));
    std::function<void(const ShardError&)> on_count_error;
    if (skip_policy_) {  // a broken plain shard: the records before the break are read
      on_count_error = [&ctx](const ShardError& e) {
        ctx.log().warn("{} (the shard's records from there on are skipped)", printable(e.what()));
        ctx.counter("skipped.shard_errors").add(1);
      };
    }
    count_shard_samples(set_, stream_options_.tar, on_count_error);  // plain shards: headers
    std::string per_split;
    int64_t total = 0;
    for (const std::string& split : splits_) {
      const int64_t items = shard_epoch_items(counts(split), plan_options(split));
      ctx.announce_split_items(split, items);
      per_split += (per_split.empty() ? "" : ", ") + split + " " + std::to_string(items);
      total += items;
    }
    ctx.log().info("{}: {} samples in {} split(s) [{}], {} epoch(s){}", printable(set_.description),
                   total, splits_.size(), per_split, epochs_,
                   options_.shard_count > 1
                       ? " (rank " + std::to_string(options_.shard_rank) + " of " +
                             std::to_string(options_.shard_count) + ", train padded to equal steps)"
                       : "");
    if (total == 0) ctx.log().warn("{}: the selected splits are empty", set_.description);
  }

  bool produce(Emitter& out) override {
    if (!positioned_) position();
    while (epoch_ < epochs_) {
      if (split_ == splits_.size()) {
        out.emit_control(Control{ControlKind::kEndOfEpoch, {}, epoch_});
        ++epoch_;
        split_ = 0;
        return true;
      }
      if (!stream_) start_split();
      Sample s;
      if (stream_->next(s)) {
        s.epoch = epoch_;
        out.emit(std::move(s));
        return true;
      }
      out.emit_control(Control{ControlKind::kEndOfSplit, splits_[split_], epoch_});
      stream_.reset();
      ++split_;
      return true;
    }
    return false;
  }

 private:
  ShardPlanOptions plan_options(const std::string& split) const {
    ShardPlanOptions o = options_;
    o.shuffle = o.shuffle && split == "train";
    o.pad_shards = split == "train";
    return o;
  }

  std::vector<int64_t> counts(const std::string& split) const {
    std::vector<int64_t> out;
    for (const ShardFile* s : set_.of_split(split)) out.push_back(s->samples);
    return out;
  }

  // Sample::index of a record without one in its .json: its position over all listed shards.
  std::vector<StreamShard> stream_shards(const std::string& split) const {
    std::vector<StreamShard> out;
    int64_t first = 0;
    for (const ShardFile& s : set_.shards) {
      if (s.split == split) {
        StreamShard shard;
        shard.path = s.path;
        shard.samples = s.samples;
        shard.first_index = first;
        shard.from_manifest = s.from_manifest;
        shard.bytes = s.bytes;
        shard.has_crc32 = s.has_crc32;
        shard.crc32 = s.crc32;
        out.push_back(shard);
      }
      first += s.samples;
    }
    return out;
  }

  // The labels records may carry: the manifest's schema, or class_names'.
  ShardLabelSchema label_schema(const Params& p) const {
    ShardLabelSchema schema;
    LabelSpec label = set_.label;
    if (label.kind == LabelSpec::Kind::kUnknown && !p.get_strings("class_names").empty()) {
      label = LabelSpec::from_classes("label", p.get_strings("class_names"), "", "");
    }
    schema.kind = label.kind;
    schema.names = label.names.size();
    return schema;
  }

  void position() {
    positioned_ = true;
    start_ = ctx_->start_position();
    epoch_ = std::min(start_.epoch, epochs_);
    if (epoch_ > 0 && epoch_ >= epochs_) {
      ctx_->log().info("nothing to emit: all {} epoch(s) are done (resume)", epochs_);
    } else if (epoch_ > 0 && !start_.mid_epoch()) {
      ctx_->log().info("starting at epoch {} of {}: the epochs before are done (resume)",
                       epoch_ + 1, epochs_);
    }
  }

  void start_split() {
    const std::string& split = splits_[split_];
    ShardEpochPlan plan = plan_shard_epoch(counts(split), epoch_, plan_options(split));
    const int64_t size = plan.stream_size();
    ShardSampleStream::ErrorHandler on_error;
    if (skip_policy_) {
      on_error = [this](const ShardError& e, int64_t lost) {
        ctx_->log().warn("{} (skipped {} sample(s))", printable(e.what()), lost);
        ctx_->counter("skipped.shard_errors").add(1);
        ctx_->counter("skipped.samples").add(lost);
      };
    }
    stream_ =
        std::make_unique<ShardSampleStream>(stream_shards(split), std::move(plan), split,
                                            attributes_, std::move(on_error), stream_options_);
    // Resuming mid-epoch: this rank's share of the samples the position counts as
    // consumed over all ranks, skipped without being emitted (never decoded; the
    // tar data of those before the last one still needed is skipped, not read).
    const int64_t skip = std::min(
        items_to_skip(start_, epoch_, split, options_.shard_rank, options_.shard_count), size);
    if (skip > 0) {
      stream_->skip_emitted(skip);
      ctx_->announce_resumed_items(skip);
      ctx_->counter("resume_skipped").add(skip);
      ctx_->log().info("starting in epoch {} of {} after {} of its {} {} samples (resume)",
                       epoch_ + 1, epochs_, skip, size, split);
    }
  }

  ShardSet set_;
  std::vector<std::string> splits_;
  int64_t epochs_;
  int64_t seed_param_;
  bool skip_policy_;
  ShardStreamOptions stream_options_;
  ShardPlanOptions options_;
  AttributeNames attributes_;
  StageContext* ctx_ = nullptr;
  bool positioned_ = false;
  DataPosition start_;  // where a resumed run starts
  int64_t epoch_ = 0;
  size_t split_ = 0;
  std::unique_ptr<ShardSampleStream> stream_;
};

}  // namespace

void register_shard_index(Registry& r) {
  StageSpec s("shard.index");
  s.doc(
       "WebDataset tar shards (shard.write's, or plain ones) as Samples carrying their image "
       "bytes.",
       "Reads the shards a manifest lists (splits, sample counts, label schema) or those glob "
       "patterns match ({split} in a pattern is each split's name). Per epoch: a shuffled shard "
       "order and a shuffle buffer, keyed on (seed, epoch, rank); each rank reads a contiguous "
       "range of the shard sequence, the train split padded so that every rank takes the same "
       "number of steps. Shards are streamed, never loaded whole; .tmp files are ignored.")
      .source<Sample>()
      .output_spec(shard_index_spec)
      .param(ParamSpec::strings(
          "shards", {}, "tar files or glob patterns (\"data/shards/celeba-{split}-*.tar\")"))
      .param(ParamSpec::string("manifest", "", "shard manifest (manifest.json), instead of shards"))
      .param(ParamSpec::strings("split", {"train"},
                                "split(s) in emission order; \"all\": every split of the manifest")
                 .list_size(1, SIZE_MAX))
      .param(ParamSpec::integer("shuffle_buffer", 1000,
                                "samples held to mix the train split as it streams in (0 or 1: "
                                "shard order only)")
                 .range(0, 1 << 24))
      .param(ParamSpec::strings("class_names", {},
                                "without a manifest: the class names by label id (the label "
                                "schema downstream stages size themselves from)"))
      .param(ParamSpec::string("policy", "fail",
                               "a corrupt or truncated shard, a record whose label the schema "
                               "refuses, a shard whose size, crc32 or count differs from its "
                               "manifest entry: fail the run, or skip (log, count and leave out) "
                               "what cannot be read")
                 .one_of({"fail", "skip"}))
      .param(ParamSpec::integer("max_member_bytes", kDefaultMaxMemberBytes,
                                "largest tar member read (an image, a .json); a larger one is a "
                                "shard error. A compressed shard may also expand to at most " +
                                    std::to_string(kMaxExpansionRatio) + "x its size")
                 .range(1024, kMaxMemberBytesLimit))
      .check(check_shard_index);
  r.add<ShardIndexSource>(index_ordering_params(s));
}

}  // namespace sluice::data

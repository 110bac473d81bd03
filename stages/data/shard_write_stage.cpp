// shard.write: writes the samples it receives into WebDataset tar shards
// (PREFIX-000000.tar, ...; "{split}" in the prefix gives each split its own
// series) with a manifest.json in the shard folder that lists the complete shards,
// the totals per split, the label schema and the resolved config of the run. Per
// sample: KEY.jpg or KEY.png (its encoded bytes, from image.encode; a sample
// without them has its file packed as it is), KEY.json and KEY.cls. The format and
// the crash guarantees: shard_writer.h, docs/data.md "Writing shards".
//
// Serial, ordered input: samples are written in stream order, so a parallel
// decode/encode upstream does not change the shards. A shard folder that already
// has files is refused by `sluice check` unless overwrite = true, which removes
// what an earlier run of this prefix wrote there (and nothing else).
//
// Example config:
//   [stages.write]
//   use = "shard.write"
//   input = "encode"
//   prefix = "shards/celeba-{split}"
//   max_samples = 1000
//   max_bytes = 0
//   overwrite = false
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/config_writer.h"
#include "pipeline/registry.h"
#include "stages/data/data_stages.h"
#include "stages/data/shard_writer.h"

namespace sluice::data {
namespace {

// What a check (or the stage, once running) has against writing into the folder.
std::string folder_conflict(const std::string& stage_id, const std::string& prefix,
                            bool overwrite) {
  const std::vector<std::string> entries = shard_folder_entries(prefix);
  if (entries.empty() || overwrite) return {};
  std::ostringstream os;
  os << "the shard folder '" << shard_folder(prefix) << "' is not empty (";
  for (size_t i = 0; i < entries.size() && i < 5; ++i) os << (i ? ", " : "") << entries[i];
  if (entries.size() > 5) os << ", ... " << entries.size() - 5 << " more";
  os << "); replace the shards of an earlier run with overwrite = true (--set " << stage_id
     << ".overwrite=true; removes only its manifest.json and PREFIX-NNNNNN.tar files), or "
        "write into a new folder";
  return os.str();
}

std::string limits_problem(int64_t max_bytes) {
  if (max_bytes > 0 && max_bytes < kMinShardBytes) {
    return "max_bytes = " + std::to_string(max_bytes) + " is below " +
           std::to_string(kMinShardBytes) +
           " bytes, less than one sample's tar headers; give 0 (no limit) or a larger size";
  }
  return {};
}

void check_shard_write(const ParamCheck& c) {
  const Params& p = c.params();
  const std::string& prefix = p.get_string("prefix");
  if (auto why = shard_prefix_problem(prefix); !why.empty()) {
    c.error("prefix", why);
    return;
  }
  if (auto why = limits_problem(p.get_int("max_bytes")); !why.empty()) c.error("max_bytes", why);
  if (auto why = folder_conflict(c.stage_id(), prefix, p.get_bool("overwrite")); !why.empty()) {
    c.error("prefix", why);
  }
}

void accept_one_pass(const Params&, const ElementSpec& in, SpecContext& ctx) {
  if (in.epochs > 1) {
    ctx.error("", "its input has " + std::to_string(in.epochs) +
                      " epochs, each of which would be written again; write one pass (epochs = 1 "
                      "on the index)");
  }
}

class ShardWriteStage : public Sink {
 public:
  explicit ShardWriteStage(const Params& p) : overwrite_(p.get_bool("overwrite")) {
    options_.prefix = p.get_string("prefix");
    options_.max_samples = p.get_int("max_samples");
    options_.max_bytes = p.get_int("max_bytes");
    if (auto why = shard_prefix_problem(options_.prefix); !why.empty())
      throw std::invalid_argument(why);
    if (auto why = limits_problem(options_.max_bytes); !why.empty())
      throw std::invalid_argument(why);
  }

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    if (auto why = folder_conflict(ctx.id(), options_.prefix, overwrite_); !why.empty()) {
      throw std::runtime_error(why);
    }
    if (overwrite_) {
      const auto removed = remove_shard_files(options_.prefix);
      if (!removed.empty()) {
        ctx.log().info("overwrite: removed {} file(s) of an earlier run from {}", removed.size(),
                       shard_folder(options_.prefix));
      }
    }
    if (!ctx.input_specs().empty()) {
      const ElementSpec& in = ctx.input_specs()[0];
      if (in.label) options_.label = *in.label;
      options_.attributes = in.attributes;
    }
    // The manifest records the config with this stage's overwrite = true turned off.
    options_.config =
        with_overwrite_off(ctx.run_config(), ctx.id(), "rerunning must not remove these shards");
    writer_ = std::make_unique<ShardWriter>(options_);
    samples_ = &ctx.counter("samples");
    shards_ = &ctx.counter("shards");
  }

  void consume(std::any& in) override {
    writer_->write(payload_as<Sample>(in));
    samples_->add();
    sync_shard_count();
  }

  void on_control(const Control& c, Emitter&) override {
    if (c.kind == ControlKind::kEndOfSplit) {
      writer_->close_split(c.split);
      sync_shard_count();
    }
  }

  void finish(Emitter&) override {
    if (!writer_) return;
    writer_->finish(!ctx_->stop_requested());
    sync_shard_count();
    ctx_->log().info("wrote {} samples in {} shard(s); manifest {}", writer_->manifest().samples,
                     writer_->manifest().shards.size(), writer_->manifest_path());
  }

 private:
  void sync_shard_count() {
    const auto n = static_cast<int64_t>(writer_->manifest().shards.size());
    if (n > reported_shards_) shards_->add(n - reported_shards_);
    reported_shards_ = n;
  }

  ShardWriterOptions options_;
  bool overwrite_;
  StageContext* ctx_ = nullptr;
  std::unique_ptr<ShardWriter> writer_;
  Counter* samples_ = nullptr;
  Counter* shards_ = nullptr;
  int64_t reported_shards_ = 0;
};

}  // namespace

void register_shard_write_stage(Registry& r) {
  r.add<ShardWriteStage>(
      StageSpec("shard.write")
          .doc("Writes samples into WebDataset tar shards (KEY.jpg/png, KEY.json, KEY.cls) with a "
               "manifest.json.",
               "Shards are PREFIX-NNNNNN.tar ({split} in the prefix: one series per split), "
               "written to a temporary file (created O_EXCL) and renamed when complete; "
               "manifest.json in the shard "
               "folder lists the complete shards, totals per split, the label schema and the "
               "resolved config. Samples in stream order. Counts 'samples' and 'shards'.")
          .sink<Sample>()
          .ordered()
          .accepts(accept_one_pass)
          .param(ParamSpec::required(
              "prefix", ParamType::kString,
              "shard folder and file-name prefix, e.g. \"shards/celeba-{split}\""))
          .param(ParamSpec::integer("max_samples", 1000, "samples per shard (0: no limit)").min(0))
          .param(ParamSpec::integer("max_bytes", 0, "bytes per shard file (0: no limit)").min(0))
          .param(ParamSpec::boolean("overwrite", false,
                                    "replace the shards of an earlier run in the shard folder"))
          .check(check_shard_write));
}

}  // namespace sluice::data

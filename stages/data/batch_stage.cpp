// image.batch: groups Images of one size into uint8 NHWC Batches, in stream order,
// with labels, sample indices, ids, paths and extra attributes alongside.
// Buffers come from buffer_allocator() (pinned when a CUDA trainer installed
// one) through a small pool, so steady state allocates nothing. A batch never
// spans splits or epochs: end-of-split and end-of-epoch markers flush the
// partial batch (or drop it with drop_last) and are forwarded after it. In a run
// resumed mid-split (StageContext::start_position) the split's batches are numbered
// from the batches its skipped items made, as in the unbroken run.
//
// Example config:
//   [stages.batch]
//   use = "image.batch"
//   input = "augment"
//   batch_size = 32
//   drop_last = false
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "pipeline/registry.h"
#include "stages/data/buffer_pool.h"
#include "stages/data/data_specs.h"
#include "stages/data/data_stages.h"

namespace sluice::data {
namespace {

class BatchStage : public Transform {
 public:
  explicit BatchStage(const Params& p)
      : batch_size_(static_cast<int>(p.get_int("batch_size"))),
        drop_last_(p.get_bool("drop_last")),
        pool_(std::make_shared<BufferPool>()) {}

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    dropped_ = &ctx.counter("dropped_images");
  }

  void process(std::any& in, Emitter& out) override {
    Image& img = payload_as<Image>(in);
    const Sample& s = img.sample;
    if (current_.size > 0 && (s.split != current_.split || s.epoch != current_.epoch)) flush(out);
    if (s.split != split_ || s.epoch != epoch_) {
      split_ = s.split;
      epoch_ = s.epoch;
      next_index_ = first_index(s);
    }
    if (current_.size == 0) start(img);
    if (img.width != current_.width || img.height != current_.height ||
        img.channels != current_.channels) {
      throw std::runtime_error(
          "image is " + std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
          std::to_string(img.channels) + " but the batch holds " + std::to_string(current_.width) +
          "x" + std::to_string(current_.height) + "x" + std::to_string(current_.channels) +
          " images; resize first (image.augment width/height)");
    }
    const size_t bytes = current_.image_bytes();
    std::memcpy(current_.pixels.get() + bytes * static_cast<size_t>(current_.size),
                img.pixels.get(), bytes);
    append_label(s);
    current_.sample_indices.push_back(s.index);
    current_.ids.push_back(s.id);
    current_.paths.push_back(s.path);
    if (!current_.attr_names && s.attr_names) current_.attr_names = s.attr_names;
    current_.attrs.insert(current_.attrs.end(), s.attrs.begin(), s.attrs.end());
    if (++current_.size == batch_size_) emit(out);
  }

  void on_control(const Control& c, Emitter& out) override {
    if (c.kind != ControlKind::kEndOfStream) flush(out);
    if (c.kind == ControlKind::kEndOfSplit || c.kind == ControlKind::kEndOfEpoch) {
      split_.clear();
      next_index_ = 0;
    }
    out.emit_control(c);
  }

  void finish(Emitter& out) override { flush(out); }

 private:
  // One class id, or the K values of a multi-label sample; every image of a
  // batch carries the same number.
  void append_label(const Sample& s) {
    const int width = s.label_values.empty() ? 1 : static_cast<int>(s.label_values.size());
    if (current_.size == 0) current_.label_width = width;
    if (width != current_.label_width) {
      throw std::runtime_error(payload_text(s) + " has " + std::to_string(width) +
                               " label value(s) but the batch holds " +
                               std::to_string(current_.label_width) + " per image");
    }
    if (s.label_values.empty()) {
      current_.labels.push_back(s.label);
    } else {
      current_.labels.insert(current_.labels.end(), s.label_values.begin(), s.label_values.end());
    }
  }

  // The number of the split's first batch: 0, or in a run resumed mid-split the
  // batches the sources' skipped items made up, so batches are numbered as in an
  // unbroken run (a trainer tells done batches from new ones by it).
  int64_t first_index(const Sample& s) {
    if (resume_checked_ || ctx_ == nullptr) return 0;
    const DataPosition at = ctx_->start_position();
    if (!at.mid_epoch() || s.epoch != at.epoch || s.split != at.split) return 0;
    resume_checked_ = true;
    const int64_t skipped = ctx_->resumed_items();
    if (skipped <= 0) return 0;
    if (skipped % batch_size_ != 0) {
      ctx_->log().warn(
          "resumed {} images into {} (epoch {}), not a whole number of batches of {}: batches "
          "are cut differently from the interrupted run's",
          skipped, s.split, s.epoch + 1, batch_size_);
    }
    return skipped / batch_size_;
  }

  void start(const Image& img) {
    current_ = Batch{};
    current_.index = next_index_;
    current_.epoch = img.sample.epoch;
    current_.split = img.sample.split;
    current_.width = img.width;
    current_.height = img.height;
    current_.channels = img.channels;
    current_.normalization = img.normalization;
    current_.pixels = pool_->get(current_.image_bytes() * static_cast<size_t>(batch_size_));
    current_.labels.reserve(batch_size_);
    current_.sample_indices.reserve(batch_size_);
    current_.ids.reserve(batch_size_);
    current_.paths.reserve(batch_size_);
  }

  void emit(Emitter& out) {
    ++next_index_;
    out.emit(std::move(current_));
    current_ = Batch{};
  }

  void flush(Emitter& out) {
    if (current_.size == 0) return;
    if (drop_last_ && current_.size < batch_size_) {
      dropped_->add(current_.size);
      current_ = Batch{};
      return;
    }
    emit(out);
  }

  int batch_size_;
  bool drop_last_;
  std::shared_ptr<BufferPool> pool_;
  StageContext* ctx_ = nullptr;
  Counter* dropped_ = nullptr;
  bool resume_checked_ = false;  // the resumed split started
  Batch current_;
  std::string split_;
  int64_t epoch_ = -1;
  int64_t next_index_ = 0;
};

}  // namespace

void register_batch_stage(Registry& r) {
  r.add<BatchStage>(
      StageSpec("image.batch")
          .doc("Groups same-size Images into uint8 NHWC Batches, in order, never across splits.",
               "Labels, sample indices, ids, paths and attributes travel alongside. End-of-split "
               "and end-of-epoch markers flush the partial batch (dropped with drop_last).")
          .transform<Image, Batch>()
          .output_spec(batch_spec)
          .ordered()
          .param(ParamSpec::integer("batch_size", 32, "images per batch").range(1, 65536))
          .param(ParamSpec::boolean("drop_last", false, "drop a short last batch of each split")));
  r.add_deprecated_alias("batch", "image.batch");  // its name before stages were family.name
}

}  // namespace sluice::data

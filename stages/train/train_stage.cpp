// train.model: trains a classifier on the batches that reach it, in stream order: a
// VGG or ResNet built in (torchvision's names, so exported weights load), or a
// TorchScript module exported from Python (arch = "torchscript", model = FILE;
// stages/train/model.h). train.vgg is the same stage with VGG's model parameters
// (freeze = "features" | "none" | "until" with freeze_until).
// What it learns follows the label schema on its input edge: a binary label one
// sigmoid output, a categorical one N softmax outputs (cross-entropy), a multi-label
// one a sigmoid per attribute (pos_weight weighs each attribute's positives); the
// head sizes itself and the checkpoint records the schema.
// "train" batches take an optimizer step; "validation" batches are scored; at each
// end-of-epoch marker it logs and appends the epoch's metrics (metrics.jsonl,
// metrics.csv), writes the `best` (by the monitored value) and `last` checkpoints
// atomically, and stops the run when early stopping says so. finish() saves `last`
// when training went on after the last save (end of stream, SIGINT). With
// save_every_steps = N it also writes `last` every N optimizer steps, recording the
// position inside the epoch (stages/train/resume_position.h): a resume continues
// there, bit for bit as the unbroken run would have.
//
// Runs never overwrite each other (stages/train/run_dir.h): a fresh run needs an
// empty output_dir; `resume` continues the run in it (metrics rows of epochs past
// the checkpoint are dropped), `overwrite = true` first removes the files a run
// writes there. Every invocation that takes the folder, a resume with nothing
// left to do included, records itself in OUTPUT_DIR/invocations/NNN/
// (pipeline/invocation.h). These rules, the files it reads and freeze = "until"
// are checked by `sluice check` (StageSpec::check) as well as here.
//
// Example configs:
//   [stages.train]
//   use = "train.model"
//   input = "batch"
//   arch = "resnet18"                  # or vgg16, ..., or "torchscript"
//   # model = "resnet18-3.pt"          # arch = "torchscript": tools/export_torchscript.py
//   weights = "resnet18-imagenet.pt"   # tools/export_torchvision_weights.py --arch resnet18
//   freeze = ["conv1.", "bn1.", "layer1."]   # or ["trunk"] (the default), or []
//   output_dir = "runs/flowers"
//
//   [stages.train]
//   use = "train.vgg"
//   input = "batch"
//   arch = "vgg16"
//   head = "replace_last"
//   weights = "vgg16-imagenet.pt"    # tools/export_torchvision_weights.py
//   optimizer = "adam"
//   lr = 1e-4
//   # pos_weight = [1.0, 4.0]          # multi-label: one per attribute of the label
//   # lr_schedule = "cosine"            # or step, plateau (callback_params.h)
//   # warmup_epochs = 1
//   # clip_grad_norm = 1.0
//   # class_weights = [1.0, 3.0]        # categorical: one per class; binary: two
//   monitor = "val_loss"
//   patience = 2
//   output_dir = "runs/celeba-gender"
//   # save_every_steps = 500                   # last.pt every 500 steps too
//   # resume = "runs/celeba-gender/last.pt"   # continue the run in output_dir
//   # overwrite = true                         # or replace it
//
// Launched with WORLD_SIZE > 1 (torchrun), every rank trains on its shard of the index
// with gradients averaged across ranks (stages/train/distributed.h); the epoch's
// metrics are reduced over all ranks, and only rank 0 writes checkpoints, metrics and
// the progress bar. Rank 0 decides early stopping for everyone.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>

#include "pipeline/invocation.h"
#include "pipeline/registry.h"
#include "stages/data/launch_env.h"
#include "stages/train/atomic_file.h"
#include "stages/train/callback_params.h"
#include "stages/train/class_names.h"
#include "stages/train/distributed.h"
#include "stages/train/distributed_validation.h"
#include "stages/train/early_stopping.h"
#include "stages/train/label_metrics.h"
#include "stages/train/metrics.h"
#include "stages/train/model_config.h"
#include "stages/train/model_params.h"
#include "stages/train/progress.h"
#include "stages/train/resume_position.h"
#include "stages/train/run_dir.h"
#include "stages/train/stage_params.h"
#include "stages/train/train_choices.h"
#include "stages/train/train_specs.h"
#include "stages/train/train_stages.h"
#include "stages/train/trainer.h"

namespace sluice::train {
namespace {

std::string fixed(double v, int digits = 4) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// The epochs the input stream holds (0: not known).
int64_t stream_epochs(const std::vector<ElementSpec>& inputs) {
  int64_t epochs = 0;
  for (const ElementSpec& in : inputs) epochs = std::max(epochs, in.epochs);
  return epochs;
}

class TrainVgg : public Sink {
 public:
  explicit TrainVgg(const Params& p)
      : params_(p),
        output_dir_(p.get_string("output_dir")),
        train_split_(p.get_string("train_split")),
        validation_split_(p.get_string("validation_split")),
        early_stopping_(canonical_metric_name(p.get_string("monitor")),
                        monitor_mode_choices().parse(p.get_string("mode")), p.get_int("patience"),
                        p.get_float("min_delta")),
        save_best_(p.get_bool("save_best")),
        save_every_steps_(p.get_int("save_every_steps")) {}

  void open(StageContext& ctx) override {
    ctx_ = &ctx;
    const LaunchEnv launch = launch_env_from_environment();
    world_size_ = launch.world_size;
    if (!ctx.input_specs().empty()) batch_size_ = ctx.input_specs()[0].batch_size;
    if (launch.rank == 0) claim_output_dir(ctx);
    TrainerConfig config;
    config.model = model_config_from(params_);
    const LabelSpec label = trained_label(ctx.input_specs());
    size_head(label, config);
    apply_callback_params(params_, config);
    config.optimizer = optimizer_config_from(params_);
    schedule_ = std::make_unique<LrSchedule>(
        lr_schedule_config_from(params_, config.optimizer.lr, stream_epochs(ctx.input_specs())));
    apply_device_params(params_, config);
    config.seed = params_.has("seed") ? static_cast<uint64_t>(params_.get_int("seed")) : ctx.seed();
    Distributed::assign_local_device(config, launch);
    trainer_ = std::make_unique<Trainer>(config);
    if (trainer_->on_cuda()) {
      if (auto pinned = make_pinned_allocator()) set_buffer_allocator(pinned);
    }
    const std::string& weights = params_.get_string("weights");
    if (!weights.empty()) {
      require_file("weights", weights);
      trainer_->load_pretrained(weights);
      ctx.log().info("loaded weights from {}", weights);
    }
    const std::string& resume = params_.get_string("resume");
    if (!resume.empty()) {
      require_file("resume", resume);
      state_ = trainer_->load_checkpoint(resume);
      early_stopping_.restore(state_.early_stopping);
      schedule_->restore(state_.lr_schedule);
      saved_epochs_ = state_.epoch;
      resume_mid_epoch(ctx, resume);
      const int64_t epochs = stream_epochs(ctx.input_specs());
      if (epochs > 0 && state_.epoch >= epochs) {
        // Nothing is trained, nothing is written: the run stops before its sources read.
        nothing_to_do_ = stopped_ = true;
        ctx.log().info("nothing to do: all {} epoch(s) are done in {}", epochs, output_dir_);
        ctx.request_stop();
      }
    }
    validation_ = std::make_unique<LabelMetrics>(
        config.label_kind, output_names(label, static_cast<size_t>(config.model.num_classes)));
    if (launch.distributed()) {
      dist_ = std::make_unique<Distributed>(launch, DistributedOptions::from_environment(),
                                            trainer_->on_cuda());
      dist_->broadcast_model(*trainer_);
      dist_->attach(*trainer_);
      ctx.log().info("distributed: rank {} of {} (local rank {}), {} backend, weights from rank 0",
                     launch.rank, launch.world_size, launch.local_rank, dist_->backend());
    }
    record_contract(ctx.input_specs());
    // The whole pipeline goes with the checkpoints, and beside them as config.toml.
    // It names this output_dir, so `sluice run OUTPUT_DIR/config.toml` is refused
    // rather than writing over this run (recorded_config also drops overwrite).
    state_.config_text = recorded_config(ctx.run_config(), ctx.id());
    if (root()) {
      const std::string record = start_invocation_record(output_dir_, invocation_kind(),
                                                         state_.config_text, !nothing_to_do_);
      ctx.log().debug("this invocation is recorded in {}", record);
    }
    if (root() && !nothing_to_do_) {
      std::filesystem::create_directories(output_dir_);
      log_ = std::make_unique<MetricsLog>(output_dir_);
      if (!resume.empty()) {
        if (const int64_t dropped = log_->keep_epochs(state_.epoch)) {
          ctx.log().info("metrics: dropped {} row(s) of epochs after {} (redone by this run)",
                         dropped, state_.epoch);
        }
      }
      write_file_atomically((std::filesystem::path(output_dir_) / "config.toml").string(),
                            state_.config_text);
    }
    // A bar on a terminal; off one (a log file, CI), a plain line every
    // progress_interval seconds.
    const auto interval = std::chrono::milliseconds(
        static_cast<int64_t>(std::llround(params_.get_float("progress_interval") * 1000.0)));
    progress_ = std::make_unique<Progress>(
        root() && Progress::is_terminal(stderr),
        [this](const std::string& line) {
          if (root()) ctx_->log().info(line);
        },
        interval);
    skipped_ = &ctx.counter("skipped_batches");
    ctx.log().info(
        "{} ({} head, width/{}, {} output(s) for a {} label) on {}{}: {} parameters, {} "
        "trainable",
        config.model.arch, head_name(config.model.head), config.model.width_divisor,
        config.model.num_classes, label_kind_name(config.label_kind), trainer_->device_name(),
        trainer_->bf16()   ? " bf16"
        : trainer_->fp16() ? " fp16"
                           : "",
        trainer_->parameter_count(), trainer_->parameter_count(true));
  }

  void consume(std::any& in) override {
    Batch& batch = payload_as<Batch>(in);
    if (batch.epoch < state_.epoch || stopped_ || done_before_resume(batch)) {
      skipped_->add();  // done before a resume, or after a stop
      return;
    }
    record_input(batch);
    if (batch.split == train_split_) {
      if (!in_epoch_) start_epoch(batch.epoch);
      if (batch_size_ <= 0) batch_size_ = batch.size;
      if (batch.size < batch_size_) short_batch_ = true;
      log_step_samples(batch);
      const auto r = train_step(batch);
      ++state_.step;
      if (dist_ && dist_->options().check) dist_->verify_parameters(*trainer_, state_.step);
      dirty_ = true;
      train_loss_ += r.loss_sum;
      train_correct_ += r.correct;
      train_count_ += r.count;
      train_decisions_ += r.decisions;
      ++train_batches_;
      progress_->update(train_batches_, train_count_,
                        "loss " + fixed(train_loss_ / train_count_) + " accuracy " +
                            fixed(static_cast<double>(train_correct_) / train_decisions_));
      report_step(r.loss_sum, r.correct, r.count, r.decisions);
      if (save_every_steps_ > 0 && state_.step % save_every_steps_ == 0) save_step();
    } else if (batch.split == validation_split_) {
      if (!in_epoch_) start_epoch(batch.epoch);
      if (val_batches_ == 0) start_phase(validation_split_, last_val_batches_);
      double loss_sum = 0.0;
      const auto probs = trainer_->predict(batch, &loss_sum);
      ++val_batches_;
      val_count_ += batch.size;
      progress_->update(val_batches_, val_count_, "");
      if (dist_) {
        dist_validation_.add(probs, batch, loss_sum);
      } else {
        validation_->add_batch(probs, batch.labels, batch.attr_names, batch.attrs);
        validation_->add_loss(loss_sum, batch.size);
      }
    } else {
      skipped_->add();
    }
  }

  void on_control(const Control& c, Emitter&) override {
    if (c.kind == ControlKind::kEndOfSplit &&
        (c.split == train_split_ || c.split == validation_split_)) {
      progress_->finish();
    }
    if (c.kind == ControlKind::kEndOfEpoch && in_epoch_ && c.epoch == epoch_) end_epoch();
  }

  void finish(Emitter&) override {
    progress_->finish();
    if (dirty_ && in_epoch_ && !dist_ && val_batches_ == 0 && !short_batch_) {
      state_.progress = epoch_progress();  // exactly where the epoch stopped
    } else if (in_epoch_ && train_count_ > 0) {
      ctx_->log().warn("stream ended inside epoch {}: saving last with {} epoch(s) complete",
                       epoch_ + 1, state_.epoch);
    }
    if (dirty_ && !failed_) save("last");
    if (dist_) {
      ctx_->log().info("distributed: {:.2f} s in gradient all-reduce waits over {} steps{}",
                       dist_->gradient_sync_seconds(), state_.step,
                       dist_->options().check
                           ? ", parameters identical to rank 0's after " +
                                 std::to_string(dist_->verified_steps()) + " step(s)"
                           : "");
    }
    if (nothing_to_do_) return;  // open() said so
    ctx_->log().info("training done: {} epoch(s), {} steps; checkpoints in {}", state_.epoch,
                     state_.step, output_dir_);
  }

 private:
  // The sources skip the finished epochs and, from a mid-epoch checkpoint, the
  // samples of its epoch that were trained on; consume() still drops their batches
  // should a source emit them anyway.
  void resume_mid_epoch(StageContext& ctx, const std::string& resume) {
    const std::string problem =
        resume_position_problem(resume, state_, train_split_, batch_size_, world_size_);
    if (!problem.empty()) throw std::runtime_error("resume: " + problem);
    ctx.request_start_position(resume_position(state_));
    resumed_ = state_.progress;
    if (resumed_.mid_epoch()) {
      ctx.log().info(
          "resumed from {}: {} epoch(s) done, {} steps; epoch {} continues after {} step(s) ({} "
          "samples over {} rank(s))",
          resume, state_.epoch, state_.step, state_.epoch + 1, resumed_.batches, resumed_.samples,
          resumed_.world_size);
    } else {
      ctx.log().info("resumed from {}: {} epoch(s) done, {} steps", resume, state_.epoch,
                     state_.step);
    }
    state_.progress = EpochProgress{};
  }

  // A train batch of the resumed epoch that the checkpoint had already trained on
  // (image.batch numbers them as an unbroken run would).
  bool done_before_resume(const Batch& batch) const {
    return resumed_.mid_epoch() && batch.epoch == state_.epoch && batch.split == train_split_ &&
           batch.index < resumed_.batches;
  }

  // In the resumed epoch, the train metrics the checkpoint had summed so far: all of
  // them on rank 0, which sums the ranks' at the epoch's end.
  void restore_epoch_progress(int64_t epoch) {
    if (!resumed_.mid_epoch() || epoch != state_.epoch) return;
    train_batches_ = resumed_.batches;
    if (!root()) return;
    train_loss_ = resumed_.loss_sum;
    train_correct_ = resumed_.correct;
    train_count_ = resumed_.count;
    train_decisions_ = resumed_.decisions;
  }

  // Where this epoch's training is: global batches and samples, and its train
  // metrics summed over ranks (a collective: every rank calls it at the same step).
  EpochProgress epoch_progress() {
    EpochProgress p;
    p.split = train_split_;
    p.batches = train_batches_;
    p.world_size = world_size_;
    p.global_batch = batch_size_ * world_size_;
    p.samples = p.batches * p.global_batch;
    std::vector<double> sums = {train_loss_, static_cast<double>(train_correct_),
                                static_cast<double>(train_count_),
                                static_cast<double>(train_decisions_)};
    if (dist_) dist_->sum(sums);
    p.loss_sum = sums[0];
    p.correct = static_cast<int64_t>(sums[1]);
    p.count = static_cast<int64_t>(sums[2]);
    p.decisions = static_cast<int64_t>(sums[3]);
    return p;
  }

  // Every save_every_steps steps: `last` with the position inside the epoch. (The
  // validation scores of a split that came before the train split in the epoch are
  // not kept: a resume scores it again.)
  void save_step() {
    state_.progress = epoch_progress();
    save("last");
    state_.progress = EpochProgress{};
  }

  // At debug level, the samples of every train step (what an unbroken run and a
  // resumed one are compared by).
  void log_step_samples(const Batch& batch) const {
    if (!ctx_->log().should_log(spdlog::level::debug)) return;
    std::string ids;
    for (const std::string& id : batch.ids) ids += (ids.empty() ? "" : " ") + id;
    ctx_->log().debug("step {}: epoch {} {} batch {}: {}", state_.step + 1, batch.epoch + 1,
                      batch.split, batch.index, ids);
  }

  // What this invocation does with its run folder, as its record says.
  std::string invocation_kind() const {
    if (nothing_to_do_) return "nothing to do";
    if (!params_.get_string("resume").empty()) return "resume";
    return params_.get_bool("overwrite") ? "overwrite" : "fresh";
  }

  // The rule of run_dir.h, checked again where the files are written; with
  // overwrite = true, removes the previous run's files first.
  void claim_output_dir(StageContext& ctx) {
    const RunDirRequest request{ctx.id(), output_dir_, params_.get_string("resume"),
                                params_.get_bool("overwrite")};
    const std::string conflict = output_dir_conflict(request);
    if (!conflict.empty()) throw std::runtime_error(conflict);
    for (const std::string& name : remove_stale_temporaries(output_dir_)) {
      ctx.log().info("removed {}, left by a write that was killed", name);
    }
    if (request.overwrite) {
      const auto removed = remove_run_files(output_dir_);
      if (!removed.empty()) {
        ctx.log().info("overwrite: removed the previous run's {} file(s) from {}", removed.size(),
                       output_dir_);
      }
    }
  }

  // The label the head is sized for: the input's schema, else (resuming a run whose
  // pipeline does not state one) the checkpoint's; unknown trains one binary output.
  LabelSpec trained_label(const std::vector<ElementSpec>& inputs) const {
    for (const ElementSpec& in : inputs) {
      if (in.label && in.label->kind != LabelSpec::Kind::kUnknown) return *in.label;
    }
    const std::string& resume = params_.get_string("resume");
    if (!resume.empty() && std::filesystem::is_regular_file(resume)) {
      return read_checkpoint_info(resume).state.label;
    }
    return {};
  }

  // Binary: one output; categorical: one per class; multi-label: one per attribute
  // (the ImageNet head keeps its 1000).
  void size_head(const LabelSpec& label, TrainerConfig& config) const {
    config.label_kind =
        label.kind == LabelSpec::Kind::kUnknown ? LabelSpec::Kind::kBinary : label.kind;
    if (config.model.head != Head::kImagenet) config.model.num_classes = label_outputs(label);
    config.pos_weight = params_.get_floats("pos_weight");
  }

  // The label schema and the name of the pixel scaling, as validation computed them
  // for the input, go with the checkpoints (a label the pipeline does not state
  // keeps a resumed checkpoint's).
  void record_contract(const std::vector<ElementSpec>& inputs) {
    for (const ElementSpec& in : inputs) {
      if (in.label && in.label->kind != LabelSpec::Kind::kUnknown) {
        state_.label = *in.label;
        state_.label.from_stage.clear();
        state_.label.from_param.clear();
      }
      if (in.image) input_spec_ = *in.image;
    }
  }

  void record_input(const Batch& b) {
    if (state_.input.height == 0) {
      state_.input.height = b.height;
      state_.input.width = b.width;
      state_.input.channels = b.channels;
      state_.input.normalization = b.normalization;
      if (input_spec_ && input_spec_->normalization.kind == b.normalization.kind) {
        state_.input.normalization_name = input_spec_->normalization_name;
      }
    }
  }

  void start_epoch(int64_t epoch) {
    in_epoch_ = true;
    epoch_ = epoch;
    started_ = std::chrono::steady_clock::now();
    train_loss_ = 0.0;
    train_correct_ = train_count_ = train_decisions_ = train_batches_ = 0;
    validation_->reset();
    dist_validation_.clear();
    val_batches_ = val_count_ = 0;
    short_batch_ = false;
    restore_epoch_progress(epoch);
    start_phase(train_split_, last_train_batches_);
  }

  // The bar of one split of the epoch: against the batches the last epoch had, or,
  // in the first, the estimate from the items the sources announced.
  void start_phase(const std::string& split, int64_t last_batches) {
    progress_->finish();
    int64_t total = last_batches;
    bool estimated = false;
    const int64_t items = ctx_->split_items(split);
    if (total == 0 && items > 0 && batch_size_ > 0) {
      total = (items + batch_size_ - 1) / batch_size_;
      estimated = true;
    }
    progress_->start("epoch " + std::to_string(epoch_ + 1) + " " + split, total, estimated);
  }

  void end_epoch() {
    in_epoch_ = false;
    progress_->finish();
    last_train_batches_ = train_batches_;
    last_val_batches_ = val_batches_;
    if (dist_) reduce_epoch();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    const ValidationScores val = validation_->scores();
    const double loss = train_count_ ? train_loss_ / train_count_ : NAN;
    const double acc =
        train_decisions_ ? static_cast<double>(train_correct_) / train_decisions_ : NAN;
    const double n_images = static_cast<double>(train_count_ + val.count);
    using M = EpochMetric;
    EpochRecord record;
    record.set(M::kEpoch, static_cast<double>(epoch_ + 1));
    record.set(M::kLoss, loss);
    record.set(M::kAccuracy, acc);
    if (val.count) {
      record.set(M::kValLoss, val.loss);
      record.set(M::kValAccuracy, val.accuracy);
      record.set(M::kValPrecision, val.precision);
      record.set(M::kValRecall, val.recall);
      record.set(M::kValF1, val.f1);
      record.set(M::kValAuc, val.auc);
      record.set(M::kValTop5Accuracy, val.top5);
    }
    record.set(M::kTrainImages, static_cast<double>(train_count_));
    record.set(M::kValImages, static_cast<double>(val.count));
    record.set(M::kImagesPerSecond, seconds > 0 ? n_images / seconds : NAN);
    record.set(M::kSeconds, seconds);
    record.set(M::kLearningRate, trainer_->learning_rate());
    state_.epoch = epoch_ + 1;
    state_.progress = EpochProgress{};
    state_.progress.world_size = world_size_;
    state_.progress.global_batch = batch_size_ * world_size_;
    resumed_ = EpochProgress{};
    if (log_) log_->write(record);
    if (root()) ctx_->live().add_epoch(record.items());
    if (root()) ctx_->log().info(record.log_line(Progress::format_duration(seconds)));
    if (schedule_->end_epoch(record.get(schedule_->config().monitor)) && root()) {
      ctx_->log().info("{} did not improve for {} epoch(s): learning rate lowered to {}",
                       schedule_->config().monitor, schedule_->config().patience,
                       schedule_->lr(epoch_ + 1, state_.step));
    }
    state_.lr_schedule = schedule_->state();
    if (!trainer_->parameters_finite()) stop_on_non_finite("non-finite weights", state_.step);
    const double monitored = record.get(early_stopping_.monitor());
    EarlyStopping::Decision decision;
    if (std::isnan(monitored)) {
      ctx_->log().warn("monitor '{}' has no value this epoch (no {} batches?): not deciding",
                       early_stopping_.monitor(), validation_split_);
    } else {
      decision = early_stopping_.update(epoch_ + 1, monitored);
    }
    if (dist_) decision.stop = dist_->broadcast_flag(decision.stop);
    state_.early_stopping = early_stopping_.state();
    if (decision.improved && save_best_ && root()) {
      save("best");
      ctx_->log().info("{} improved to {}: saved best", early_stopping_.monitor(),
                       fixed(monitored));
    } else if (decision.improved) {
      ctx_->log().debug("{} improved to {}: best not saved (save_best = false)",
                        early_stopping_.monitor(), fixed(monitored));
    } else if (!std::isnan(monitored)) {
      ctx_->log().debug(
          "{} {} did not improve on best {} (epoch {}): best.pt kept; {} of patience {}",
          early_stopping_.monitor(), fixed(monitored), fixed(state_.early_stopping.best),
          state_.early_stopping.best_epoch, state_.early_stopping.wait,
          params_.get_int("patience"));
    }
    save("last");
    if (decision.stop) {
      stopped_ = true;
      ctx_->log().info("early stopping: {} did not improve for {} epoch(s); best {} at epoch {}",
                       early_stopping_.monitor(), state_.early_stopping.wait,
                       fixed(state_.early_stopping.best), state_.early_stopping.best_epoch);
      ctx_->request_stop();
    }
  }

  // For the live dashboard (StageContext::live): this batch's loss and accuracy, and
  // how far the epoch is (its length is the previous epoch's, unknown in the first).
  void report_step(double loss_sum, int64_t correct, int64_t count, int64_t decisions) {
    if (!root() || count <= 0 || decisions <= 0) return;
    ctx_->live().add_step(state_.step, {{"loss", loss_sum / static_cast<double>(count)},
                                        {"accuracy", static_cast<double>(correct) / decisions}});
    ctx_->live().set_progress("epoch " + std::to_string(epoch_ + 1) + " train", train_batches_,
                              last_train_batches_, epoch_ + 1);
  }

  bool root() const { return !dist_ || dist_->is_root(); }

  // One optimizer step at the schedule's rate; a NaN or infinite loss ends the run.
  StepResult train_step(const Batch& batch) {
    if (schedule_->kind() != LrScheduleKind::kNone) {
      trainer_->set_learning_rate(schedule_->lr(batch.epoch, state_.step));
    }
    try {
      return trainer_->train_step(batch);
    } catch (const NonFiniteLoss& e) {
      stop_on_non_finite(e.what(), state_.step + 1);
    }
  }

  // As Keras' TerminateOnNaN: the run fails with one line naming the epoch and step,
  // and nothing more is saved, so the checkpoints on disk keep their finite weights.
  [[noreturn]] void stop_on_non_finite(const std::string& what, int64_t step) {
    failed_ = stopped_ = true;
    progress_->finish();
    const std::string last = output_dir_ + "/last.pt";
    const std::string kept = std::filesystem::is_regular_file(last)
                                 ? "the last good checkpoint " + last + " (" +
                                       std::to_string(saved_epochs_) + " epoch(s)) is kept"
                                 : "no checkpoint was written";
    throw std::runtime_error(what + " in epoch " + std::to_string(epoch_ + 1) + " at step " +
                             std::to_string(step) + ": training stopped; " + kept);
  }

  // Sums the epoch's train counters over ranks and gathers the validation rows.
  void reduce_epoch() {
    std::vector<double> sums = {train_loss_, static_cast<double>(train_correct_),
                                static_cast<double>(train_count_),
                                static_cast<double>(train_decisions_)};
    dist_->sum(sums);
    train_loss_ = sums[0];
    train_correct_ = static_cast<int64_t>(sums[1]);
    train_count_ = static_cast<int64_t>(sums[2]);
    train_decisions_ = static_cast<int64_t>(sums[3]);
    dist_validation_.gather_into(*dist_, *validation_);
  }

  void save(const std::string& name) {
    if (!root()) {  // rank 0 writes checkpoints
      if (name == "last") dirty_ = false;
      return;
    }
    trainer_->save_checkpoint(output_dir_ + "/" + name + ".pt", state_);
    if (name == "last") saved_epochs_ = state_.epoch;
    ctx_->log().debug("saved {}/{}.pt ({} epoch(s), {} steps)", output_dir_, name, state_.epoch,
                      state_.step);
    if (name == "last") dirty_ = false;
  }

  Params params_;
  std::string output_dir_, train_split_, validation_split_;
  EarlyStopping early_stopping_;
  bool save_best_;
  int64_t save_every_steps_;  // 0: at epoch ends only
  StageContext* ctx_ = nullptr;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<Distributed> dist_;  // declared after trainer_: detaches first
  std::unique_ptr<MetricsLog> log_;
  std::unique_ptr<Progress> progress_;
  Counter* skipped_ = nullptr;
  TrainingState state_;
  std::optional<ImageSpec> input_spec_;  // what validation said the images are
  std::unique_ptr<LabelMetrics> validation_;
  bool in_epoch_ = false, dirty_ = false, stopped_ = false;
  bool failed_ = false;       // a non-finite loss: nothing more is saved
  int64_t saved_epochs_ = 0;  // epochs in the last.pt this run wrote
  std::unique_ptr<LrSchedule> schedule_;
  int64_t epoch_ = 0;
  std::chrono::steady_clock::time_point started_;
  double train_loss_ = 0.0;
  int64_t train_correct_ = 0, train_count_ = 0, train_decisions_ = 0, train_batches_ = 0,
          last_train_batches_ = 0;
  int64_t val_batches_ = 0, val_count_ = 0, last_val_batches_ = 0;
  int64_t batch_size_ = 0;  // images per batch, as validation computed it (0: unknown)
  int64_t world_size_ = 1;
  EpochProgress resumed_;       // where a mid-epoch checkpoint stopped
  bool short_batch_ = false;    // a train batch below batch_size this epoch (ends its split)
  bool nothing_to_do_ = false;  // resumed with every epoch done
  DistributedValidation dist_validation_;
};

// The run-folder rule at check time. Only the rank that writes (rank 0) checks:
// other ranks of a distributed run may see another filesystem.
void check_output_dir(const ParamCheck& c) {
  const Params& p = c.params();
  if (p.get_bool("overwrite") && !p.get_string("resume").empty()) {
    c.error("overwrite",
            "overwrite = true would remove the run that resume continues; set one of them");
    return;
  }
  if (launch_env_from_environment().rank != 0) return;
  const RunDirRequest request{c.stage_id(), p.get_string("output_dir"), p.get_string("resume"),
                              p.get_bool("overwrite")};
  const std::string conflict = output_dir_conflict(request);
  if (!conflict.empty()) c.error("output_dir", conflict);
}

// Frozen layers that start from random values never learn: the model trains its
// head on random features (the CelebA recipe with `--set train.weights=`). A
// warning at check time, not an error: a frozen random trunk is a legitimate
// baseline. A resume brings its own weights; a TorchScript file carries its own.
void warn_frozen_without_weights(const ParamCheck& c) {
  const Params& p = c.params();
  if (!p.get_string("weights").empty() || !p.get_string("resume").empty()) return;
  std::string frozen;
  if (p.has("model")) {  // train.model: freeze is a list, [] for none
    const auto& freeze = p.get_strings("freeze");
    if (p.get_string("arch") == kTorchscriptArch || freeze.empty()) return;
    for (const auto& f : freeze) frozen += (frozen.empty() ? "\"" : ", \"") + f + "\"";
    frozen = "freeze = [" + frozen + "]";
  } else {
    if (p.get_string("freeze") == "none") return;
    frozen = "freeze = \"" + p.get_string("freeze") + "\"";
  }
  spdlog::warn(
      "stage '{}': {} without weights: the frozen layers keep their random initial values "
      "and never learn; give weights = FILE (tools/export_torchvision_weights.py writes one) "
      "or train every layer with freeze = {}",
      c.stage_id(), frozen, p.has("model") ? "[]" : "\"none\"");
}

// train.vgg and train.model differ in their model parameters (add_model).
void register_trainer(Registry& registry, const std::string& name, const std::string& summary,
                      void (*add_model)(StageSpec&)) {
  StageSpec spec(name);
  spec.doc(summary,
           "Steps on batches of the train split, scores the validation split, and at each "
           "end of epoch writes metrics.jsonl/metrics.csv, the best and last checkpoints "
           "(atomically) and decides early stopping. Resume with resume = CHECKPOINT.")
      .sink<Batch>()
      .accepts(train_vgg_accepts)
      .ordered();
  add_model(spec);
  spec.param(ParamSpec::string("weights", "",
                               "pretrained weights: a torch.save'd dict of tensors "
                               "(tools/export_torchvision_weights.py); empty = random init"));
  check_file_param(spec, "weights");
  spec.check(warn_frozen_without_weights);
  add_optimizer_params(spec);
  add_callback_params(spec);
  add_device_params(spec);
  spec.param(ParamSpec::string("monitor", "val_loss",
                               "metric for early stopping and best, named as in metrics.csv "
                               "(acc, val_acc: aliases of accuracy, val_accuracy)")
                 .one_of(monitor_names()))
      .param(ParamSpec::string("mode", "auto", "min, max, or auto (from the metric's name)")
                 .one_of(monitor_mode_choices().names()))
      .param(ParamSpec::integer("patience", 2,
                                "epochs without improvement before stopping "
                                "(0 = never stop)")
                 .min(0))
      .param(
          ParamSpec::number("min_delta", 0.0, "smallest change that counts as improvement").min(0))
      .param(ParamSpec::boolean("save_best", true, "write best.pt when the monitor improves"))
      .param(ParamSpec::string("output_dir", "runs/train",
                               "where metrics, checkpoints (best.pt, last.pt) and config.toml "
                               "go; must be empty or new unless resuming or overwriting"))
      .param(ParamSpec::string("resume", "",
                               "checkpoint to continue from (what it has done is skipped: "
                               "epochs, and from a mid-epoch checkpoint the samples it trained "
                               "on)"))
      .param(ParamSpec::integer("save_every_steps", 0,
                                "also write last.pt every N optimizer steps, with the position "
                                "in the epoch, so a resume continues from there (0: at epoch "
                                "ends only)")
                 .min(0))
      .param(ParamSpec::boolean("overwrite", false,
                                "replace the run in output_dir: removes the files a run writes "
                                "there (best.pt, last.pt, metrics.*, config.toml), nothing else"))
      .param(ParamSpec::number("progress_interval", 10.0,
                               "seconds between progress lines when stderr is not a terminal "
                               "(on a terminal a bar is redrawn in place)")
                 .range(0, 86400))
      .param(ParamSpec::numbers("pos_weight", {},
                                "weight of the positive class in the binary cross-entropy, one "
                                "per attribute of a multi-label label (one for a binary label); "
                                "empty: 1 each")
                 .min(0))
      .param(ParamSpec::string("train_split", "train", "split that is trained on"))
      .param(ParamSpec::string("validation_split", "validation", "split that is scored"))
      .param(ParamSpec::optional("seed", ParamType::kInt,
                                 "model init and dropout seed (default: from the run seed)"));
  check_file_param(spec, "resume");
  spec.check(check_output_dir);
  registry.add<TrainVgg>(std::move(spec));
}

}  // namespace

void register_train_vgg(Registry& registry) {
  register_trainer(registry, "train.vgg",
                   "Trains a VGG classifier (binary, categorical or multi-label, from the label "
                   "schema) with early stopping and checkpoints.",
                   add_model_params);
  register_trainer(registry, "train.model",
                   "Trains a VGG, a ResNet or a TorchScript model as a classifier (binary, "
                   "categorical or multi-label, from the label schema) with early stopping and "
                   "checkpoints.",
                   add_any_model_params);
}

void register_train_stages(Registry& registry) {
  register_train_vgg(registry);
  register_eval_stages(registry);
}

}  // namespace sluice::train

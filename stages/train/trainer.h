// The training core behind train.model (train.vgg), eval.classifier and `sluice predict`:
// a model (model.h: VGG, ResNet or TorchScript) on a device, an optimizer, uint8 NHWC batches
// normalised on the device, steps, predictions and checkpoints. This header has no Torch includes,
// so stages that drive the trainer compile fast; trainer.cpp is where Torch lives.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/element_spec.h"
#include "stages/train/atomic_file.h"
#include "stages/train/early_stopping.h"
#include "stages/train/lr_schedule.h"
#include "stages/train/vgg_config.h"
#include "vision/payloads.h"

namespace sluice::train {

class Model;

struct OptimizerConfig {
  std::string name = "adam";  // adam | sgd
  double lr = 1e-4;
  double beta1 = 0.9;  // adam
  double beta2 = 0.999;
  double weight_decay = 0.0;
  double momentum = 0.9;  // sgd
  bool nesterov = false;
};

struct TrainerConfig {
  VggConfig model;
  OptimizerConfig optimizer;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  // auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16 (CPU: LibTorch 2.x) | fp16 (CUDA, with
  // dynamic loss scaling)
  std::string precision = "auto";
  // fp16: good steps in a row before the loss scale doubles (torch's GradScaler
  // growth_interval).
  int64_t loss_scale_growth_interval = 2000;
  bool channels_last = true;    // CUDA only
  bool cudnn_benchmark = true;  // CUDA only
  uint64_t seed = 0;            // model init and dropout
  // What the outputs learn (from the label schema on the edge, or the checkpoint's):
  // binary or unknown: one sigmoid output; categorical: softmax over N outputs,
  // cross-entropy; multi-label: one sigmoid per attribute, binary cross-entropy each.
  LabelSpec::Kind label_kind = LabelSpec::Kind::kBinary;
  // Binary cross-entropy weight of the positive class, per output (multi-label: one
  // per attribute; binary: one); empty = 1 for every output.
  std::vector<double> pos_weight;
  // Training loss weight per class (Keras' class_weight): categorical: one per class,
  // the cross-entropy's weights; binary: [weight of label 0, weight of label 1], each
  // image's binary cross-entropy times its class's. Empty = 1 each. Validation loss
  // is not weighted.
  std::vector<double> class_weights;
  // Rescales the gradients so their global L2 norm is at most this before each
  // optimizer step; 0 = no clipping.
  double clip_grad_norm = 0.0;
};

// A training step whose loss is NaN or infinite (the optimizer step is not taken).
class NonFiniteLoss : public std::runtime_error {
 public:
  NonFiniteLoss(double loss, const std::string& message);
  explicit NonFiniteLoss(double loss);
  // This rank's loss was finite but another rank's was not (data-parallel training).
  static NonFiniteLoss on_another_rank(double loss);
  double loss() const { return loss_; }

 private:
  double loss_;
};

// Why `precision` cannot run on `device` with this LibTorch ("" when it can): bf16
// on the CPU needs LibTorch 2.x, fp16 needs CUDA. "auto" as the device counts as the
// CPU when no CUDA device is visible.
std::string precision_problem(const std::string& precision, const std::string& device);

// The image geometry and pixel scaling the model was trained on, kept in checkpoints
// so prediction preprocesses exactly as training did (without augmentation).
// height == 0: not known (a checkpoint saved before its first batch).
struct InputSpec {
  int height = 0;
  int width = 0;
  int channels = 3;
  Normalization normalization;
  std::string normalization_name;  // "imagenet" when the spec named it; empty otherwise
};

// How far into epoch `TrainingState::epoch` a checkpoint was written (every
// save_every_steps optimizer steps): the train split's global batches and samples
// consumed, over all ranks, and the partial epoch's train metrics summed over ranks,
// so a resumed run ends the epoch with the numbers of an unbroken one. All zero at
// an epoch boundary.
struct EpochProgress {
  std::string split;         // the split trained on
  int64_t batches = 0;       // global batches (optimizer steps) of `split` done this epoch
  int64_t samples = 0;       // global samples they held: batches x global_batch
  int64_t world_size = 1;    // ranks of the run that wrote the checkpoint
  int64_t global_batch = 0;  // images per optimizer step over all ranks (0: not known)
  double loss_sum = 0.0;     // the epoch's train metrics so far, over all ranks
  int64_t correct = 0, count = 0, decisions = 0;
  bool mid_epoch() const { return batches > 0; }
};

// Everything besides weights and optimizer that a checkpoint restores.
struct TrainingState {
  int64_t epoch = 0;       // epochs completed
  int64_t step = 0;        // optimizer steps taken
  EpochProgress progress;  // inside epoch `epoch` (mid-epoch checkpoints)
  EarlyStoppingState early_stopping;
  InputSpec input;
  // What label 0 and 1 mean: kind, the attribute or column it came from, the class
  // names by id. Kind kUnknown when the pipeline did not say, or the checkpoint
  // predates label schemas.
  LabelSpec label;
  std::string config_text;  // the resolved pipeline config that produced the run
  LrScheduleState lr_schedule;
};

struct StepResult {
  double loss_sum = 0.0;  // mean loss x count
  int64_t correct = 0;    // right decisions: one per image, one per attribute (multi-label)
  int64_t count = 0;      // images
  int64_t decisions = 0;  // count, or count x attributes (multi-label)
};

class Trainer {
 public:
  explicit Trainer(TrainerConfig config);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const TrainerConfig& config() const;
  // The optimizer's learning rate now (its first parameter group's).
  double learning_rate() const;
  // Sets every parameter group's learning rate (a schedule's).
  void set_learning_rate(double lr);
  bool on_cuda() const;
  bool bf16() const;
  bool fp16() const;
  // fp16: the dynamic loss scale now (kept in checkpoints); 1 otherwise.
  double loss_scale() const;
  // With clip_grad_norm: the global L2 norm of the last step's gradients before
  // clipping (NaN before the first step, and without clipping).
  double last_grad_norm() const;
  // fp16: steps skipped because the scaled gradients overflowed.
  int64_t skipped_steps() const;
  // Whether every parameter is finite (no NaN or inf weights).
  bool parameters_finite() const;
  std::string device_name() const;
  int64_t parameter_count(bool trainable_only = false) const;
  Model& model();  // stages/train/model.h

  // ImageNet weights (a torch.save'd dict): the replaced head keeps its fresh init.
  void load_pretrained(const std::string& path);

  // One optimizer step on a batch: binary cross-entropy on the logits (binary,
  // multi-label), or softmax cross-entropy (categorical). Throws NonFiniteLoss, before
  // the optimizer step, when the loss is NaN or infinite.
  StepResult train_step(const Batch& batch);
  // Called in train_step between the backward pass and the optimizer step with the
  // step's loss (data-parallel training averages the gradients there, on every rank
  // whatever its loss); returns false when some rank's loss was not finite, which
  // ends the step as a non-finite loss on every rank. Empty = none.
  void set_gradient_hook(std::function<bool(double)> hook);
  // Evaluation mode, no gradients; row-major images x outputs. One output: P(label 1)
  // per image; multi-label: P(attribute) per output; otherwise softmax over the
  // classes. loss_sum, when given, receives the summed loss per image (the training
  // loss; multi-label: mean over the attributes), needing the batch's labels.
  std::vector<float> predict(const Batch& batch, double* loss_sum = nullptr);

  // Serialised checkpoint: model, optimizer, RNG and `state`.
  std::string checkpoint_bytes(const TrainingState& state) const;
  void save_checkpoint(const std::string& path, const TrainingState& state,
                       const AtomicWriteHook& hook = {}) const;
  // Restores model, optimizer and RNG; returns the rest. The model configuration must
  // match the checkpoint's (all differences are listed). A file that cannot be read
  // or decoded throws one line: "cannot read checkpoint PATH: CAUSE".
  TrainingState load_checkpoint(const std::string& path, bool with_optimizer = true);

 private:
  TrainingState load_checkpoint_fields(const std::string& path, bool with_optimizer);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a checkpoint says about its model and run, without building a trainer.
// Unreadable files throw as load_checkpoint does.
struct CheckpointInfo {
  VggConfig model;
  TrainingState state;
  std::string optimizer;
};
CheckpointInfo read_checkpoint_info(const std::string& path);

bool cuda_available();
// Page-locked host buffers for batches (fast, asynchronous uploads); nullptr without CUDA.
std::shared_ptr<BufferAllocator> make_pinned_allocator();

}  // namespace sluice::train

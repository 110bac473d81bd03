// arch = "torchscript": a module exported from Python with torch.jit.script (or
// torch.jit.trace) and torch.jit.save, loaded with torch::jit::load and trained and
// evaluated as it is: its parameters go to the optimizer, its outputs are the logits
// (one row per image, num_classes columns). Freezing is by parameter-name prefix.
// The file's fingerprint goes with the model's configuration into checkpoints; a
// checkpoint refuses a file that changed since.
//
// Traced modules keep the training/evaluation behaviour they were traced in (batch
// norm, dropout); scripted ones follow train()/eval(), so script them.
#pragma once

#include <torch/script.h>

#include "stages/train/model.h"

namespace sluice::train {

class TorchScriptModel : public Model {
 public:
  // Loads config.model_path; throws std::runtime_error naming the file when it cannot
  // be loaded or its fingerprint differs from config.model_hash (when given).
  explicit TorchScriptModel(ModelConfig config);

  torch::Tensor forward(const torch::Tensor& x) override;
  void set_training(bool on) override;
  NamedTensors named_parameters() override;
  NamedTensors named_buffers() override;
  void to(const torch::Device& device) override;

 private:
  void apply_freeze();

  torch::jit::Module module_;
};

}  // namespace sluice::train

// The model behind Trainer, whatever its architecture: a VGG or a ResNet built in the
// LibTorch C++ frontend, or a TorchScript module loaded from a file. The trainer
// reaches parameters and buffers by their torchvision-style names ("layer1.0.conv1.weight"),
// so checkpoints, transfer loading, freezing and data-parallel training work the same
// for every architecture.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stages/train/model_config.h"
#include "stages/train/vgg.h"

namespace sluice::train {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class Model {
 public:
  explicit Model(ModelConfig config) : config_(std::move(config)) {}
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // What the model was built from; a TorchScript model adds its file's fingerprint.
  const ModelConfig& config() const { return config_; }

  // NCHW float images -> logits [N, num_classes].
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Training (true) or evaluation mode. In training mode, batch norms whose
  // parameters are all frozen stay in evaluation mode: their running statistics
  // belong to the frozen trunk.
  virtual void set_training(bool on) = 0;
  virtual NamedTensors named_parameters() = 0;  // recursively, in registration order
  virtual NamedTensors named_buffers() = 0;
  virtual void to(const torch::Device& device) = 0;
  // Parameters new in the head (absent or differently shaped in torchvision's
  // ImageNet weights) and torchvision keys the model has no use for.
  virtual std::vector<std::string> new_head_prefixes() const { return {}; }
  virtual std::vector<std::string> dropped_prefixes() const { return {}; }

  std::vector<torch::Tensor> parameters();
  std::vector<torch::Tensor> buffers();

 protected:
  ModelConfig config_;
};

// Builds the model of `config` (for "torchscript", loads config.model_path) with its
// parameters frozen as config says; throws std::invalid_argument for a configuration
// the architecture does not have, naming the setting.
std::unique_ptr<Model> make_model(const ModelConfig& config);

// The parameter names of the model `config` describes (check-time validation of
// freeze prefixes).
std::vector<std::string> model_parameter_names(const ModelConfig& config);

// Parameters, then buffers, by name.
NamedTensors model_state(Model& model);
int64_t count_parameters(Model& model, bool trainable_only = false);

// requires_grad = false for every parameter `prefixes` match; throws
// std::invalid_argument naming a prefix that matches no parameter.
void freeze_by_prefix(NamedTensors& parameters, const std::vector<std::string>& prefixes,
                      const std::string& model_name);

// As load_state(VggImpl&, ...) for any model.
void load_state(Model& model, const NamedTensors& state, LoadMode mode, const std::string& origin);
void load_weights_file(Model& model, const std::string& path, LoadMode mode);

// "resnet18 (width divisor 4, head replace_last)", "torchscript m.pt" for messages.
std::string model_description(const ModelConfig& config);

}  // namespace sluice::train

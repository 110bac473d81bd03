// VGG11/13/16/19 in the LibTorch C++ frontend, with torchvision's parameter names and
// shapes (features.0.weight ... classifier.6.bias), so ImageNet weights exported from
// torchvision load unchanged. Any input size works (adaptive average pooling to 7x7, as
// torchvision); `width_divisor` makes narrow variants for tests and demos.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "stages/train/vgg_config.h"

namespace sluice::train {

class VggImpl : public torch::nn::Module {
 public:
  explicit VggImpl(VggConfig config);

  // NCHW float images -> logits [N, num_classes].
  torch::Tensor forward(torch::Tensor x);

  const VggConfig& config() const { return config_; }
  // Prefixes of the parameters that are new in this head (not in torchvision's
  // ImageNet classifier): "classifier.6." for replace_last, "head." for gap.
  std::vector<std::string> new_head_prefixes() const;
  // Prefixes of torchvision keys this model has no use for (the classifier for gap).
  std::vector<std::string> dropped_prefixes() const;
  // Sets requires_grad according to config().freeze; throws on an unknown layer name.
  void apply_freeze();

 private:
  VggConfig config_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(Vgg);

// Parameters and buffers by name, in registration order.
std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& module);
int64_t count_parameters(torch::nn::Module& module, bool trainable_only = false);

// The message of `e` fit for one line of output. c10::Error::what() appends
// LibTorch's C++ stack trace (a dozen "frame #N" lines); for those, the first
// line of what_without_backtrace(). Other exceptions: what() unchanged.
std::string error_message(const std::exception& e);

// Reads a file written by Python's torch.save of a plain dict {name: tensor}.
std::vector<std::pair<std::string, torch::Tensor>> read_tensor_dict(const std::string& path);

enum class LoadMode {
  kStrict,    // every model key present with the same shape, nothing extra
  kTransfer,  // as strict, but the model's new-head keys may be absent or differ, and
              // torchvision keys the head does not use are ignored
};
// Copies tensors into the model's parameters and buffers. Every missing key, unexpected
// key and shape mismatch is collected and reported in one std::runtime_error.
void load_state(VggImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& state,
                LoadMode mode, const std::string& origin);
void load_weights_file(VggImpl& model, const std::string& path, LoadMode mode);
// What load_state does, for any model: `own` are its parameters and buffers by name,
// `description` names it in the error ("vgg16 (width divisor 1, head gap)").
void load_state_into(const std::vector<std::pair<std::string, torch::Tensor>>& own,
                     const std::vector<std::string>& new_head,
                     const std::vector<std::string>& dropped, const std::string& description,
                     const std::vector<std::pair<std::string, torch::Tensor>>& state, LoadMode mode,
                     const std::string& origin);

}  // namespace sluice::train

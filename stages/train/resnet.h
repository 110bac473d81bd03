// ResNet-18/34/50 in the LibTorch C++ frontend with torchvision's parameter and buffer
// names and shapes (conv1.weight, bn1.running_mean, layer1.0.conv1.weight,
// layer2.0.downsample.0.weight, fc.weight ...), so weights exported from torchvision
// (tools/export_torchvision_weights.py --arch resnet18) load unchanged. Any input size
// works (adaptive average pooling); `width_divisor` makes narrow variants for tests.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "stages/train/model_config.h"

namespace sluice::train {

// torchvision's BasicBlock (resnet18/34) or Bottleneck (resnet50, stride on the 3x3).
class ResNetBlockImpl : public torch::nn::Module {
 public:
  ResNetBlockImpl(int in_channels, int width, int stride, bool bottleneck, int expansion);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(ResNetBlock);

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(ModelConfig config);

  // NCHW float images -> logits [N, num_classes].
  torch::Tensor forward(torch::Tensor x);

  const ModelConfig& config() const { return config_; }
  // "fc." when the head is replaced, nothing for the ImageNet head.
  std::vector<std::string> new_head_prefixes() const;
  // Sets requires_grad according to config().freeze; throws on an unknown layer name.
  void apply_freeze();

 private:
  ModelConfig config_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::MaxPool2d maxpool_{nullptr};
  torch::nn::Sequential layers_[4] = {nullptr, nullptr, nullptr, nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

// The top-level layers of a ResNet in order: conv1, bn1, layer1 .. layer4, fc.
const std::vector<std::string>& resnet_layer_names();

}  // namespace sluice::train

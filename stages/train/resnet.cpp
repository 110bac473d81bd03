#include "stages/train/resnet.h"

#include <algorithm>
#include <stdexcept>

#include "stages/train/model.h"

namespace sluice::train {
namespace {

struct ResNetPlan {
  std::vector<int> blocks;
  bool bottleneck;
};

ResNetPlan resnet_plan(const std::string& arch) {
  if (arch == "resnet18") return {{2, 2, 2, 2}, false};
  if (arch == "resnet34") return {{3, 4, 6, 3}, false};
  if (arch == "resnet50") return {{3, 4, 6, 3}, true};
  throw std::invalid_argument("unknown arch '" + arch +
                              "' (expected resnet18, resnet34 or resnet50)");
}

int scaled(int channels, int divisor) { return std::max(1, channels / divisor); }

torch::nn::Conv2d conv(int in, int out, int kernel, int stride, int padding) {
  auto c = torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
  torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  return c;
}

torch::nn::BatchNorm2d batch_norm(int channels) {
  auto bn = torch::nn::BatchNorm2d(channels);
  torch::nn::init::ones_(bn->weight);
  torch::nn::init::zeros_(bn->bias);
  return bn;
}

}  // namespace

ResNetBlockImpl::ResNetBlockImpl(int in_channels, int width, int stride, bool bottleneck,
                                 int expansion) {
  const int out = width * expansion;
  if (bottleneck) {
    conv1_ = register_module("conv1", conv(in_channels, width, 1, 1, 0));
    bn1_ = register_module("bn1", batch_norm(width));
    conv2_ = register_module("conv2", conv(width, width, 3, stride, 1));
    bn2_ = register_module("bn2", batch_norm(width));
    conv3_ = register_module("conv3", conv(width, out, 1, 1, 0));
    bn3_ = register_module("bn3", batch_norm(out));
  } else {
    conv1_ = register_module("conv1", conv(in_channels, width, 3, stride, 1));
    bn1_ = register_module("bn1", batch_norm(width));
    conv2_ = register_module("conv2", conv(width, width, 3, 1, 1));
    bn2_ = register_module("bn2", batch_norm(width));
  }
  if (stride != 1 || in_channels != out) {
    downsample_ = register_module(
        "downsample", torch::nn::Sequential(conv(in_channels, out, 1, stride, 0), batch_norm(out)));
  }
}

torch::Tensor ResNetBlockImpl::forward(torch::Tensor x) {
  auto identity = downsample_ ? downsample_->forward(x) : x;
  auto y = torch::relu(bn1_->forward(conv1_->forward(x)));
  y = bn2_->forward(conv2_->forward(y));
  if (conv3_) y = bn3_->forward(conv3_->forward(torch::relu(y)));
  return torch::relu(y + identity);
}

ResNetImpl::ResNetImpl(ModelConfig config) : config_(std::move(config)) {
  if (config_.width_divisor < 1) throw std::invalid_argument("width_divisor must be >= 1");
  if (config_.num_classes < 1) throw std::invalid_argument("num_classes must be >= 1");
  if (config_.head == Head::kGap) {
    throw std::invalid_argument(
        "head = \"gap\" is VGG's; a ResNet pools globally already "
        "(use replace_last or imagenet)");
  }
  const ResNetPlan plan = resnet_plan(config_.arch);
  const int d = config_.width_divisor;
  const int expansion = plan.bottleneck ? 4 : 1;
  int in_channels = scaled(64, d);
  conv1_ = register_module("conv1", conv(3, in_channels, 7, 2, 3));
  bn1_ = register_module("bn1", batch_norm(in_channels));
  maxpool_ = register_module(
      "maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
  for (int stage = 0; stage < 4; ++stage) {
    const int width = scaled(64 << stage, d);
    layers_[stage] = torch::nn::Sequential();
    for (int b = 0; b < plan.blocks[stage]; ++b) {
      const int stride = stage > 0 && b == 0 ? 2 : 1;
      layers_[stage]->push_back(
          ResNetBlock(in_channels, width, stride, plan.bottleneck, expansion));
      in_channels = width * expansion;
    }
    register_module("layer" + std::to_string(stage + 1), layers_[stage]);
  }
  avgpool_ = register_module(
      "avgpool", torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1})));
  fc_ = register_module("fc", torch::nn::Linear(in_channels, config_.num_classes));
  apply_freeze();
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = maxpool_->forward(torch::relu(bn1_->forward(conv1_->forward(x))));
  for (auto& layer : layers_) x = layer->forward(x);
  x = torch::flatten(avgpool_->forward(x), 1);
  return fc_->forward(x);
}

std::vector<std::string> ResNetImpl::new_head_prefixes() const {
  if (config_.head == Head::kImagenet) return {};
  return {"fc."};
}

const std::vector<std::string>& resnet_layer_names() {
  static const std::vector<std::string> kNames = {"conv1",  "bn1",    "layer1", "layer2",
                                                  "layer3", "layer4", "fc"};
  return kNames;
}

void ResNetImpl::apply_freeze() {
  NamedTensors params;
  for (auto& item : named_parameters(true)) {
    item.value().set_requires_grad(true);
    params.emplace_back(item.key(), item.value());
  }
  const auto& layers = resnet_layer_names();
  std::vector<std::string> frozen;
  switch (config_.freeze) {
    case Freeze::kNone:
      return;
    case Freeze::kFeatures:
      frozen.assign(layers.begin(), layers.end() - 1);  // all but fc
      break;
    case Freeze::kUntil: {
      const auto it = std::find(layers.begin(), layers.end() - 1, config_.freeze_until);
      if (it == layers.end() - 1) {
        throw std::invalid_argument("freeze_until: '" + config_.freeze_until +
                                    "' is not a layer of " + config_.arch +
                                    " (conv1, bn1, layer1 .. layer4)");
      }
      frozen.assign(layers.begin(), it + 1);
      break;
    }
    case Freeze::kPrefixes:
      frozen = config_.freeze_prefixes;
      break;
  }
  freeze_by_prefix(params, frozen, config_.arch);
}

}  // namespace sluice::train

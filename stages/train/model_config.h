// What a model is made of, without Torch: architecture (a VGG, a ResNet, or a
// TorchScript file), width divisor, head, number of outputs and which parameters are
// frozen. Shared by the stages, the checkpoints and `sluice predict`, which must
// rebuild the exact model a checkpoint was trained with.
#pragma once

#include <string>
#include <vector>

namespace sluice::train {

// The head on top of the trunk.
//   kImagenet:    torchvision's classifier untouched (num_classes = 1000).
//   kReplaceLast: the last layer (VGG classifier.6, ResNet fc) replaced by
//                 `num_classes` units.
//   kGap:         VGG only: global average pooling of the features, then one linear layer.
enum class Head { kImagenet, kReplaceLast, kGap };

// Which parameters receive no gradient.
//   kFeatures: the trunk (VGG: every convolution; ResNet: everything but fc).
//   kNone:     nothing frozen.
//   kUntil:    the trunk up to and including the layer named by `freeze_until`
//              (VGG: features.N; ResNet: conv1, bn1, layer1 .. layer4).
//   kPrefixes: the parameters whose names start with one of `freeze_prefixes`.
// Batch norms whose parameters are all frozen stay in evaluation mode while training
// (their running statistics do not move).
enum class Freeze { kFeatures, kNone, kUntil, kPrefixes };

struct ModelConfig {
  std::string arch = "vgg16";  // vgg11/13/16/19, resnet18/34/50, torchscript
  int width_divisor = 1;       // divides every channel count (and VGG's fc width)
  Head head = Head::kReplaceLast;
  int num_classes = 1;  // output units: 1 for a binary label, 1000 for ImageNet
  Freeze freeze = Freeze::kFeatures;
  std::string freeze_until;                  // e.g. "features.23" or "layer2" when freeze == kUntil
  std::vector<std::string> freeze_prefixes;  // when freeze == kPrefixes
  double dropout = 0.5;                      // in VGG's classifier, as torchvision
  std::string model_path;                    // arch = "torchscript": the file torch.jit.save wrote
  std::string model_hash;                    // its content fingerprint, recorded in checkpoints
};

// The name torch.jit.save'd models go by in `arch`.
extern const char* const kTorchscriptArch;

// Every `arch` value: the VGGs, the ResNets, then "torchscript".
const std::vector<std::string>& model_arch_names();
const std::vector<std::string>& resnet_arch_names();  // resnet18, resnet34, resnet50
bool is_vgg_arch(const std::string& arch);
bool is_resnet_arch(const std::string& arch);

// Whether `name` is frozen by the prefix `prefix`: "layer1" and "layer1." both freeze
// layer1.0.conv1.weight (not layer10.*); a full name freezes that parameter.
bool matches_prefix(const std::string& name, const std::string& prefix);

// A content fingerprint of a file ("fnv1a64:0123456789abcdef"); throws naming the file
// when it cannot be read.
std::string file_fingerprint(const std::string& path);

}  // namespace sluice::train

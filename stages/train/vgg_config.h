// What a VGG model is made of, without Torch: architecture, width divisor, head and
// which layers are frozen. Shared by the stages, the checkpoint and `sluice predict`,
// which must rebuild the exact model a checkpoint was trained with.
#pragma once

#include <string>
#include <vector>

namespace sluice::train {

// The head on top of the convolutional features.
//   kImagenet:    torchvision's classifier untouched (fc6, fc7, fc8 with num_classes units).
//   kReplaceLast: fc6 and fc7 kept, the last layer replaced by `num_classes` units.
//   kGap:         global average pooling of the features, then one linear layer.
enum class Head { kImagenet, kReplaceLast, kGap };

// Which parameters receive no gradient.
//   kFeatures: every convolution (the usual transfer-learning setting).
//   kNone:     nothing frozen.
//   kUntil:    features.0 up to and including the layer named by `freeze_until`.
enum class Freeze { kFeatures, kNone, kUntil };

struct VggConfig {
  std::string arch = "vgg16";  // vgg11, vgg13, vgg16, vgg19
  int width_divisor = 1;       // divides every channel count and the fc width
  Head head = Head::kReplaceLast;
  int num_classes = 1;  // output units: 1 for a binary label, 1000 for ImageNet
  Freeze freeze = Freeze::kFeatures;
  std::string freeze_until;  // e.g. "features.23" when freeze == kUntil
  double dropout = 0.5;      // in the classifier, as torchvision
};

const char* head_name(Head head);
const char* freeze_name(Freeze freeze);
// Parse the names used in configs; throw std::invalid_argument listing the choices.
Head parse_head(const std::string& name);
Freeze parse_freeze(const std::string& name);

// The layer plan of an architecture: channel counts, 0 for a max pool ("M").
std::vector<int> vgg_layer_plan(const std::string& arch);
// "vgg11", "vgg13", "vgg16", "vgg19".
const std::vector<std::string>& vgg_arch_names();

}  // namespace sluice::train

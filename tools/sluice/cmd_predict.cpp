// `sluice predict`: scores image files with a trained checkpoint
//   sluice predict --checkpoint runs/celeba-gender/best.pt a.jpg b.jpg
//     -> IMAGE<TAB>CLASS<TAB>P(label 1)
// (categorical checkpoints: the --topk most probable classes by name, one line each;
// multi-label: one line per attribute, ATTRIBUTE or "not ATTRIBUTE" with P(attribute))
// with the size, pixel scaling and class names the checkpoint records (Male|Female for
// the gender model, Smiling|not Smiling for one trained on "Smiling"), or
// with converted torchvision weights and the ImageNet head
//   sluice predict --weights vgg16-imagenet.pt --arch vgg16 --head imagenet --topk 5 a.jpg
//   (--arch resnet18|resnet34|resnet50 for ResNet weights)
//     -> IMAGE<TAB>CLASS_INDEX<TAB>PROBABILITY (K lines per image)
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "stages/train/class_names.h"
#include "stages/train/predict_images.h"
#include "stages/train/train_choices.h"
#include "stages/train/trainer.h"
#include "stages/train/vgg.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {
namespace {

constexpr size_t kImagesPerBatch = 16;

// The architectures torchvision weights load into: all but "torchscript".
std::vector<std::string> weights_arch_names() {
  std::vector<std::string> names = train::vgg_arch_names();
  const auto& resnets = train::resnet_arch_names();
  names.insert(names.end(), resnets.begin(), resnets.end());
  return names;
}

int predict_cmd(const std::vector<std::string>& args) {
  std::string checkpoint, weights, arch = "vgg16", head = "imagenet", device = "auto";
  std::string positive, negative;  // empty: the checkpoint's label schema names them
  int width_divisor = 1, topk = 5;
  double threshold = 0.5;
  std::vector<std::string> images;
  po::options_description o("options");
  o.add_options()("checkpoint", po::value(&checkpoint),
                  "checkpoint written by train.model or train.vgg")(
      "weights", po::value(&weights), "torchvision weights (tools/export_torchvision_weights.py)")(
      "arch", po::value(&arch)->default_value(arch),
      "with --weights: vgg11|vgg13|vgg16|vgg19|resnet18|resnet34|resnet50")(
      "head", po::value(&head)->default_value(head), "with --weights: imagenet")(
      "width-divisor", po::value(&width_divisor)->default_value(1), "with --weights")(
      "topk", po::value(&topk)->default_value(topk), "classes per image for a many-class model")(
      "device", po::value(&device)->default_value(device), "auto, cpu, cuda, cuda:N")(
      "threshold", po::value(&threshold)->default_value(threshold), "P(positive) for positive")(
      "positive-name", po::value(&positive), "name of label 1 (default: the checkpoint's)")(
      "negative-name", po::value(&negative), "name of label 0 (default: the checkpoint's)")(
      "image", po::value(&images)->composing(), "image files");
  add_logging_options(o);
  po::positional_options_description pos;
  pos.add("image", -1);
  po::variables_map vm;
  const std::string usage =
      "(--checkpoint FILE | --weights FILE [--arch A] [--head imagenet] [--topk K]) IMAGE...";
  if (auto code = parse_command_line("predict", usage, args, o, pos, vm)) return *code;
  apply_logging_options(vm);
  if (!option_ok("predict", "threshold", builtin_param("eval.classifier", "threshold"),
                 threshold) ||
      !option_ok("predict", "width-divisor", builtin_param("train.vgg", "width_divisor"),
                 static_cast<int64_t>(width_divisor)) ||
      !option_ok("predict", "topk", ParamSpec::integer("topk", 5, "classes").range(1, 1000),
                 static_cast<int64_t>(topk)) ||
      !option_ok("predict", "arch",
                 ParamSpec::string("arch", "vgg16", "").one_of(weights_arch_names()), arch) ||
      !option_ok("predict", "head",
                 ParamSpec::string("head", "imagenet", "").one_of(train::head_choices().names()),
                 head) ||
      !device_option_ok("predict", device)) {
    return kExitConfigError;
  }
  if (checkpoint.empty() == weights.empty() || images.empty()) {
    std::cerr << "sluice predict: give --checkpoint or --weights (one of them) and images\n"
              << "usage: sluice predict " << usage << "\n";
    return kExitConfigError;
  }
  try {
    train::TrainerConfig config;
    config.device = device;
    train::InputSpec input;
    train::Preprocess mode = train::Preprocess::kTraining;
    train::BinaryClassNames names;
    LabelSpec label;  // the checkpoint's; unknown for torchvision weights
    if (!checkpoint.empty()) {
      const auto info = train::read_checkpoint_info(checkpoint);
      config.model = info.model;
      config.label_kind = info.state.label.kind;
      label = info.state.label;
      input = info.state.input;
      names = train::binary_class_names(info.state.label, negative, positive);
      if (info.state.label.kind == LabelSpec::Kind::kUnknown &&
          (positive.empty() || negative.empty())) {
        std::cerr << "sluice predict: " << checkpoint
                  << " records no label schema; classes are named positive/negative "
                     "(--positive-name, --negative-name name them)\n";
      }
    } else {
      config.model.arch = arch;
      config.model.head = train::parse_head(head);
      config.model.num_classes = config.model.head == train::Head::kImagenet ? 1000 : 1;
      config.model.width_divisor = width_divisor;
      mode = train::Preprocess::kImagenet;
    }
    config.model.freeze = train::Freeze::kNone;
    train::Trainer trainer(config);
    if (!checkpoint.empty()) {
      trainer.load_checkpoint(checkpoint, /*with_optimizer=*/false);
    } else {
      trainer.load_pretrained(weights);
    }
    for (size_t start = 0; start < images.size(); start += kImagesPerBatch) {
      const std::vector<std::string> chunk(
          images.begin() + start,
          images.begin() + std::min(images.size(), start + kImagesPerBatch));
      auto batch = train::load_image_batch(chunk, input, mode);
      const auto probs = trainer.predict(batch);
      const size_t classes = probs.size() / chunk.size();
      // Named from the checkpoint's schema; torchvision's classes by number.
      const auto class_names = train::output_names(label, classes);
      for (size_t i = 0; i < chunk.size(); ++i) {
        if (classes == 1) {
          std::printf("%s\t%s\t%.6f\n", chunk[i].c_str(),
                      (probs[i] >= threshold ? names.positive : names.negative).c_str(), probs[i]);
          continue;
        }
        const float* p = probs.data() + i * classes;
        if (label.kind == LabelSpec::Kind::kMultiLabel) {
          for (size_t j = 0; j < classes; ++j) {
            const std::string& a = class_names[j];
            std::printf("%s\t%s\t%.6f\n", chunk[i].c_str(),
                        (p[j] >= threshold ? a : "not " + a).c_str(), p[j]);
          }
          continue;
        }
        std::vector<size_t> order(classes);
        std::iota(order.begin(), order.end(), size_t{0});
        const size_t k = std::min<size_t>(static_cast<size_t>(std::max(topk, 1)), classes);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [p](size_t a, size_t b) { return p[a] > p[b]; });
        for (size_t j = 0; j < k; ++j) {
          std::printf("%s\t%s\t%.6f\n", chunk[i].c_str(), class_names[order[j]].c_str(),
                      p[order[j]]);
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "sluice predict: " << train::error_message(e) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(predict, "score images with a checkpoint or torchvision weights", predict_cmd);

}  // namespace sluice::cli

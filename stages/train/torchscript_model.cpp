#include "stages/train/torchscript_model.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <torch/version.h>

#include "pipeline/file_read.h"

namespace sluice::train {
namespace {

torch::jit::Module load_module(const std::string& path) {
  // Read as every input is: a file swapped for a FIFO or a device since it was
  // hashed fails here instead of blocking the load.
  std::istringstream bytes(read_regular_file(path, kMaxCheckpointBytes, "model file"));
  try {
    return torch::jit::load(bytes, torch::kCPU);
  } catch (const std::exception& e) {
    throw std::runtime_error("model: cannot load TorchScript file '" + path +
                             "' with LibTorch " TORCH_VERSION
                             " (a file saved by a newer torch may not load in an older "
                             "LibTorch): " +
                             error_message(e));
  }
}

}  // namespace

TorchScriptModel::TorchScriptModel(ModelConfig config) : Model(std::move(config)) {
  if (config_.model_path.empty()) {
    throw std::invalid_argument("arch = \"torchscript\" needs model = \"FILE.pt\"");
  }
  const std::string hash = file_fingerprint(config_.model_path);
  if (!config_.model_hash.empty() && config_.model_hash != hash) {
    throw std::runtime_error("model: '" + config_.model_path +
                             "' changed since the checkpoint was trained (" + config_.model_hash +
                             ", now " + hash + ")");
  }
  config_.model_hash = hash;
  module_ = load_module(config_.model_path);
  apply_freeze();
}

void TorchScriptModel::apply_freeze() {
  NamedTensors params = named_parameters();
  for (auto& [name, t] : params) t.set_requires_grad(true);
  switch (config_.freeze) {
    case Freeze::kNone:
      return;
    case Freeze::kPrefixes:
      freeze_by_prefix(params, config_.freeze_prefixes, config_.model_path);
      return;
    case Freeze::kFeatures:
    case Freeze::kUntil:
      throw std::invalid_argument(
          "a TorchScript model has no known trunk: freeze it by parameter-name prefix "
          "(freeze = [\"conv1.\", \"layer1.\"])");
  }
}

torch::Tensor TorchScriptModel::forward(const torch::Tensor& x) {
  const auto out = module_.forward({x});
  if (!out.isTensor()) {
    throw std::runtime_error("model: '" + config_.model_path + "' returns " + out.tagKind() +
                             ", not a tensor of logits");
  }
  auto logits = out.toTensor();
  if (logits.dim() != 2 || logits.size(0) != x.size(0) || logits.size(1) != config_.num_classes) {
    std::ostringstream shape;
    shape << logits.sizes();
    throw std::runtime_error("model: '" + config_.model_path + "' gives logits of shape " +
                             shape.str() + " for " + std::to_string(x.size(0)) +
                             " image(s); the label needs " + std::to_string(config_.num_classes) +
                             " output(s) per image (export it with that many, e.g. "
                             "tools/export_torchscript.py --num-classes " +
                             std::to_string(config_.num_classes) + ")");
  }
  return logits;
}

void TorchScriptModel::set_training(bool on) {
  module_.train(on);
  if (!on) return;
  // Batch norms (modules with running statistics) whose parameters are all frozen.
  for (const auto& child : module_.named_modules()) {
    torch::jit::Module m = child.value;
    if (!m.hasattr("running_mean")) continue;
    bool any = false, trainable = false;
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      any = true;
      trainable = trainable || p.value.requires_grad();
    }
    if (any && !trainable) m.train(false);
  }
}

NamedTensors TorchScriptModel::named_parameters() {
  NamedTensors out;
  for (const auto& p : module_.named_parameters(/*recurse=*/true))
    out.emplace_back(p.name, p.value);
  return out;
}

NamedTensors TorchScriptModel::named_buffers() {
  NamedTensors out;
  for (const auto& b : module_.named_buffers(/*recurse=*/true)) out.emplace_back(b.name, b.value);
  return out;
}

void TorchScriptModel::to(const torch::Device& device) { module_.to(device); }

}  // namespace sluice::train

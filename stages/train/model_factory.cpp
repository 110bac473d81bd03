// make_model: the architecture named by ModelConfig::arch behind the Model interface,
// and what every model shares (state by name, freezing by prefix, loading weights).
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "pipeline/suggest.h"
#include "stages/train/model.h"
#include "stages/train/resnet.h"
#include "stages/train/torchscript_model.h"
#include "stages/train/vgg.h"

namespace sluice::train {
namespace {

// Batch norms whose parameters are all frozen go back to evaluation mode.
void keep_frozen_batch_norms_in_eval(torch::nn::Module& module) {
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (!child->as<torch::nn::BatchNorm2dImpl>()) continue;
    const auto params = child->parameters(/*recurse=*/false);
    if (params.empty()) continue;
    if (std::none_of(params.begin(), params.end(),
                     [](const torch::Tensor& p) { return p.requires_grad(); })) {
      child->eval();
    }
  }
}

// A torch::nn model (VggImpl, ResNetImpl) behind the Model interface.
template <class Holder>
class NnModel : public Model {
 public:
  NnModel(ModelConfig config, Holder module)
      : Model(std::move(config)), module_(std::move(module)) {}

  torch::Tensor forward(const torch::Tensor& x) override { return module_->forward(x); }
  void set_training(bool on) override {
    module_->train(on);
    if (on) keep_frozen_batch_norms_in_eval(*module_);
  }
  NamedTensors named_parameters() override {
    NamedTensors out;
    for (auto& p : module_->named_parameters(true)) out.emplace_back(p.key(), p.value());
    return out;
  }
  NamedTensors named_buffers() override {
    NamedTensors out;
    for (auto& b : module_->named_buffers(true)) out.emplace_back(b.key(), b.value());
    return out;
  }
  void to(const torch::Device& device) override { module_->to(device); }
  std::vector<std::string> new_head_prefixes() const override {
    return module_->new_head_prefixes();
  }
  std::vector<std::string> dropped_prefixes() const override { return dropped_(*module_); }

 private:
  static std::vector<std::string> dropped_(const VggImpl& m) { return m.dropped_prefixes(); }
  static std::vector<std::string> dropped_(const ResNetImpl&) { return {}; }

  Holder module_;
};

}  // namespace

std::vector<torch::Tensor> Model::parameters() {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<torch::Tensor> Model::buffers() {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : named_buffers()) out.push_back(t);
  return out;
}

std::unique_ptr<Model> make_model(const ModelConfig& config) {
  if (is_vgg_arch(config.arch)) {
    return std::make_unique<NnModel<Vgg>>(config, Vgg(config));
  }
  if (is_resnet_arch(config.arch)) {
    return std::make_unique<NnModel<ResNet>>(config, ResNet(config));
  }
  if (config.arch == kTorchscriptArch) return std::make_unique<TorchScriptModel>(config);
  throw std::invalid_argument("unknown arch '" + config.arch + "'" +
                              did_you_mean(closest_names(config.arch, model_arch_names(), 1)));
}

std::vector<std::string> model_parameter_names(const ModelConfig& config) {
  ModelConfig plain = config;
  plain.freeze = Freeze::kNone;
  plain.freeze_prefixes.clear();
  std::vector<std::string> names;
  for (auto& [name, t] : make_model(plain)->named_parameters()) names.push_back(name);
  return names;
}

NamedTensors model_state(Model& model) {
  NamedTensors out = model.named_parameters();
  for (auto& b : model.named_buffers()) out.push_back(std::move(b));
  return out;
}

int64_t count_parameters(Model& model, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

void freeze_by_prefix(NamedTensors& parameters, const std::vector<std::string>& prefixes,
                      const std::string& model_name) {
  for (const std::string& prefix : prefixes) {
    bool matched = false;
    for (auto& [name, t] : parameters) {
      if (!matches_prefix(name, prefix)) continue;
      t.set_requires_grad(false);
      matched = true;
    }
    if (matched) continue;
    std::vector<std::string> scopes;  // "layer1.", "layer1.0." ... for the suggestion
    for (const auto& [name, t] : parameters) {
      for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
        scopes.push_back(name.substr(0, dot + 1));
      }
    }
    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    throw std::invalid_argument("freeze: '" + prefix + "' matches no parameter of " + model_name +
                                did_you_mean(closest_names(prefix, scopes, 1)));
  }
}

std::string model_description(const ModelConfig& config) {
  if (config.arch == kTorchscriptArch) return "torchscript " + config.model_path;
  std::ostringstream os;
  os << config.arch << " (width divisor " << config.width_divisor << ", head "
     << head_name(config.head) << ")";
  return os.str();
}

void load_state(Model& model, const NamedTensors& state, LoadMode mode, const std::string& origin) {
  load_state_into(model_state(model), model.new_head_prefixes(), model.dropped_prefixes(),
                  model_description(model.config()), state, mode, origin);
}

void load_weights_file(Model& model, const std::string& path, LoadMode mode) {
  load_state(model, read_tensor_dict(path), mode, path);
}

}  // namespace sluice::train

#include "stages/train/vgg.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>

#include "pipeline/file_read.h"
#include "pipeline/text_escape.h"
#include "stages/train/model.h"
#include "stages/train/pickle_read.h"

namespace sluice::train {
namespace {

int scaled(int channels, int divisor) { return std::max(1, channels / divisor); }

bool starts_with_any(const std::string& s, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return s.rfind(p, 0) == 0; });
}

std::string shape_string(const torch::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

// "features.23" -> 23; throws when the name is not a features layer of the model.
int64_t features_layer_index(const std::string& name, int64_t layer_count) {
  const std::string prefix = "features.";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) {
    throw std::invalid_argument("freeze_until must name a features layer, e.g. features.23; got '" +
                                name + "'");
  }
  const std::string digits = name.substr(prefix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw std::invalid_argument("freeze_until: '" + name + "' is not a features layer");
  }
  const int64_t index = std::stoll(digits);
  if (index >= layer_count) {
    throw std::invalid_argument("freeze_until: '" + name + "' is past the last layer features." +
                                std::to_string(layer_count - 1));
  }
  return index;
}

}  // namespace

VggImpl::VggImpl(VggConfig config) : config_(std::move(config)) {
  if (config_.width_divisor < 1) throw std::invalid_argument("width_divisor must be >= 1");
  if (config_.num_classes < 1) throw std::invalid_argument("num_classes must be >= 1");
  const int d = config_.width_divisor;
  features_ = torch::nn::Sequential();
  int in_channels = 3;
  for (int v : vgg_layer_plan(config_.arch)) {
    if (v == 0) {
      features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
      continue;
    }
    const int out = scaled(v, d);
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out, 3).padding(1));
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    torch::nn::init::zeros_(conv->bias);
    features_->push_back(conv);
    features_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    in_channels = out;
  }
  register_module("features", features_);

  auto linear = [](int in, int out) {
    auto fc = torch::nn::Linear(in, out);
    torch::nn::init::normal_(fc->weight, 0.0, 0.01);
    torch::nn::init::zeros_(fc->bias);
    return fc;
  };
  if (config_.head == Head::kGap) {
    avgpool_ = torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({1, 1}));
    register_module("avgpool", avgpool_);
    head_ = linear(in_channels, config_.num_classes);
    register_module("head", head_);
  } else {
    avgpool_ = torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions({7, 7}));
    register_module("avgpool", avgpool_);
    const int hidden = scaled(4096, d);
    const double p = config_.dropout;
    classifier_ =
        torch::nn::Sequential(linear(in_channels * 7 * 7, hidden),
                              torch::nn::ReLU(torch::nn::ReLUOptions(true)), torch::nn::Dropout(p),
                              linear(hidden, hidden), torch::nn::ReLU(torch::nn::ReLUOptions(true)),
                              torch::nn::Dropout(p), linear(hidden, config_.num_classes));
    register_module("classifier", classifier_);
  }
  apply_freeze();
}

torch::Tensor VggImpl::forward(torch::Tensor x) {
  x = features_->forward(x);
  x = avgpool_->forward(x);
  x = torch::flatten(x, 1);
  return head_ ? head_->forward(x) : classifier_->forward(x);
}

std::vector<std::string> VggImpl::new_head_prefixes() const {
  switch (config_.head) {
    case Head::kImagenet:
      return {};
    case Head::kReplaceLast:
      return {"classifier.6."};
    case Head::kGap:
      return {"head."};
  }
  return {};
}

std::vector<std::string> VggImpl::dropped_prefixes() const {
  if (config_.head == Head::kGap) return {"classifier."};
  return {};
}

void VggImpl::apply_freeze() {
  int64_t last_frozen = -1;  // features layers [0, last_frozen] are frozen
  const auto layer_count = static_cast<int64_t>(features_->size());
  switch (config_.freeze) {
    case Freeze::kNone:
      break;
    case Freeze::kFeatures:
      last_frozen = layer_count - 1;
      break;
    case Freeze::kUntil:
      last_frozen = features_layer_index(config_.freeze_until, layer_count);
      break;
    case Freeze::kPrefixes: {
      NamedTensors params;
      for (auto& item : named_parameters(true)) {
        item.value().set_requires_grad(true);
        params.emplace_back(item.key(), item.value());
      }
      freeze_by_prefix(params, config_.freeze_prefixes, config_.arch);
      return;
    }
  }
  for (auto& item : named_parameters(true)) {
    bool frozen = false;
    const std::string& key = item.key();
    if (key.rfind("features.", 0) == 0) {
      const auto dot = key.find('.', 9);
      frozen = std::stoll(key.substr(9, dot - 9)) <= last_frozen;
    }
    item.value().set_requires_grad(!frozen);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> model_state(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

int64_t count_parameters(torch::nn::Module& module, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true)) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

std::string error_message(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  if (!torch_error) return e.what();
  std::string text = torch_error->what_without_backtrace();
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}

std::vector<std::pair<std::string, torch::Tensor>> read_tensor_dict(const std::string& path) {
  const std::vector<char> bytes =
      read_regular_file_bytes(path, kMaxCheckpointBytes, "weights file");
  torch::IValue value;
  try {
    value = pickle_load_bounded(bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(path +
                             ": not a torch.save zip of a plain dict of tensors "
                             "(tools/export_torchvision_weights.py writes one): " +
                             error_message(e));
  }
  if (!value.isGenericDict()) {
    throw std::runtime_error(path + ": expected a dict of tensors, found " + value.tagKind());
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw std::runtime_error(path + ": every entry must map a string to a tensor");
    }
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

void load_state_into(const std::vector<std::pair<std::string, torch::Tensor>>& own,
                     const std::vector<std::string>& new_head,
                     const std::vector<std::string>& dropped, const std::string& description,
                     const std::vector<std::pair<std::string, torch::Tensor>>& state, LoadMode mode,
                     const std::string& origin) {
  const bool transfer = mode == LoadMode::kTransfer;
  std::map<std::string, torch::Tensor> given;
  std::vector<std::string> unexpected, missing, mismatched;
  for (const auto& [name, tensor] : state) given[name] = tensor;

  std::map<std::string, torch::Tensor> own_by_name(own.begin(), own.end());
  for (const auto& [name, tensor] : given) {
    if (own_by_name.count(name) || (transfer && starts_with_any(name, dropped))) continue;
    unexpected.push_back(name);
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
  for (const auto& [name, target] : own) {
    const bool optional = transfer && starts_with_any(name, new_head);
    auto it = given.find(name);
    if (it == given.end()) {
      if (!optional) missing.push_back(name);
      continue;
    }
    if (it->second.sizes() != target.sizes()) {
      if (!optional) {
        mismatched.push_back(name + " (file " + shape_string(it->second) + ", model " +
                             shape_string(target) + ")");
      }
      continue;
    }
    copies.emplace_back(target, it->second);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream os;
    os << origin << ": weights do not fit " << description;
    auto list = [&os](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      os << "\n  " << what << " (" << names.size() << "):";
      for (const auto& n : names) os << "\n    " << n;
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape mismatches", mismatched);
    throw std::runtime_error(os.str());
  }
  // A checkpoint whose weights went NaN or infinite (a diverged run saved before
  // the guard existed, a corrupted file) would score and predict garbage, or
  // hang a metric: refused, naming the first such tensor.
  for (const auto& [name, target] : own) {
    const auto it = given.find(name);
    if (it == given.end() || it->second.sizes() != target.sizes()) continue;
    const torch::Tensor& t = it->second;
    if (t.is_floating_point() && t.numel() > 0 && !torch::isfinite(t).all().item<bool>()) {
      throw std::runtime_error(origin + ": tensor '" + printable(name) +
                               "' holds non-finite values (NaN or Inf); these weights are "
                               "refused");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
}

void load_state(VggImpl& model, const std::vector<std::pair<std::string, torch::Tensor>>& state,
                LoadMode mode, const std::string& origin) {
  load_state_into(model_state(model), model.new_head_prefixes(), model.dropped_prefixes(),
                  model_description(model.config()), state, mode, origin);
}

void load_weights_file(VggImpl& model, const std::string& path, LoadMode mode) {
  load_state(model, read_tensor_dict(path), mode, path);
}

}  // namespace sluice::train

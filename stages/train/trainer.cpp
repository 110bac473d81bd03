#include "stages/train/trainer.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "pipeline/file_read.h"
#include "stages/train/autocast.h"
#include "stages/train/grad_scaler.h"
#include "stages/train/model.h"
#include "stages/train/pickle_read.h"
#include "stages/train/train_choices.h"
#include "stages/train/vgg.h"

namespace sluice::train {
namespace {

constexpr const char* kCheckpointFormat = "sluice-checkpoint-1";

torch::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw std::runtime_error("device = \"" + name +
                               "\" but CUDA is not available (no GPU visible, or this LibTorch "
                               "was built without CUDA); use device = \"auto\" or \"cpu\"");
    }
    return torch::Device(name);
  }
  throw std::invalid_argument("unknown device '" + name + "' (expected auto, cpu, cuda, cuda:N)");
}

c10::impl::GenericDict new_dict() {
  return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
}

torch::Tensor bytes_to_tensor(const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_to_bytes(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kCPU);
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()),
                     static_cast<size_t>(c.numel()));
}

// By value: LibTorch 2.x dict entries hand out values, not references.
c10::IValue field(const c10::impl::GenericDict& d, const std::string& key,
                  const std::string& origin) {
  auto it = d.find(key);
  if (it == d.end()) throw std::runtime_error(origin + ": checkpoint has no '" + key + "'");
  return it->value();
}

// A field added after the first checkpoints: absent in older files.
std::optional<c10::IValue> optional_field(const c10::impl::GenericDict& d, const std::string& key) {
  auto it = d.find(key);
  if (it == d.end()) return std::nullopt;
  return it->value();
}

c10::impl::GenericDict model_config_dict(const VggConfig& c) {
  auto d = new_dict();
  d.insert("arch", c.arch);
  d.insert("width_divisor", static_cast<int64_t>(c.width_divisor));
  d.insert("head", std::string(head_name(c.head)));
  d.insert("num_classes", static_cast<int64_t>(c.num_classes));
  d.insert("freeze", std::string(freeze_name(c.freeze)));
  d.insert("freeze_until", c.freeze_until);
  d.insert("dropout", c.dropout);
  c10::List<std::string> prefixes;
  for (const auto& prefix : c.freeze_prefixes) prefixes.push_back(prefix);
  d.insert("freeze_prefixes", prefixes);
  d.insert("model_path", c.model_path);
  d.insert("model_hash", c.model_hash);
  return d;
}

VggConfig model_config_from(const c10::impl::GenericDict& d, const std::string& origin) {
  VggConfig c;
  c.arch = field(d, "arch", origin).toStringRef();
  c.width_divisor = static_cast<int>(field(d, "width_divisor", origin).toInt());
  c.head = parse_head(field(d, "head", origin).toStringRef());
  c.num_classes = static_cast<int>(field(d, "num_classes", origin).toInt());
  c.freeze = parse_freeze(field(d, "freeze", origin).toStringRef());
  c.freeze_until = field(d, "freeze_until", origin).toStringRef();
  c.dropout = field(d, "dropout", origin).toDouble();
  // Fields of TorchScript and prefix-frozen models; absent in VGG-only checkpoints.
  if (auto prefixes = optional_field(d, "freeze_prefixes"); prefixes && prefixes->isList()) {
    for (const auto& prefix : prefixes->toListRef())
      c.freeze_prefixes.push_back(prefix.toStringRef());
  }
  if (auto path = optional_field(d, "model_path"); path && path->isString()) {
    c.model_path = path->toStringRef();
  }
  if (auto hash = optional_field(d, "model_hash"); hash && hash->isString()) {
    c.model_hash = hash->toStringRef();
  }
  return c;
}

// The label schema as plain strings, so Python's torch.load reads it too:
// {"kind": "binary", "attribute": "Smiling", "names": ["not Smiling", "Smiling"]}.
c10::impl::GenericDict label_dict(const LabelSpec& label) {
  auto d = new_dict();
  d.insert("kind", std::string(label_kind_name(label.kind)));
  d.insert("attribute", label.attribute);
  c10::List<std::string> names;
  for (const auto& name : label.names) names.push_back(name);
  d.insert("names", names);
  return d;
}

LabelSpec::Kind label_kind_from(const std::string& name) {
  for (auto kind :
       {LabelSpec::Kind::kBinary, LabelSpec::Kind::kCategorical, LabelSpec::Kind::kMultiLabel}) {
    if (name == label_kind_name(kind)) return kind;
  }
  return LabelSpec::Kind::kUnknown;
}

// Checkpoints written before label schemas have none: the label is then unknown.
LabelSpec label_from(const c10::impl::GenericDict& state) {
  LabelSpec label;
  const auto value = optional_field(state, "label");
  if (!value || !value->isGenericDict()) return label;
  const auto d = value->toGenericDict();
  const auto kind = optional_field(d, "kind");
  const auto attribute = optional_field(d, "attribute");
  const auto names = optional_field(d, "names");
  if (kind && kind->isString()) label.kind = label_kind_from(kind->toStringRef());
  if (attribute && attribute->isString()) label.attribute = attribute->toStringRef();
  if (names && names->isList()) {
    for (const auto& name : names->toListRef()) {
      if (name.isString()) label.names.push_back(name.toStringRef());
    }
  }
  return label;
}

// Where in its epoch a checkpoint was written (absent from files written before
// mid-epoch checkpoints: they are all at epoch boundaries).
c10::impl::GenericDict progress_dict(const EpochProgress& p) {
  auto d = new_dict();
  d.insert("split", p.split);
  d.insert("batches", p.batches);
  d.insert("samples", p.samples);
  d.insert("world_size", p.world_size);
  d.insert("global_batch", p.global_batch);
  d.insert("loss_sum", p.loss_sum);
  d.insert("correct", p.correct);
  d.insert("count", p.count);
  d.insert("decisions", p.decisions);
  return d;
}

EpochProgress progress_from(const c10::impl::GenericDict& state, const std::string& origin) {
  EpochProgress p;
  const auto value = optional_field(state, "progress");
  if (!value || !value->isGenericDict()) return p;
  const auto d = value->toGenericDict();
  p.split = field(d, "split", origin).toStringRef();
  p.batches = field(d, "batches", origin).toInt();
  p.samples = field(d, "samples", origin).toInt();
  p.world_size = field(d, "world_size", origin).toInt();
  p.global_batch = field(d, "global_batch", origin).toInt();
  p.loss_sum = field(d, "loss_sum", origin).toDouble();
  p.correct = field(d, "correct", origin).toInt();
  p.count = field(d, "count", origin).toInt();
  p.decisions = field(d, "decisions", origin).toInt();
  return p;
}

c10::impl::GenericDict lr_schedule_dict(const LrScheduleState& s) {
  auto d = new_dict();
  d.insert("lr", s.lr);
  d.insert("best", s.best);
  d.insert("has_best", s.has_best);
  d.insert("wait", s.wait);
  d.insert("cooldown_left", s.cooldown_left);
  d.insert("reductions", s.reductions);
  return d;
}

// Checkpoints written before schedules have none: a fresh schedule.
LrScheduleState lr_schedule_from(const c10::impl::GenericDict& state) {
  LrScheduleState s;
  const auto value = optional_field(state, "lr_schedule");
  if (!value || !value->isGenericDict()) return s;
  const auto d = value->toGenericDict();
  s.lr = field(d, "lr", "lr_schedule").toDouble();
  s.best = field(d, "best", "lr_schedule").toDouble();
  s.has_best = field(d, "has_best", "lr_schedule").toBool();
  s.wait = field(d, "wait", "lr_schedule").toInt();
  s.cooldown_left = field(d, "cooldown_left", "lr_schedule").toInt();
  s.reductions = field(d, "reductions", "lr_schedule").toInt();
  return s;
}

c10::impl::GenericDict state_dict(const TrainingState& s) {
  auto d = new_dict();
  d.insert("epoch", s.epoch);
  d.insert("step", s.step);
  auto es = new_dict();
  es.insert("best", s.early_stopping.best);
  es.insert("best_epoch", s.early_stopping.best_epoch);
  es.insert("wait", s.early_stopping.wait);
  es.insert("stopped_epoch", s.early_stopping.stopped_epoch);
  d.insert("early_stopping", es);
  auto in = new_dict();
  const auto& n = s.input.normalization;
  in.insert("height", static_cast<int64_t>(s.input.height));
  in.insert("width", static_cast<int64_t>(s.input.width));
  in.insert("channels", static_cast<int64_t>(s.input.channels));
  in.insert("normalization", static_cast<int64_t>(n.kind));
  in.insert("scale", n.scale);
  in.insert("mean", torch::tensor({n.mean[0], n.mean[1], n.mean[2]}, torch::kFloat64));
  in.insert("std", torch::tensor({n.std[0], n.std[1], n.std[2]}, torch::kFloat64));
  in.insert("normalization_name", s.input.normalization_name);
  d.insert("input", in);
  d.insert("label", label_dict(s.label));
  d.insert("config_text", s.config_text);
  d.insert("progress", progress_dict(s.progress));
  d.insert("lr_schedule", lr_schedule_dict(s.lr_schedule));
  return d;
}

TrainingState state_from(const c10::impl::GenericDict& d, const std::string& origin) {
  TrainingState s;
  s.epoch = field(d, "epoch", origin).toInt();
  s.step = field(d, "step", origin).toInt();
  auto es = field(d, "early_stopping", origin).toGenericDict();
  s.early_stopping.best = field(es, "best", origin).toDouble();
  s.early_stopping.best_epoch = field(es, "best_epoch", origin).toInt();
  s.early_stopping.wait = field(es, "wait", origin).toInt();
  s.early_stopping.stopped_epoch = field(es, "stopped_epoch", origin).toInt();
  auto in = field(d, "input", origin).toGenericDict();
  s.input.height = static_cast<int>(field(in, "height", origin).toInt());
  s.input.width = static_cast<int>(field(in, "width", origin).toInt());
  s.input.channels = static_cast<int>(field(in, "channels", origin).toInt());
  auto& n = s.input.normalization;
  n.kind = static_cast<Normalization::Kind>(field(in, "normalization", origin).toInt());
  n.scale = field(in, "scale", origin).toDouble();
  auto mean = field(in, "mean", origin).toTensor();
  auto stdv = field(in, "std", origin).toTensor();
  for (int c = 0; c < 3; ++c) {
    n.mean[c] = mean[c].item<double>();
    n.std[c] = stdv[c].item<double>();
  }
  if (auto name = optional_field(in, "normalization_name"); name && name->isString()) {
    s.input.normalization_name = name->toStringRef();
  }
  s.label = label_from(d);
  s.config_text = field(d, "config_text", origin).toStringRef();
  s.progress = progress_from(d, origin);
  s.lr_schedule = lr_schedule_from(d);
  return s;
}

// The first line of a failure's message: the user sees one line naming the file.
std::string first_line(std::string text) {
  const size_t newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}

c10::impl::GenericDict read_checkpoint_dict_or_throw(const std::string& path) {
  const std::vector<char> bytes = read_regular_file_bytes(path, kMaxCheckpointBytes, "checkpoint");
  torch::IValue v = pickle_load_bounded(bytes);
  if (!v.isGenericDict()) throw std::runtime_error("not a sluice checkpoint");
  auto d = v.toGenericDict();
  auto it = d.find("format");
  if (it == d.end() || !it->value().isString() || it->value().toStringRef() != kCheckpointFormat) {
    throw std::runtime_error(std::string("not a sluice checkpoint (format ") + kCheckpointFormat +
                             " expected)");
  }
  return d;
}

// Any failure to read or decode a checkpoint becomes one line,
// "cannot read checkpoint PATH: CAUSE": a truncated or corrupt file otherwise
// shows LibTorch's C++ stack trace, or a stream error without the path.
[[noreturn]] void throw_unreadable(const std::string& path, const std::exception& cause) {
  std::string why = first_line(error_message(cause));
  if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);  // named once is enough
  throw std::runtime_error("cannot read checkpoint " + path + ": " + why);
}

c10::impl::GenericDict read_checkpoint_dict(const std::string& path) {
  try {
    return read_checkpoint_dict_or_throw(path);
  } catch (const std::exception& e) {
    throw_unreadable(path, e);
  }
}

// torch::pickle_save, into a string, failing with an exception where LibTorch's
// ends the process: LibTorch grows its buffer from a callback inside the (C) zip
// writer, and writes the archive's end from the writer's destructor, so running
// out of memory there meant std::terminate (SIGABRT). Here the callback never
// throws: it notes the failure, and the failure is thrown once the writer is done.
std::string pickle_to_string(const torch::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler(
      [&](const char* data, size_t n) { pickle.insert(pickle.end(), data, data + n); });
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  // Sized once, up front: growing by doubling would hold the old and the new
  // buffer at once, up to 2.5 times the checkpoint.
  size_t size = pickle.size() + (size_t{1} << 20);
  for (const at::Tensor& t : pickler.tensorData()) size += t.nbytes() + 128;
  std::string out;
  out.reserve(size);
  bool out_of_memory = false;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) -> size_t {
      if (out_of_memory) return n;  // the archive is dropped; let the writer finish
      try {
        out.append(static_cast<const char*>(data), n);
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
      return n;
    });
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                       writer);
    writer.writeEndOfFile();
  }
  if (out_of_memory) throw std::bad_alloc();
  return out;
}

}  // namespace

struct Trainer::Impl {
  TrainerConfig config;
  torch::Device device{torch::kCPU};
  bool cuda = false;
  bool bf16 = false;
  bool channels_last = false;
  AutocastMode autocast;
  std::unique_ptr<GradScaler> scaler;  // fp16 only
  double last_grad_norm = NAN;
  std::unique_ptr<Model> model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::Tensor> trainable;
  std::function<bool(double)> gradient_hook;

  void build_optimizer() {
    std::vector<torch::Tensor> params;
    for (auto& p : model->parameters()) {
      if (p.requires_grad()) params.push_back(p);
    }
    if (params.empty()) throw std::runtime_error("every parameter is frozen: nothing to train");
    trainable = params;
    const auto& o = config.optimizer;
    switch (optimizer_choices().parse(o.name)) {
      case OptimizerKind::kAdam:
        optimizer = std::make_unique<torch::optim::Adam>(
            params, torch::optim::AdamOptions(o.lr)
                        .betas(std::make_tuple(o.beta1, o.beta2))
                        .weight_decay(o.weight_decay));
        break;
      case OptimizerKind::kSgd:
        optimizer = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr)
                                                                    .momentum(o.momentum)
                                                                    .nesterov(o.nesterov)
                                                                    .weight_decay(o.weight_decay));
        break;
    }
  }

  // uint8 NHWC host pixels -> normalised float NCHW on the device.
  torch::Tensor upload(const Batch& b) const {
    if (b.size <= 0 || !b.pixels) throw std::invalid_argument("empty batch");
    if (b.channels != 3) {
      throw std::invalid_argument("the model needs 3-channel images, batch has " +
                                  std::to_string(b.channels));
    }
    auto host =
        torch::from_blob(b.pixels.get(), {b.size, b.height, b.width, b.channels}, torch::kUInt8);
    // From pinned memory this copy is asynchronous; the batch outlives the step,
    // which synchronises when it reads the loss.
    auto x = host.to(device, /*non_blocking=*/cuda).permute({0, 3, 1, 2}).to(torch::kFloat);
    // The permuted NHWC memory already is channels_last; CPU wants plain NCHW.
    x = channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
    const auto& n = b.normalization;
    switch (n.kind) {
      case Normalization::Kind::kNone:
        break;
      case Normalization::Kind::kRescale:
        x.mul_(n.scale);
        break;
      case Normalization::Kind::kMeanStd: {
        std::vector<float> scale(3), shift(3);
        for (int c = 0; c < 3; ++c) {
          scale[c] = static_cast<float>(1.0 / (255.0 * n.std[c]));
          shift[c] = static_cast<float>(-n.mean[c] / n.std[c]);
        }
        auto s = torch::tensor(scale).view({1, 3, 1, 1}).to(device);
        auto t = torch::tensor(shift).view({1, 3, 1, 1}).to(device);
        x.mul_(s).add_(t);
        break;
      }
    }
    return x;
  }

  // One target per image: the class id (categorical, as int64) or 0/1 as float.
  torch::Tensor targets(const Batch& b) const {
    if (b.label_width != 1 || static_cast<int>(b.labels.size()) != b.size) {
      throw std::invalid_argument(payload_text(b) + ": has " + std::to_string(b.labels.size()) +
                                  " labels (" + std::to_string(b.label_width) + " per image) for " +
                                  std::to_string(b.size) +
                                  " images; this model takes one per image");
    }
    auto y = torch::tensor(b.labels, torch::kInt64);
    if (config.label_kind == LabelSpec::Kind::kCategorical) return y.to(device);
    return y.to(device, torch::kFloat);
  }

  // Multi-label targets: images x outputs of 0/1.
  torch::Tensor multi_targets(const Batch& b, int64_t outputs) const {
    if (b.label_width != outputs ||
        static_cast<int64_t>(b.labels.size()) != static_cast<int64_t>(b.size) * outputs) {
      throw std::invalid_argument(payload_text(b) + ": has " + std::to_string(b.label_width) +
                                  " label value(s) per image but the model has " +
                                  std::to_string(outputs) + " outputs, one per attribute");
    }
    return torch::tensor(b.labels, torch::kInt64).view({b.size, outputs}).to(device, torch::kFloat);
  }

  torch::Tensor pos_weight_tensor(int64_t outputs) const {
    if (config.pos_weight.empty()) return {};
    if (static_cast<int64_t>(config.pos_weight.size()) != outputs) {
      throw std::invalid_argument("pos_weight has " + std::to_string(config.pos_weight.size()) +
                                  " value(s) for " + std::to_string(outputs) + " output(s)");
    }
    return torch::tensor(config.pos_weight, torch::kFloat64).to(device, torch::kFloat);
  }

  torch::Tensor class_weight_tensor() const {
    return torch::tensor(config.class_weights, torch::kFloat64).to(device, torch::kFloat);
  }

  // The loss of `logits` (images x outputs) against the batch's labels, averaged
  // (kMean) or summed over images (kSum; multi-label: the attributes' mean per image),
  // with the count of right decisions and of decisions.
  // `weighted`: with class_weights (training only).
  torch::Tensor loss(const torch::Tensor& logits, const Batch& b,
                     at::Reduction::Reduction reduction, int64_t* correct, int64_t* decisions,
                     bool weighted = false) const {
    const bool by_class = weighted && !config.class_weights.empty();
    const int64_t outputs = logits.size(1);
    switch (config.label_kind) {
      case LabelSpec::Kind::kCategorical: {
        auto y = targets(b);
        const int64_t top = y.numel() ? y.max().item<int64_t>() : 0;
        if (top >= outputs) {
          throw std::invalid_argument(payload_text(b) + ": class id " + std::to_string(top) +
                                      " but the model has " + std::to_string(outputs) + " classes");
        }
        if (correct) *correct = (logits.detach().argmax(1) == y).sum().item<int64_t>();
        if (decisions) *decisions = b.size;
        auto options = torch::nn::functional::CrossEntropyFuncOptions();
        if (reduction == at::Reduction::Sum) {
          options.reduction(torch::kSum);
        } else {
          options.reduction(torch::kMean);
        }
        if (by_class) options.weight(class_weight_tensor());
        return torch::nn::functional::cross_entropy(logits, y, options);
      }
      case LabelSpec::Kind::kMultiLabel: {
        auto y = multi_targets(b, outputs);
        if (correct) *correct = (logits.detach().ge(0) == y.ge(0.5)).sum().item<int64_t>();
        if (decisions) *decisions = b.size * outputs;
        auto l = torch::binary_cross_entropy_with_logits(logits, y, {}, pos_weight_tensor(outputs),
                                                         reduction);
        return reduction == at::Reduction::Sum ? l / static_cast<double>(outputs) : l;
      }
      default: {
        if (outputs != 1) {
          throw std::runtime_error(
              "a binary label needs a one-unit head (num_classes = 1), "
              "model has " +
              std::to_string(outputs));
        }
        auto y = targets(b);
        auto z = logits.squeeze(1);
        if (correct) *correct = (z.detach().ge(0) == y.ge(0.5)).sum().item<int64_t>();
        if (decisions) *decisions = b.size;
        // Each image's loss times the weight of its class: w0 + (w1 - w0) y.
        torch::Tensor weight;
        if (by_class) {
          const auto w = class_weight_tensor();
          weight = w[0] + (w[1] - w[0]) * y;
        }
        return torch::binary_cross_entropy_with_logits(z, y, weight, pos_weight_tensor(1),
                                                       reduction);
      }
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    AutocastScope scope(autocast);
    return model->forward(x).to(torch::kFloat);
  }

  c10::impl::GenericDict rng_state() const {
    auto d = new_dict();
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      d.insert("cpu", gen.get_state());
    }
    if (cuda) {
      auto gen = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      d.insert("cuda", gen.get_state());
    }
    return d;
  }

  void restore_rng(const c10::impl::GenericDict& d) {
    if (auto it = d.find("cpu"); it != d.end()) {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(it->value().toTensor());
    }
    if (auto it = d.find("cuda"); cuda && it != d.end()) {
      auto gen = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(it->value().toTensor());
    }
  }
};

namespace {

std::string torch_major_minor() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
}

// The autocast of `precision` on the resolved device; throws precision_problem's text.
AutocastMode autocast_mode(const std::string& precision, const std::string& device, bool cuda) {
  if (precision != "auto" && precision != "fp32" && precision != "bf16" && precision != "fp16") {
    throw std::invalid_argument("unknown precision '" + precision +
                                "' (expected auto, fp32, bf16 or fp16)");
  }
  const std::string problem = precision_problem(precision, cuda ? "cuda" : "cpu");
  if (!problem.empty()) throw std::invalid_argument(problem);
  (void)device;
  AutocastMode mode;
  if (precision == "fp32" || (precision == "auto" && !cuda)) return mode;
  mode.enabled = true;
  mode.device = cuda ? at::kCUDA : at::kCPU;
  mode.dtype = precision == "fp16" ? at::kHalf : at::kBFloat16;
  return mode;
}

// class_weights: one per class of a categorical head, two for a binary one.
void check_class_weights(const TrainerConfig& c) {
  const auto& w = c.class_weights;
  if (w.empty()) return;
  if (c.label_kind == LabelSpec::Kind::kMultiLabel) {
    throw std::invalid_argument(
        "class_weights weighs the classes of a categorical or binary label; a multi-label "
        "label weighs each attribute's positives with pos_weight");
  }
  const size_t classes =
      c.label_kind == LabelSpec::Kind::kCategorical ? static_cast<size_t>(c.model.num_classes) : 2;
  if (w.size() != classes) {
    throw std::invalid_argument("class_weights has " + std::to_string(w.size()) + " value(s) for " +
                                std::to_string(classes) + " classes");
  }
}

}  // namespace

NonFiniteLoss::NonFiniteLoss(double loss, const std::string& message)
    : std::runtime_error(message), loss_(loss) {}

NonFiniteLoss::NonFiniteLoss(double loss)
    : NonFiniteLoss(loss, std::string("non-finite loss (") +
                              (std::isnan(loss) ? "nan"
                               : loss > 0       ? "inf"
                                                : "-inf") +
                              ")") {}

NonFiniteLoss NonFiniteLoss::on_another_rank(double loss) {
  return NonFiniteLoss(
      loss, "non-finite loss on another rank (this rank's was " + std::to_string(loss) + ")");
}

std::string precision_problem(const std::string& precision, const std::string& device) {
  const bool cpu = device == "cpu" || (device == "auto" && !torch::cuda::is_available());
  if (!cpu) return {};
  if (precision == "fp16") {
    return "precision = \"fp16\" needs a CUDA device (fp16 autocast with loss scaling); the "
           "CPU runs fp32, or bf16 with LibTorch 2.x";
  }
#ifndef SLUICE_CPU_AUTOCAST
  if (precision == "bf16") {
    return "precision = \"bf16\" on the CPU is not supported by this LibTorch (" +
           torch_major_minor() + "); needs 2.x (or use fp32, or a CUDA device)";
  }
#endif
  return {};
}

Trainer::Trainer(TrainerConfig config) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.config = std::move(config);
  m.device = parse_device(m.config.device);
  m.cuda = m.device.is_cuda();
  m.autocast = autocast_mode(m.config.precision, m.config.device, m.cuda);
  m.bf16 = m.autocast.enabled && m.autocast.dtype == at::kBFloat16;
  if (m.autocast.enabled && m.autocast.dtype == at::kHalf) {
    GradScalerOptions scaling;
    scaling.growth_interval = m.config.loss_scale_growth_interval;
    m.scaler = std::make_unique<GradScaler>(scaling);
  }
  check_class_weights(m.config);
  m.channels_last = m.cuda && m.config.channels_last;
  if (m.cuda) at::globalContext().setBenchmarkCuDNN(m.config.cudnn_benchmark);
  torch::manual_seed(m.config.seed);
  m.model = make_model(m.config.model);
  m.config.model = m.model->config();  // a TorchScript model adds its file's fingerprint
  m.model->to(m.device);
  if (m.channels_last) {
    for (auto& p : m.model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
  m.build_optimizer();
}

Trainer::~Trainer() = default;

const TrainerConfig& Trainer::config() const { return impl_->config; }
double Trainer::learning_rate() const {
  const auto& groups = impl_->optimizer->param_groups();
  return groups.empty() ? impl_->config.optimizer.lr : groups.front().options().get_lr();
}
void Trainer::set_learning_rate(double lr) {
  for (auto& group : impl_->optimizer->param_groups()) group.options().set_lr(lr);
}
bool Trainer::on_cuda() const { return impl_->cuda; }
bool Trainer::bf16() const { return impl_->bf16; }
bool Trainer::fp16() const { return impl_->scaler != nullptr; }
double Trainer::loss_scale() const { return impl_->scaler ? impl_->scaler->current_scale() : 1.0; }
double Trainer::last_grad_norm() const { return impl_->last_grad_norm; }
int64_t Trainer::skipped_steps() const {
  return impl_->scaler ? impl_->scaler->skipped_steps() : 0;
}
bool Trainer::parameters_finite() const {
  torch::NoGradGuard no_grad;
  for (const auto& p : impl_->model->parameters()) {
    if (!torch::isfinite(p).all().item<bool>()) return false;
  }
  return true;
}
std::string Trainer::device_name() const { return impl_->device.str(); }
Model& Trainer::model() { return *impl_->model; }
int64_t Trainer::parameter_count(bool trainable_only) const {
  return count_parameters(*impl_->model, trainable_only);
}

void Trainer::set_gradient_hook(std::function<bool(double)> hook) {
  impl_->gradient_hook = std::move(hook);
}

void Trainer::load_pretrained(const std::string& path) {
  load_weights_file(*impl_->model, path, LoadMode::kTransfer);
}

StepResult Trainer::train_step(const Batch& batch) {
  auto& m = *impl_;
  m.model->set_training(true);
  auto x = m.upload(batch);
  m.optimizer->zero_grad();
  auto logits = m.forward(x);
  StepResult r;
  auto loss = m.loss(logits, batch, at::Reduction::Mean, &r.correct, &r.decisions, true);
  (m.scaler ? m.scaler->scale(loss) : loss).backward();
  const double value = loss.item<double>();
  const bool every_rank_finite = m.gradient_hook ? m.gradient_hook(value) : true;
  if (!std::isfinite(value)) throw NonFiniteLoss(value);
  if (!every_rank_finite) throw NonFiniteLoss::on_another_rank(value);
  r.count = batch.size;
  r.loss_sum = value * batch.size;
  if (m.scaler && m.scaler->unscale(m.trainable)) {  // overflowed: skip the step
    m.scaler->update(true);
    return r;
  }
  if (m.config.clip_grad_norm > 0) {
    m.last_grad_norm = torch::nn::utils::clip_grad_norm_(m.trainable, m.config.clip_grad_norm);
  }
  m.optimizer->step();
  if (m.scaler) m.scaler->update(false);
  return r;
}

std::vector<float> Trainer::predict(const Batch& batch, double* loss_sum) {
  auto& m = *impl_;
  torch::NoGradGuard no_grad;
  m.model->set_training(false);
  auto logits = m.forward(m.upload(batch));
  const bool sigmoid = logits.size(1) == 1 || m.config.label_kind == LabelSpec::Kind::kMultiLabel;
  torch::Tensor probs = sigmoid ? torch::sigmoid(logits) : torch::softmax(logits, 1);
  // A many-output model without a label kind (the ImageNet head) has no loss here.
  if (loss_sum && (sigmoid || m.config.label_kind == LabelSpec::Kind::kCategorical)) {
    *loss_sum = m.loss(logits, batch, at::Reduction::Sum, nullptr, nullptr).item<double>();
  }
  probs = probs.to(torch::kCPU).contiguous();
  return std::vector<float>(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
}

std::string Trainer::checkpoint_bytes(const TrainingState& state) const {
  auto& m = *impl_;
  auto model = new_dict();
  for (auto& [name, t] : model_state(*m.model)) {
    model.insert(name, t.detach().to(torch::kCPU).contiguous());
  }
  torch::serialize::OutputArchive archive;
  m.optimizer->save(archive);
  std::ostringstream os;
  archive.save_to(os);

  auto d = new_dict();
  d.insert("format", std::string(kCheckpointFormat));
  d.insert("torch_version", std::string(TORCH_VERSION));
  d.insert("model", model);
  d.insert("model_config", model_config_dict(m.config.model));
  d.insert("optimizer_name", m.config.optimizer.name);
  {
    const std::string optimizer = os.str();
    os.str(std::string());  // two copies of the optimizer's state at a time, not three
    d.insert("optimizer", bytes_to_tensor(optimizer));
  }
  d.insert("rng", m.rng_state());
  if (m.scaler) {  // fp16: a resumed run continues at the scale it had reached
    auto scaler = new_dict();
    scaler.insert("scale", m.scaler->current_scale());
    scaler.insert("growth_tracker", m.scaler->growth_tracker());
    d.insert("grad_scaler", scaler);
  }
  d.insert("state", state_dict(state));
  return pickle_to_string(d);
}

void Trainer::save_checkpoint(const std::string& path, const TrainingState& state,
                              const AtomicWriteHook& hook) const {
  std::string bytes;
  try {
    bytes = checkpoint_bytes(state);
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("cannot save checkpoint " + path + ": out of memory");
  } catch (const c10::Error& e) {  // LibTorch's allocators report running out this way
    throw std::runtime_error("cannot save checkpoint " + path + ": " + error_message(e));
  }
  write_file_atomically(path, bytes, hook);
}

TrainingState Trainer::load_checkpoint(const std::string& path, bool with_optimizer) {
  // A field of the wrong type throws c10::Error (with a stack trace) from the
  // IValue accessors; the weights-do-not-fit report of load_state stays whole.
  try {
    return load_checkpoint_fields(path, with_optimizer);
  } catch (const c10::Error& e) {
    throw_unreadable(path, e);
  }
}

TrainingState Trainer::load_checkpoint_fields(const std::string& path, bool with_optimizer) {
  auto& m = *impl_;
  auto d = read_checkpoint_dict(path);
  std::vector<std::pair<std::string, torch::Tensor>> weights;
  for (const auto& e : field(d, "model", path).toGenericDict()) {
    weights.emplace_back(e.key().toStringRef(), e.value().toTensor());
  }
  load_state(*m.model, weights, LoadMode::kStrict, path);
  if (with_optimizer) {
    const std::string name = field(d, "optimizer_name", path).toStringRef();
    if (name != m.config.optimizer.name) {
      throw std::runtime_error(path + ": checkpoint was trained with optimizer '" + name +
                               "', the config asks for '" + m.config.optimizer.name + "'");
    }
    const std::string bytes = tensor_to_bytes(field(d, "optimizer", path).toTensor());
    check_archive_pickles(bytes);
    std::istringstream is(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(is, m.device);
    m.optimizer->load(archive);
    m.restore_rng(field(d, "rng", path).toGenericDict());
    if (auto it = d.find("grad_scaler"); m.scaler && it != d.end()) {
      const auto scaler = it->value().toGenericDict();
      m.scaler->restore(field(scaler, "scale", path).toDouble(),
                        field(scaler, "growth_tracker", path).toInt());
    }
  }
  return state_from(field(d, "state", path).toGenericDict(), path);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  auto d = read_checkpoint_dict(path);
  try {
    CheckpointInfo info;
    info.model = model_config_from(field(d, "model_config", path).toGenericDict(), path);
    info.state = state_from(field(d, "state", path).toGenericDict(), path);
    info.optimizer = field(d, "optimizer_name", path).toStringRef();
    return info;
  } catch (const std::exception& e) {
    throw_unreadable(path, e);
  }
}

bool cuda_available() { return torch::cuda::is_available(); }

namespace {

class PinnedAllocator : public BufferAllocator {
 public:
  ByteBuffer allocate(size_t bytes) override {
    auto t = torch::empty({static_cast<int64_t>(bytes)},
                          torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(true));
    uint8_t* data = t.data_ptr<uint8_t>();
    // The buffer owns the tensor; PyTorch's caching host allocator recycles the block.
    return ByteBuffer(data, [t](uint8_t*) mutable { t.reset(); });
  }
  const char* name() const override { return "cuda-pinned"; }
};

}  // namespace

std::shared_ptr<BufferAllocator> make_pinned_allocator() {
  if (!torch::cuda::is_available()) return nullptr;
  return std::make_shared<PinnedAllocator>();
}

}  // namespace sluice::train

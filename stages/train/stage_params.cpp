#include "stages/train/stage_params.h"

#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

#include "pipeline/file_read.h"

#include "stages/train/model_params.h"
#include "stages/train/train_choices.h"

namespace sluice::train {

const char* const kFreezeUntilMissing =
    "freeze = \"until\" needs freeze_until, e.g. \"features.23\"";

std::string file_param_problem(const std::string& key, const std::string& path) {
  // stat and access only: opening a FIFO to test it would block.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return key + ": no such file '" + path + "'";
  if (!S_ISREG(st.st_mode)) {
    return key + ": '" + path + "' is " + file_type_name(st.st_mode) + ", not a regular file";
  }
  if (::access(path.c_str(), R_OK) != 0) return key + ": cannot read '" + path + "'";
  return {};
}

void require_file(const std::string& key, const std::string& path) {
  const std::string problem = file_param_problem(key, path);
  if (!problem.empty()) throw std::runtime_error(problem);
}

void check_file_param(StageSpec& spec, const std::string& key) {
  spec.check([key](const ParamCheck& c) {
    if (!c.params().has(key)) return;
    const std::string& path = c.params().get_string(key);
    if (path.empty()) return;
    const std::string problem = file_param_problem(key, path);
    if (!problem.empty()) c.error(key, problem);
  });
}

void add_model_params(StageSpec& spec) {
  spec.param(ParamSpec::string("arch", "vgg16", "VGG depth").one_of(vgg_arch_names()))
      .param(ParamSpec::integer("width_divisor", 1,
                                "divides every channel count and the fc width (narrow models "
                                "for tests and demos; 1 = torchvision's VGG)")
                 .range(1, 64))
      .param(ParamSpec::string("head", "replace_last",
                               "imagenet: 1000-class classifier; replace_last: keep fc6/fc7, "
                               "one output unit; gap: global average pooling + one unit")
                 .one_of(head_choices().names()))
      .param(ParamSpec::number("dropout", 0.5, "dropout of the fc6/fc7 classifier").range(0, 1))
      .param(ParamSpec::string("freeze", "features",
                               "parameters that are not trained: features (all convolutions), "
                               "none, or until (features.0 .. freeze_until)")
                 .one_of(freeze_choices().names()))
      .param(ParamSpec::string("freeze_until", "",
                               "with freeze = \"until\": last frozen layer, e.g. features.23"))
      .check([](const ParamCheck& c) {
        const Params& p = c.params();
        if (freeze_choices().parse(p.get_string("freeze")) == Freeze::kUntil &&
            p.get_string("freeze_until").empty()) {
          c.error("freeze", kFreezeUntilMissing);
        }
      });
}

void add_device_params(StageSpec& spec) {
  spec.param(ParamSpec::string("device", "auto",
                               "auto (CUDA when present), cpu, cuda or cuda:N; cuda without "
                               "CUDA is an error"))
      .param(ParamSpec::string("precision", "auto",
                               "auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16 "
                               "(autocast; on the CPU with LibTorch 2.x) or fp16 (CUDA "
                               "autocast with dynamic loss scaling)")
                 .one_of({"auto", "fp32", "bf16", "fp16"}))
      .param(ParamSpec::boolean("channels_last", true, "channels_last memory format on CUDA"))
      .param(ParamSpec::boolean("cudnn_benchmark", true, "let cuDNN pick the fastest kernels"))
      .check([](const ParamCheck& c) {
        // Decidable here when the device is the CPU, or auto on a machine without CUDA;
        // otherwise the trainer refuses it when the run starts.
        const std::string problem =
            precision_problem(c.params().get_string("precision"), c.params().get_string("device"));
        if (!problem.empty()) c.error("precision", problem);
      });
}

void add_optimizer_params(StageSpec& spec) {
  spec.param(ParamSpec::string("optimizer", "adam", "adam or sgd (with momentum)")
                 .one_of(optimizer_choices().names()))
      .param(ParamSpec::number("lr", 1e-4, "learning rate").min(0))
      .param(ParamSpec::numbers("betas", {0.9, 0.999}, "Adam's beta1, beta2").list_size(2, 2))
      .param(ParamSpec::number("weight_decay", 0.0, "L2 penalty").min(0))
      .param(ParamSpec::number("momentum", 0.9, "SGD momentum").range(0, 1))
      .param(ParamSpec::boolean("nesterov", false, "SGD with Nesterov momentum"));
}

VggConfig model_config_from(const Params& p) {
  if (p.has("model")) return any_model_config_from(p);  // train.model
  VggConfig c;
  c.arch = p.get_string("arch");
  c.width_divisor = static_cast<int>(p.get_int("width_divisor"));
  c.head = head_choices().parse(p.get_string("head"));
  c.num_classes = c.head == Head::kImagenet ? 1000 : 1;
  c.dropout = p.get_float("dropout");
  c.freeze = freeze_choices().parse(p.get_string("freeze"));
  c.freeze_until = p.get_string("freeze_until");
  if (c.freeze == Freeze::kUntil && c.freeze_until.empty()) {
    throw std::invalid_argument(kFreezeUntilMissing);
  }
  return c;
}

void apply_device_params(const Params& p, TrainerConfig& config) {
  config.device = p.get_string("device");
  config.precision = p.get_string("precision");
  config.channels_last = p.get_bool("channels_last");
  config.cudnn_benchmark = p.get_bool("cudnn_benchmark");
}

OptimizerConfig optimizer_config_from(const Params& p) {
  OptimizerConfig o;
  o.name = p.get_string("optimizer");
  o.lr = p.get_float("lr");
  const auto betas = p.get_floats("betas");
  o.beta1 = betas.at(0);
  o.beta2 = betas.at(1);
  o.weight_decay = p.get_float("weight_decay");
  o.momentum = p.get_float("momentum");
  o.nesterov = p.get_bool("nesterov");
  return o;
}

void apply_training_input(const InputSpec& trained, Batch& batch) {
  if (trained.height > 0) {  // the checkpoint saw training batches
    batch.normalization = trained.normalization;
  }
}

}  // namespace sluice::train

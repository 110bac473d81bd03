#include "stages/train/model_params.h"

#include <algorithm>
#include <stdexcept>

#include "stages/train/model.h"
#include "stages/train/stage_params.h"
#include "stages/train/train_choices.h"

namespace sluice::train {
namespace {

// The configuration the parameters name, before any check.
ModelConfig read_model_config(const Params& p) {
  ModelConfig c;
  c.arch = p.get_string("arch");
  c.model_path = p.get_string("model");
  c.width_divisor = static_cast<int>(p.get_int("width_divisor"));
  c.head = head_choices().parse(p.get_string("head"));
  c.num_classes = c.head == Head::kImagenet ? 1000 : 1;
  c.dropout = p.get_float("dropout");
  const auto& freeze = p.get_strings("freeze");
  if (freeze.empty()) {
    c.freeze = Freeze::kNone;
  } else if (freeze.size() == 1 && freeze[0] == kFreezeTrunk) {
    c.freeze = Freeze::kFeatures;
  } else {
    c.freeze = Freeze::kPrefixes;
    c.freeze_prefixes = freeze;
  }
  return c;
}

using Problems = std::vector<std::pair<std::string, std::string>>;

void architecture_problems(const Params& p, const ModelConfig& c, Problems& out) {
  const bool script = c.arch == kTorchscriptArch;
  if (script && c.model_path.empty()) {
    out.emplace_back("arch",
                     "arch = \"torchscript\" needs model = \"FILE.pt\" (a torch.jit.save'd "
                     "module, e.g. from tools/export_torchscript.py)");
  }
  if (!script && !c.model_path.empty()) {
    out.emplace_back("model", "model names a TorchScript file, for arch = \"torchscript\"; arch " +
                                  c.arch +
                                  " is built in (remove model, or set arch = "
                                  "\"torchscript\")");
  }
  if (script && !c.model_path.empty()) {
    const std::string problem = file_param_problem("model", c.model_path);
    if (!problem.empty()) out.emplace_back("model", problem);
  }
  if (script && c.width_divisor != 1) {
    out.emplace_back("width_divisor",
                     "width_divisor narrows a built-in architecture; a "
                     "TorchScript model is used as exported");
  }
  if (script && c.head != Head::kReplaceLast) {
    out.emplace_back("head",
                     "a TorchScript model keeps its own head; export it with one output "
                     "per class (tools/export_torchscript.py --num-classes N)");
  }
  if (is_resnet_arch(c.arch) && c.head == Head::kGap) {
    out.emplace_back("head",
                     "head = \"gap\" is VGG's; a ResNet pools globally already "
                     "(use replace_last or imagenet)");
  }
  if (script && p.has("weights") && !p.get_string("weights").empty()) {
    out.emplace_back("weights",
                     "a TorchScript file carries its own weights; weights loads "
                     "torchvision weights into a built-in arch");
  }
}

void freeze_problems(const Params& p, const ModelConfig& c, Problems& out) {
  const auto& freeze = p.get_strings("freeze");
  const bool trunk = std::find(freeze.begin(), freeze.end(), kFreezeTrunk) != freeze.end();
  if (trunk && freeze.size() > 1) {
    out.emplace_back("freeze",
                     "freeze = [\"trunk\"] freezes the whole trunk; list prefixes "
                     "without \"trunk\" to freeze part of it");
    return;
  }
  if (trunk && c.arch == kTorchscriptArch) {
    out.emplace_back("freeze",
                     "a TorchScript model has no known trunk: freeze it by "
                     "parameter-name prefix, e.g. freeze = [\"conv1.\", \"layer1.\"], "
                     "or freeze = [] for none");
    return;
  }
  if (c.freeze != Freeze::kPrefixes) return;
  ModelConfig plain = c;
  plain.freeze = Freeze::kNone;
  plain.num_classes = 1;
  NamedTensors params;
  try {
    for (auto& [name, t] : make_model(plain)->named_parameters()) params.emplace_back(name, t);
    freeze_by_prefix(params, c.freeze_prefixes, c.arch == kTorchscriptArch ? c.model_path : c.arch);
  } catch (const std::exception& e) {
    out.emplace_back("freeze", error_message(e));
  }
}

}  // namespace

const char* const kFreezeTrunk = "trunk";

std::vector<std::pair<std::string, std::string>> model_param_problems(const Params& p) {
  const ModelConfig c = read_model_config(p);
  Problems out;
  architecture_problems(p, c, out);
  if (out.empty()) freeze_problems(p, c, out);
  return out;
}

ModelConfig any_model_config_from(const Params& p) {
  const auto problems = model_param_problems(p);
  if (!problems.empty()) throw std::invalid_argument(problems.front().second);
  return read_model_config(p);
}

void add_any_model_params(StageSpec& spec) {
  spec.param(ParamSpec::string("arch", "resnet18",
                               "vgg11|vgg13|vgg16|vgg19, resnet18|resnet34|resnet50 (torchvision's "
                               "names and shapes), or torchscript (model = FILE)")
                 .one_of(model_arch_names()))
      .param(ParamSpec::string("model", "",
                               "arch = \"torchscript\": a torch.jit.save'd module "
                               "(tools/export_torchscript.py)"))
      .param(ParamSpec::integer("width_divisor", 1,
                                "divides every channel count (VGG: and the fc width; ResNet: "
                                "64..512 per stage); narrow models for tests and demos; 1 = "
                                "torchvision's")
                 .range(1, 64))
      .param(ParamSpec::string("head", "replace_last",
                               "imagenet: torchvision's 1000 classes; replace_last: the last "
                               "layer sized for the label; gap (VGG): global average pooling + "
                               "one linear layer")
                 .one_of(head_choices().names()))
      .param(ParamSpec::number("dropout", 0.5, "dropout of VGG's fc6/fc7 classifier").range(0, 1))
      .param(ParamSpec::strings("freeze", {kFreezeTrunk},
                                "parameters that are not trained: [\"trunk\"] (VGG: the "
                                "convolutions; ResNet: all but fc), parameter-name prefixes "
                                "([\"conv1.\", \"layer1.\"]), or [] for none; batch norms of "
                                "frozen layers keep their running statistics"))
      .check([](const ParamCheck& c) {
        for (const auto& [key, message] : model_param_problems(c.params())) c.error(key, message);
      });
}

}  // namespace sluice::train

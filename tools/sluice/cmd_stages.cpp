// `sluice stages [NAME]`: lists the registered stages with their ports and
// parameters, from the same declarations the validator uses.
#include <cmath>
#include <iostream>

#include "pipeline/suggest.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"

namespace sluice::cli {
namespace {

std::string ports(const StageSpec& s) {
  switch (s.kind) {
    case StageKind::kSource:
      return "-> " + s.output.name;
    case StageKind::kTransform:
      return s.input.name + " -> " + s.output.name;
    case StageKind::kSink:
      return s.input.name + " ->";
  }
  return {};
}

// The ports' C++ payload types: "sluice::vision_v3::Sample -> sluice::vision_v3::Image".
std::string port_cpp_types(const StageSpec& s) {
  auto cpp = [](const PortType& p) {
    return p.type ? cpp_type_name(*p.type) : std::string("any type");
  };
  switch (s.kind) {
    case StageKind::kSource:
      return "-> " + cpp(s.output);
    case StageKind::kTransform:
      return cpp(s.input) + " -> " + cpp(s.output);
    case StageKind::kSink:
      return cpp(s.input) + " ->";
  }
  return {};
}

// A bound of an integer parameter as an integer ("65536", not "65536.0").
std::string range_bound(const ParamSpec& p, double bound) {
  const bool integral = p.type == ParamType::kInt || p.type == ParamType::kIntList;
  if (integral && std::abs(bound) < 9e15 && bound == std::floor(bound)) {
    return std::to_string(static_cast<int64_t>(bound));
  }
  return format_param_value(bound);
}

void print_detail(const StageEntry& e) {
  const StageSpec& s = e.spec;
  std::cout << s.name << " — " << s.summary << "\n\n";
  if (!s.description.empty()) std::cout << s.description << "\n\n";
  std::cout << "  kind:        " << stage_kind_name(s.kind) << "\n"
            << "  ports:       " << ports(s) << "\n"
            << "  C++ types:   " << port_cpp_types(s) << "\n"
            << "  concurrency: " << (s.thread_safe ? "parallel (default \"auto\")" : "serial")
            << (s.ordered_input ? ", needs ordered input" : "") << "\n"
            << "  origin:      " << e.origin << "\n";
  if (s.params.empty()) {
    std::cout << "\n  (no parameters)\n";
    return;
  }
  std::cout << "\nparameters:\n";
  for (const auto& p : s.params) {
    std::cout << "  " << p.name << " (" << param_type_name(p.type);
    if (p.is_required) {
      std::cout << ", required";
    } else if (!std::holds_alternative<std::monostate>(p.default_value)) {
      std::cout << ", default " << format_param_value(p.default_value);
    } else {
      std::cout << ", optional";
    }
    if (p.min_value || p.max_value) {
      std::cout << ", range [" << (p.min_value ? range_bound(p, *p.min_value) : "-inf") << ", "
                << (p.max_value ? range_bound(p, *p.max_value) : "inf") << "]";
    }
    if (!p.choices.empty()) {
      std::cout << ", one of";
      for (const auto& c : p.choices) std::cout << " " << c;
    }
    std::cout << ")\n      " << p.doc << "\n";
  }
}

int stages_cmd(const std::vector<std::string>& args) {
  std::string name;
  std::vector<std::string> plugins;
  po::options_description o("options");
  o.add_options()("name", po::value(&name), "a stage type to describe in full")(
      "plugin", po::value(&plugins)->composing(),
      "also list the stages of this plugin (repeatable)");
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  if (auto code = parse_command_line("stages", "[NAME] [--plugin PATH]...", args, o, pos, vm)) {
    return *code;
  }
  Registry registry = make_registry(plugins);
  if (!name.empty()) {
    const StageEntry* e = registry.find(name);
    if (!e) {
      std::cerr << "sluice stages: no stage type '" << name << "'"
                << did_you_mean(registry.closest(name)) << '\n';
      return kExitConfigError;
    }
    print_detail(*e);
    return kExitOk;
  }
  for (const StageEntry* e : registry.entries()) {
    const StageSpec& s = e->spec;
    std::cout << s.name << "  [" << stage_kind_name(s.kind) << ": " << ports(s) << "]"
              << (e->origin != "built-in" ? "  (from " + e->origin + ")" : "") << "\n    "
              << s.summary << "\n";
    if (!s.params.empty()) {
      std::cout << "    params:";
      for (const auto& p : s.params) {
        std::cout << " " << p.name << "="
                  << (std::holds_alternative<std::monostate>(p.default_value)
                          ? std::string(p.is_required ? "<required>" : "<unset>")
                          : format_param_value(p.default_value));
      }
      std::cout << "\n";
    }
  }
  if (!SLUICE_WITH_TORCH) std::cout << "\nnote: " << kNoTorchNote << "\n";
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(stages, "list the stage types, or describe one with its parameters", stages_cmd);

}  // namespace sluice::cli

#include "tools/sluice/cli_common.h"

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pipeline/config.h"
#include "pipeline/plugin.h"
#include "pipeline/run_option_specs.h"
#include "stages/builtin.h"
#include "tools/sluice/command.h"

namespace sluice::cli {

std::optional<int> parse_command_line(const std::string& command, const std::string& usage,
                                      const std::vector<std::string>& args,
                                      po::options_description& options,
                                      const po::positional_options_description& positional,
                                      po::variables_map& vm) {
  options.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: sluice " << command << " " << usage << "\n\n" << options << '\n';
      return kExitOk;
    }
    po::notify(vm);
    // A choice every command with logging offers: a wrong one is a usage error
    // (exit 2) that lists the levels.
    if (vm.count("log-level") && !option_ok(command, "log-level", log_level_option_spec(),
                                            vm["log-level"].as<std::string>())) {
      return kExitConfigError;
    }
  } catch (const po::error& e) {
    std::cerr << "sluice " << command << ": " << e.what() << "\nusage: sluice " << command << " "
              << usage << "\n(see `sluice " << command << " --help`)\n";
    return kExitConfigError;
  }
  return std::nullopt;
}

ParamSpec log_level_option_spec() {
  return ParamSpec::string("log-level", "info", "log level")
      .one_of({"trace", "debug", "info", "warn", "error", "critical", "off"});
}

void add_logging_options(po::options_description& options) {
  options.add_options()("log-level", po::value<std::string>()->default_value("info"),
                        "trace, debug, info, warn, error, critical or off (debug adds stage "
                        "open/close, epoch markers and checkpoint decisions)");
}

void apply_logging_options(const po::variables_map& vm) {
  std::string level = vm["log-level"].as<std::string>();
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw po::validation_error(po::validation_error::invalid_option_value, "log-level", level);
  }
  // Logs go to stderr, so stdout carries only results (tables, predictions).
  static auto logger = [] {
    auto l = spdlog::stderr_color_mt("sluice");
    spdlog::set_default_logger(l);
    return l;
  }();
  (void)logger;
  spdlog::set_level(lvl);
  spdlog::set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
}

namespace {

void log_loaded(const LoadedPlugin& p) {
  if (p.already_loaded) return;
  spdlog::debug("plugin '{}' from {}: {} stage(s)", p.name, p.path, p.stages.size());
}

// In a build without LibTorch, a config that uses a training stage gets told why
// the stage type is unknown.
void print_torch_note(std::ostream& out, const std::vector<Diagnostic>& errors) {
  if (SLUICE_WITH_TORCH) return;
  for (const Diagnostic& d : errors) {
    for (const char* family : {"'train.", "'eval.", "'predict."}) {
      if (d.message.find(std::string("unknown stage type ") + family) != std::string::npos) {
        out << "note: " << kNoTorchNote << '\n';
        return;
      }
    }
  }
}

}  // namespace

Registry make_registry(const std::vector<std::string>& plugin_paths) {
  Registry registry;
  register_builtin_stages(registry);
  if (const char* dirs = std::getenv(kPluginPathEnv)) {
    for (const std::string& file : plugin_files_in(dirs)) {
      try {
        log_loaded(load_plugin(file, registry));
      } catch (const PluginError& e) {
        throw PluginError(std::string(e.what()) + " (found in " + kPluginPathEnv + ")");
      }
    }
  }
  for (const std::string& path : plugin_paths) log_loaded(load_plugin(path, registry));
  return registry;
}

std::optional<ValidatedGraph> load_validated(const std::string& config_path,
                                             const std::vector<std::string>& overrides,
                                             Registry& registry) {
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config(config_path, overrides, errors);
  // Plugins named by the config, before validation needs their stages.
  for (const std::string& plugin : config.settings.plugins) {
    try {
      log_loaded(load_plugin(plugin, registry));
    } catch (const PluginError& e) {
      auto it = config.settings.where.find("plugins");
      SourceLocation where =
          it != config.settings.where.end() ? it->second : SourceLocation{config_path, 0, 0};
      errors.push_back({where, e.what()});
    }
  }
  // An empty config is validated too: validate() refuses a pipeline without stages.
  ValidatedGraph graph;
  if (errors.empty() || !config.stages.empty()) graph = validate(config, registry, errors);
  if (!errors.empty()) {
    print_diagnostics(std::cerr, errors);
    print_torch_note(std::cerr, errors);
    return std::nullopt;
  }
  return graph;
}

const ParamSpec& builtin_param(const std::string& stage, const std::string& param) {
  static const Registry registry = [] {
    Registry r;
    register_builtin_stages(r);
    return r;
  }();
  const StageEntry* e = registry.find(stage);
  const ParamSpec* p = e ? e->spec.find_param(param) : nullptr;
  if (!p) throw std::logic_error("no built-in parameter " + stage + "." + param);
  return *p;
}

bool option_ok(const std::string& command, const std::string& option, const ParamSpec& spec,
               const ParamValue& value) {
  const std::string why = check_param_value(spec, value);
  if (why.empty()) return true;
  std::cerr << "sluice " << command << ": --" << option << " " << why << '\n';
  return false;
}

bool device_option_ok(const std::string& command, const std::string& device) {
  bool ok = device == "auto" || device == "cpu" || device == "cuda";
  if (!ok && device.rfind("cuda:", 0) == 0 && device.size() > 5) {
    ok = device.find_first_not_of("0123456789", 5) == std::string::npos;
  }
  if (!ok) {
    std::cerr << "sluice " << command << ": --device must be one of 'auto', 'cpu', 'cuda', "
              << "'cuda:N' (N a device number), got '" << device << "'\n";
  }
  return ok;
}

// The Python module checks its options with the same specs.
ParamSpec threads_option_spec() { return sluice::threads_option_spec(); }
ParamSpec max_in_flight_option_spec() { return sluice::max_in_flight_option_spec(); }

bool parse_size_option(const std::string& command, const std::string& text, int& width,
                       int& height) {
  int64_t w = 0, h = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, w);
  bool ok = ec == std::errc() && p != end && (*p == 'x' || *p == 'X');
  if (ok) {
    auto [q, ec2] = std::from_chars(p + 1, end, h);
    ok = ec2 == std::errc() && q == end;
  }
  if (!ok) {
    std::cerr << "sluice " << command << ": --size must be WxH, e.g. 224x224 (got '" << text
              << "')\n";
    return false;
  }
  if (!option_ok(command, "size width", builtin_param("image.augment", "width"), w) ||
      !option_ok(command, "size height", builtin_param("image.augment", "height"), h)) {
    return false;
  }
  const auto max_pixels =
      std::get<int64_t>(builtin_param("image.decode", "max_pixels").default_value);
  if (w * h > max_pixels) {
    std::cerr << "sluice " << command << ": --size " << text << " has " << w * h
              << " pixels; at most " << max_pixels << " (image.decode's max_pixels)\n";
    return false;
  }
  width = static_cast<int>(w);
  height = static_cast<int>(h);
  return true;
}

}  // namespace sluice::cli

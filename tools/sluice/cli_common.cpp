#include "tools/sluice/cli_common.h"

#include <cstdlib>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pipeline/config.h"
#include "pipeline/plugin.h"
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
  } catch (const po::error& e) {
    std::cerr << "sluice " << command << ": " << e.what() << "\nusage: sluice " << command << " "
              << usage << "\n(see `sluice " << command << " --help`)\n";
    return kExitConfigError;
  }
  return std::nullopt;
}

void add_logging_options(po::options_description& options) {
  options.add_options()("log-level", po::value<std::string>()->default_value("info"),
                        "trace, debug, info, warn, error, critical or off");
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

}  // namespace sluice::cli

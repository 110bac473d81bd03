#include "tools/sluice/cli_common.h"

#include <iostream>

#include <spdlog/spdlog.h>

#include "pipeline/config.h"
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
  spdlog::set_level(lvl);
  spdlog::set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
}

Registry make_registry(const std::vector<std::string>& plugin_paths) {
  Registry registry;
  register_builtin_stages(registry);
  (void)plugin_paths;
  return registry;
}

std::optional<ValidatedGraph> load_validated(const std::string& config_path,
                                             const std::vector<std::string>& overrides,
                                             Registry& registry) {
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config(config_path, overrides, errors);
  ValidatedGraph graph;
  if (!config.stages.empty()) graph = validate(config, registry, errors);
  if (!errors.empty()) {
    print_diagnostics(std::cerr, errors);
    return std::nullopt;
  }
  return graph;
}

}  // namespace sluice::cli

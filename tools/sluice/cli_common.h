// Pieces shared by the subcommands: option parsing conventions, logging setup,
// the stage registry (built-ins + plugins), loading a config with diagnostics.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "pipeline/registry.h"
#include "pipeline/validate.h"

namespace sluice::cli {

namespace po = boost::program_options;

// Said where a build without LibTorch (-DSLUICE_WITH_TORCH=OFF) leaves something out.
inline constexpr const char* kNoTorchNote =
    "this sluice was built without LibTorch (-DSLUICE_WITH_TORCH=OFF): the training stages "
    "(train.vgg, eval.classifier, predict.csv) and the commands `predict` and `bench train` "
    "are left out; rebuild with -DSLUICE_WITH_TORCH=ON to have them";

// Parses `args` against `options` (+ positional), printing usage on --help.
// Returns the exit code to stop with, or nullopt to go on.
std::optional<int> parse_command_line(const std::string& command, const std::string& usage,
                                      const std::vector<std::string>& args,
                                      po::options_description& options,
                                      const po::positional_options_description& positional,
                                      po::variables_map& vm);

// Adds --log-level and applies it after parsing. parse_command_line refuses a
// level not in log_level_option_spec() (exit 2, the levels listed).
ParamSpec log_level_option_spec();
void add_logging_options(po::options_description& options);
void apply_logging_options(const po::variables_map& vm);

// Built-in stages plus the plugins of each directory in SLUICE_PLUGIN_PATH and
// those named on the command line (--plugin), in that order. Throws
// sluice::PluginError (pipeline/plugin.h) when one is refused; main() reports
// it and exits with kExitConfigError.
Registry make_registry(const std::vector<std::string>& plugin_paths);

// Loads CONFIG, then the plugins of its pipeline.plugins into `registry`, then
// validates; on errors (a refused plugin included) prints every diagnostic to
// stderr and returns nullopt (the caller exits with kExitConfigError).
std::optional<ValidatedGraph> load_validated(const std::string& config_path,
                                             const std::vector<std::string>& overrides,
                                             Registry& registry);

// Command-line options that set what a stage parameter sets are checked
// against that parameter's own ParamSpec: same range, same message.
//
// The declared parameter `param` of the built-in stage type `stage`; throws
// std::logic_error when there is no such declaration.
const ParamSpec& builtin_param(const std::string& stage, const std::string& param);

// Checks an option's value as validation checks a config value of `spec`
// (finite numbers, range, choices). When it fails, prints
// "sluice COMMAND: --OPTION must be in [0, 255], got 300" to stderr and returns
// false (the caller exits with kExitConfigError).
bool option_ok(const std::string& command, const std::string& option, const ParamSpec& spec,
               const ParamValue& value);

// --device: auto, cpu, cuda or cuda:N. Prints the usage error listing them and
// returns false otherwise.
bool device_option_ok(const std::string& command, const std::string& device);

// Options several commands share, with their limits.
ParamSpec threads_option_spec();        // --threads: 0 (all cores) to 4096
ParamSpec max_in_flight_option_spec();  // --max-in-flight: 0 (default) to 2^20

// Parses "WxH" (e.g. 224x224) into width and height, each checked against
// image.augment's width and height and their product against image.decode's
// default max_pixels. Prints the usage error and returns false when it fails.
bool parse_size_option(const std::string& command, const std::string& text, int& width,
                       int& height);

}  // namespace sluice::cli

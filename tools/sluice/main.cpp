// The `sluice` command line: dispatches to the registered subcommands.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "pipeline/invocation.h"
#include "pipeline/plugin.h"
#include "pipeline/suggest.h"
#include "tools/sluice/command.h"
#include "tools/sluice/image_output.h"

namespace sluice::cli {

std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}

namespace {

void print_usage(std::ostream& out) {
  out << "sluice " << SLUICE_VERSION << " — dataflow pipelines for ML training data\n\n"
      << "usage: sluice COMMAND [OPTIONS]\n\ncommands:\n";
  auto all = commands();
  std::sort(all.begin(), all.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  for (const auto& c : all) {
    out << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ')
        << c.summary << '\n';
  }
  out << "\n`sluice COMMAND --help` describes each command's options.\n"
      << "Exit codes: 0 ok, 1 failure, 2 invalid config or usage, 130 interrupted.\n";
}

}  // namespace
}  // namespace sluice::cli

int main(int argc, char** argv) {
  using namespace sluice::cli;
  silence_opencv_logging();
  std::vector<std::string> args(argv + 1, argv + argc);
  sluice::set_invocation_command(std::vector<std::string>(argv, argv + argc), SLUICE_VERSION);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return args.empty() ? kExitConfigError : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "-V") {
    std::cout << "sluice " << SLUICE_VERSION << '\n';
    return kExitOk;
  }
  for (const auto& c : commands()) {
    if (c.name == args[0]) {
      try {
        return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
      } catch (const sluice::PluginError& e) {
        std::cerr << "sluice " << c.name << ": error: " << e.what() << '\n';
        return kExitConfigError;
      } catch (const std::exception& e) {
        std::cerr << "sluice " << c.name << ": error: " << e.what() << '\n';
        return kExitFailure;
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& c : commands()) names.push_back(c.name);
  std::cerr << "sluice: unknown command '" << args[0] << "'"
            << sluice::did_you_mean(sluice::closest_names(args[0], names)) << "\n\n";
  print_usage(std::cerr);
  return kExitConfigError;
}

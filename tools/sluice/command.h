// Subcommands of the `sluice` CLI register themselves here:
//   SLUICE_COMMAND(synth, "write a synthetic CelebA dataset", run_synth);
// where `int run_synth(const std::vector<std::string>& args)` parses its own
// options (Boost.Program_options) and returns the process exit code.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace sluice::cli {

// Process exit codes shared by all commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // a stage failed, I/O error, ...
inline constexpr int kExitConfigError = 2;  // invalid config or command line
inline constexpr int kExitInterrupted = 130;  // stopped by SIGINT/SIGTERM

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

std::vector<Command>& commands();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary, CommandFn fn) {
    commands().push_back({std::move(name), std::move(summary), std::move(fn)});
  }
};

}  // namespace sluice::cli

#define SLUICE_COMMAND(name, summary, fn) \
  static ::sluice::cli::CommandRegistrar sluice_command_##name(#name, summary, fn)

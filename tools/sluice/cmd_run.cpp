// `sluice run`, `sluice profile` and `sluice check`: validate a pipeline
// config and run it, printing the per-stage profile.
#include <fstream>
#include <iostream>
#include <thread>

#include <spdlog/spdlog.h>

#include "pipeline/config_writer.h"
#include "pipeline/invocation.h"
#include "pipeline/run_option_specs.h"
#include "pipeline/runner.h"
#include "stages/data/launch_env.h"
#include "tools/sluice/cli_common.h"
#include "tools/sluice/command.h"
#include "tools/sluice/run_dashboard.h"

namespace sluice::cli {
namespace {

struct CommonOptions {
  std::string config;
  std::vector<std::string> overrides;
  std::vector<std::string> plugins;
};

void add_config_options(po::options_description& o, CommonOptions& c,
                        po::positional_options_description& pos) {
  o.add_options()("config", po::value(&c.config)->required(), "pipeline config (TOML)")(
      "set", po::value(&c.overrides)->composing(),
      "override a parameter: STAGE.KEY=VALUE or pipeline.KEY=VALUE (repeatable)")(
      "plugin", po::value(&c.plugins)->composing(),
      "load stages from a plugin library (repeatable)");
  pos.add("config", 1);
}

// More worker threads than cores only time-share them: say so, since the user
// probably expected them to add speed.
void warn_threads_over_cores(int64_t threads) {
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0 || threads <= static_cast<int64_t>(cores)) return;
  spdlog::warn(
      "{} worker threads on a machine with {} core{}: the threads beyond {} share the cores "
      "and add no speed (--threads 0 or pipeline.threads = 0 uses all cores)",
      threads, cores, cores == 1 ? "" : "s", cores);
}

int run_pipeline_command(const std::string& name, const std::vector<std::string>& args,
                         bool detailed) {
  CommonOptions c;
  RunOptions ro;
  std::string profile_path;
  std::string dashboard;
  int64_t max_in_flight = 0;
  po::options_description o("options");
  po::positional_options_description pos;
  add_config_options(o, c, pos);
  o.add_options()("threads,j", po::value(&ro.threads)->default_value(0),
                  "worker threads (0: pipeline.threads, else all cores)")(
      "max-in-flight", po::value(&max_in_flight)->default_value(0),
      "items in flight per source (0: pipeline.max_in_flight, else 4 x threads + 16)")(
      "seed", po::value(&ro.seed)->default_value(-1), "run seed (-1: pipeline.seed)")(
      "no-chain", po::bool_switch(),
      "one TBB node per stage: do not chain 1->1 `auto` stages (pipeline.chain = false)")(
      "profile", po::value(&profile_path), "write the per-stage profile as JSON to this file")(
      "trace", po::value(&ro.trace_path),
      "write a Chrome/Perfetto trace (open in ui.perfetto.dev) to this file")(
      "dashboard", po::value(&dashboard),
      "serve a live dashboard of the run at [HOST:]PORT (host 127.0.0.1 unless given; "
      "port 0: any free one); the URL is printed on stderr");
  add_logging_options(o);
  po::variables_map vm;
  if (auto code = parse_command_line(name, "CONFIG [options]", args, o, pos, vm)) return *code;
  apply_logging_options(vm);
  if (vm["no-chain"].as<bool>()) ro.chain = false;
  if (!option_ok(name, "threads", threads_option_spec(), static_cast<int64_t>(ro.threads)) ||
      !option_ok(name, "max-in-flight", max_in_flight_option_spec(), max_in_flight) ||
      !option_ok(name, "seed", ParamSpec::integer("seed", -1, "run seed").min(-1), ro.seed)) {
    return kExitConfigError;
  }
  if (const std::string why = max_in_flight_problem(max_in_flight); !why.empty()) {
    std::cerr << "sluice " << name << ": --max-in-flight " << why << '\n';
    return kExitConfigError;
  }
  ro.max_in_flight = static_cast<size_t>(max_in_flight);
  DashboardRequest dashboard_request;
  if (vm.count("dashboard") && !parse_dashboard_option(name, dashboard, dashboard_request)) {
    return kExitConfigError;
  }

  Registry registry = make_registry(c.plugins);
  auto graph = load_validated(c.config, c.overrides, registry);
  if (!graph) return kExitConfigError;
  warn_threads_over_cores(ro.threads > 0 ? static_cast<int64_t>(ro.threads)
                                         : graph->settings.threads);
  ro.handle_signals = true;
  // Distributed runs (WORLD_SIZE > 1): every rank writes its own profile and trace.
  if (const LaunchEnv launch = launch_env_from_environment(); launch.distributed()) {
    const std::string suffix = ".rank" + std::to_string(launch.rank);
    if (!profile_path.empty()) profile_path += suffix;
    if (!ro.trace_path.empty()) ro.trace_path += suffix;
  }
  spdlog::info("running '{}' ({} stages)", graph->name.empty() ? c.config : graph->name,
               graph->stages.size());
  RunMonitor monitor;
  std::unique_ptr<RunningDashboard> served;
  if (dashboard_request.port >= 0) {
    served = start_dashboard(dashboard_request, monitor);
    if (!served) return kExitFailure;
    ro.monitor = &monitor;
  }
  RunReport report = run_graph(*graph, ro);
  served.reset();  // the dashboard stops with the run
  if (report.pipeline.empty()) report.pipeline = c.config;
  std::cout.flush();
  // A stage that failed to start leaves no profile (nothing ran): the error says it all.
  if (!report.stages.empty()) print_profile_table(std::cout, report, detailed);
  // A requested file that could not be written fails the command (exit 1).
  bool written = true;
  if (!profile_path.empty()) {
    try {
      write_profile_json(profile_path, report);
    } catch (const std::exception& e) {
      std::cerr << "sluice: error: " << e.what() << '\n';
      written = false;
    }
  }
  // Each run folder the run took keeps this invocation's record (pipeline/invocation.h).
  written = finish_invocation_records(report) && written;
  if (!ro.trace_path.empty()) {
    if (!report.trace_error.empty()) {
      std::cerr << "sluice: error: " << report.trace_error << '\n';
      written = false;
    } else {
      if (!report.trace_note.empty()) spdlog::warn("{}", report.trace_note);
      spdlog::info("trace written to {}", ro.trace_path);
    }
  }
  switch (report.status) {
    case RunStatus::kCompleted:
    case RunStatus::kStopped:
      return written ? kExitOk : kExitFailure;
    case RunStatus::kInterrupted:
      spdlog::warn("interrupted: sources stopped, in-flight items drained");
      return kExitInterrupted;
    case RunStatus::kFailed:
      std::cerr << "sluice: error: " << report.error << '\n';
      return kExitFailure;
  }
  return kExitFailure;
}

int run_cmd(const std::vector<std::string>& args) {
  return run_pipeline_command("run", args, false);
}
int profile_cmd(const std::vector<std::string>& args) {
  return run_pipeline_command("profile", args, true);
}

int check_cmd(const std::vector<std::string>& args) {
  CommonOptions c;
  po::options_description o("options");
  po::positional_options_description pos;
  add_config_options(o, c, pos);
  o.add_options()("print", po::bool_switch(),
                  "print the resolved config instead (includes merged, overrides applied, "
                  "every parameter at its value): one TOML file that runs the same pipeline");
  add_logging_options(o);  // warnings on stderr, so that --print's stdout stays TOML
  po::variables_map vm;
  if (auto code = parse_command_line("check", "CONFIG [--set STAGE.KEY=VALUE]... [--print]", args,
                                     o, pos, vm)) {
    return *code;
  }
  apply_logging_options(vm);
  Registry registry = make_registry(c.plugins);
  auto graph = load_validated(c.config, c.overrides, registry);
  if (!graph) return kExitConfigError;
  if (vm["print"].as<bool>()) {
    std::cout << resolved_config_toml(*graph);
    return kExitOk;
  }
  std::cout << c.config << ": ok — " << graph->stages.size() << " stages:";
  for (const auto& s : graph->stages) {
    std::cout << "\n  " << s.id << " (" << s.entry->spec.name << ", " << s.concurrency.to_string()
              << ")";
    for (size_t k = 0; k < s.inputs.size(); ++k) {
      std::cout << (k ? ", " : " <- ") << graph->stages[s.inputs[k]].id;
    }
  }
  for (const auto& chain : plan_chains(*graph, graph->settings.chain)) {
    std::cout << "\n  chained in one node:";
    for (size_t k = 0; k < chain.size(); ++k) {
      std::cout << (k ? " -> " : " ") << graph->stages[chain[k]].id;
    }
  }
  std::cout << "\nelement specs (what flows on each edge):";
  for (const auto& s : graph->stages) {
    for (size_t in : s.inputs) {
      const auto& from = graph->stages[in];
      std::cout << "\n  " << from.id << " -> " << s.id << ": " << from.output_spec.to_string();
    }
  }
  std::cout << '\n';
  return kExitOk;
}

}  // namespace

SLUICE_COMMAND(run, "run a pipeline config and print its profile", run_cmd);
SLUICE_COMMAND(profile, "run a pipeline config, then print the detailed per-stage profile",
               profile_cmd);
SLUICE_COMMAND(check, "validate a pipeline config without running it", check_cmd);

}  // namespace sluice::cli

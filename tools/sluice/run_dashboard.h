// `sluice run --dashboard [HOST:]PORT`: checks the option's value before the
// run (a bad one is a usage error) and serves the live dashboard
// (tools/dashboard) while the run goes on.
#pragma once

#include <memory>
#include <string>

#include "pipeline/run_monitor.h"

namespace sluice::cli {

// A started dashboard; serving stops when it is destroyed.
class RunningDashboard {
 public:
  virtual ~RunningDashboard() = default;
};

struct DashboardRequest {
  std::string host;
  int port = -1;  // -1: no dashboard
};

// Checks `value` ([HOST:]PORT). On a mistake prints
// "sluice COMMAND: --dashboard ..." with the accepted form to stderr and
// returns false (the caller exits with kExitConfigError).
bool parse_dashboard_option(const std::string& command, const std::string& value,
                            DashboardRequest& out);

// Starts serving `monitor` and prints "dashboard: http://HOST:PORT/" on
// stderr; returns null with a message on stderr when it cannot listen.
std::unique_ptr<RunningDashboard> start_dashboard(const DashboardRequest& request,
                                                  const RunMonitor& monitor);

}  // namespace sluice::cli

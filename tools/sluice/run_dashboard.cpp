#include "tools/sluice/run_dashboard.h"

#include <iostream>

#if SLUICE_WITH_DASHBOARD
#include "tools/dashboard/dashboard_server.h"
#endif

namespace sluice::cli {

#if SLUICE_WITH_DASHBOARD

namespace {
class Served : public RunningDashboard {
 public:
  explicit Served(const RunMonitor& monitor) : server(monitor) {}
  dashboard::DashboardServer server;
};
// 127.0.0.0/8, ::1 and localhost answer this machine only.
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

bool parse_dashboard_option(const std::string& command, const std::string& value,
                            DashboardRequest& out) {
  std::string error;
  const auto endpoint = dashboard::parse_endpoint(value, error);
  if (!endpoint) {
    std::cerr << "sluice " << command << ": --dashboard: " << error << "; expected "
              << dashboard::kEndpointForm << '\n';
    return false;
  }
  out.host = endpoint->host;
  out.port = endpoint->port;
  return true;
}

std::unique_ptr<RunningDashboard> start_dashboard(const DashboardRequest& request,
                                                  const RunMonitor& monitor) {
  auto served = std::make_unique<Served>(monitor);
  try {
    served->server.start({request.host, request.port});
  } catch (const std::exception& e) {
    std::cerr << "sluice: error: " << e.what() << '\n';
    return nullptr;
  }
  std::cerr << "dashboard: " << served->server.url() << std::endl;
  if (!is_loopback(request.host)) {
    std::cerr << "dashboard: warning: listening on " << request.host
              << ", beyond this machine: any host that reaches port " << served->server.port()
              << " can read the run's status (names, paths, metrics); prefer 127.0.0.1 and an "
                 "SSH tunnel\n";
  }
  return served;
}

#else

bool parse_dashboard_option(const std::string& command, const std::string&, DashboardRequest&) {
  std::cerr << "sluice " << command
            << ": --dashboard: this sluice was built without the dashboard (it needs "
               "cpp-httplib: Debian package libcpp-httplib-dev)\n";
  return false;
}

std::unique_ptr<RunningDashboard> start_dashboard(const DashboardRequest&, const RunMonitor&) {
  return nullptr;
}

#endif

}  // namespace sluice::cli

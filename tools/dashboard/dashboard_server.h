// The live dashboard's HTTP server: `/` the page (tools/dashboard/dashboard.html
// with uPlot inlined), `/api/status` the run's status as JSON
// (RunMonitor::status_json). It runs on threads of its own and only reads the
// RunMonitor, which the graph never waits on.
#pragma once

#include <memory>
#include <string>

#include "pipeline/run_monitor.h"
#include "tools/dashboard/dashboard_endpoint.h"

namespace sluice::dashboard {

class DashboardServer {
 public:
  static constexpr int kWorkers = 8;
  static constexpr int kMaxConnections = 32;
  static constexpr int kIoTimeoutSeconds = 2;
  static constexpr int kMaxConnectionSeconds = 10;

  explicit DashboardServer(const RunMonitor& monitor);
  ~DashboardServer();  // stops
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // Binds and starts serving; throws std::runtime_error naming the address
  // when it cannot bind (port in use, address not on this machine).
  void start(const Endpoint& at);
  // Stops serving, closes the open connections and joins its threads, in well
  // under a second whatever the clients do. Idempotent.
  void stop();
  int port() const { return port_; }
  std::string url() const { return endpoint_url(host_, port_); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string host_;
  int port_ = 0;
};

// The page served at `/`: one HTML document with uPlot's script, style and
// licence inlined, so it needs nothing else to load.
const std::string& dashboard_page();

}  // namespace sluice::dashboard

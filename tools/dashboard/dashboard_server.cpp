#include "tools/dashboard/dashboard_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace sluice::dashboard {

struct DashboardServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listening_ended{false};
};

DashboardServer::DashboardServer(const RunMonitor& monitor) : impl_(std::make_unique<Impl>()) {
  auto& s = impl_->server;
  // Two workers: a page polling once a second, and one more client.
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second
  // run would bind a port already serving another dashboard.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof yes);
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dashboard_page(), "text/html; charset=utf-8");
  });
  s.Get("/api/status", [&monitor](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(monitor.status_json(), "application/json");
  });
}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::start(const Endpoint& at) {
  auto& s = impl_->server;
  host_ = at.host;
  if (at.port == 0) {
    port_ = s.bind_to_any_port(at.host);
    if (port_ <= 0) {
      throw std::runtime_error("dashboard: cannot listen on " + at.host + " (any port)");
    }
  } else {
    if (!s.bind_to_port(at.host, at.port)) {
      throw std::runtime_error("dashboard: cannot listen on " + endpoint_url(at.host, at.port) +
                               " (port in use, or not an address of this machine)");
    }
    port_ = at.port;
  }
  Impl* impl = impl_.get();
  impl->thread = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->listening_ended = true;
  });
  // httplib's stop() only stops a server already listening: wait for that.
  while (!s.is_running() && !impl->listening_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void DashboardServer::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace sluice::dashboard

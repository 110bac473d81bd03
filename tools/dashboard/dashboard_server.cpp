#include "tools/dashboard/dashboard_server.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::dashboard {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kWatchInterval{100};

// The local port of socket `fd` when it is a connected TCP socket, else -1.
int connected_local_port(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return -1;
  sockaddr_storage local{}, peer{};
  socklen_t local_len = sizeof local, peer_len = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return -1;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return -1;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  return -1;
}

// One accepted connection: its descriptor and the socket's inode (a descriptor
// number is reused; the pair is not).
using ConnectionId = std::pair<int, ino_t>;

// The connections accepted on `port` that are open now. httplib hands accepted
// sockets to its workers without a hook, so they are found among this process's
// descriptors: connected TCP sockets whose local port is the dashboard's.
std::vector<ConnectionId> open_connections(int port) {
  std::vector<ConnectionId> found;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return found;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (connected_local_port(static_cast<int>(fd)) != port || ::fstat(static_cast<int>(fd), &st)) {
      continue;
    }
    found.emplace_back(static_cast<int>(fd), st.st_ino);
  }
  ::closedir(dir);
  return found;
}

// Ends a connection: a worker blocked reading or writing it returns at once.
void cut(const ConnectionId& c) {
  struct stat st {};
  if (::fstat(c.first, &st) == 0 && st.st_ino == c.second) ::shutdown(c.first, SHUT_RDWR);
}

}  // namespace

struct DashboardServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listening_ended{false};
  int port = 0;

  // The watch: connections' ages, the cap, and closing them all on stop.
  std::thread watch;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::map<ConnectionId, Clock::time_point> since;

  void watch_connections() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      enforce_limits();
      wake.wait_for(lock, kWatchInterval);
    }
  }

  // Cuts connections older than kMaxConnectionSeconds and, beyond
  // kMaxConnections, the newest ones.
  void enforce_limits() {
    const auto now = Clock::now();
    std::map<ConnectionId, Clock::time_point> seen;
    for (const ConnectionId& c : open_connections(port)) {
      const auto it = since.find(c);
      seen[c] = it == since.end() ? now : it->second;
    }
    since = std::move(seen);
    std::vector<std::pair<Clock::time_point, ConnectionId>> by_age;
    for (const auto& [c, t] : since) {
      if (now - t > std::chrono::seconds(kMaxConnectionSeconds)) {
        cut(c);
      } else {
        by_age.emplace_back(t, c);
      }
    }
    std::sort(by_age.begin(), by_age.end());
    for (size_t i = kMaxConnections; i < by_age.size(); ++i) cut(by_age[i].second);
  }
};

DashboardServer::DashboardServer(const RunMonitor& monitor) : impl_(std::make_unique<Impl>()) {
  auto& s = impl_->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  s.set_read_timeout(kIoTimeoutSeconds, 0);
  s.set_write_timeout(kIoTimeoutSeconds, 0);
  s.set_keep_alive_timeout(kIoTimeoutSeconds);
  s.set_keep_alive_max_count(5);
  s.set_payload_max_length(64 << 10);  // the API takes no request bodies
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
  impl->port = port_;
  impl->thread = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->listening_ended = true;
  });
  impl->watch = std::thread([impl] { impl->watch_connections(); });
  // httplib's stop() only stops a server already listening: wait for that.
  while (!s.is_running() && !impl->listening_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void DashboardServer::stop() {
  Impl& impl = *impl_;
  if (!impl.thread.joinable()) return;
  impl.server.stop();  // no new connections
  // httplib's workers finish their connections before its listen returns: cut
  // them, and any accepted meanwhile, until it has.
  while (!impl.listening_ended) {
    for (const ConnectionId& c : open_connections(impl.port)) cut(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl.thread.join();
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    impl.stopping = true;
  }
  impl.wake.notify_all();
  impl.watch.join();
}

}  // namespace sluice::dashboard

// The live dashboard: `sluice run CONFIG --dashboard 127.0.0.1:0` prints the
// port it chose, serves the run's status while it goes on (counts increase),
// serves a page that draws in headless Chromium, and stops with the run; bad
// --dashboard values are usage errors. Also the server on its own.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/run_monitor.h"
#include "tests/cli/run_command.h"
#include "tools/dashboard/dashboard_server.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using cli_test::run_command;

const std::string kSluice = SLUICE_BINARY;

// A pipeline that runs for about `seconds` s on 2 threads (2 ms naps per item).
fs::path write_config(const std::string& name, int seconds) {
  const fs::path cfg = fs::temp_directory_path() /
                       ("sluice_dashboard_" + name + "_" + std::to_string(getpid()) + ".toml");
  std::ofstream(cfg) << "[pipeline]\nname = \"napping\"\nthreads = 2\n"
                     << "[stages.numbers]\nuse = \"gen.range\"\ncount = " << seconds * 1000
                     << "\nepochs = 2\n"
                     << "[stages.nap]\nuse = \"work.sleep\"\ninput = \"numbers\"\nmillis = 2\n"
                     << "[stages.total]\nuse = \"util.sum\"\ninput = \"nap\"\n";
  return cfg;
}

// `sluice run CONFIG --dashboard 127.0.0.1:0` in the background, its stdout and
// stderr on a pipe read without blocking.
class BackgroundRun {
 public:
  explicit BackgroundRun(const fs::path& cfg) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      execl(kSluice.c_str(), kSluice.c_str(), "run", cfg.c_str(), "--dashboard", "127.0.0.1:0",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
    fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~BackgroundRun() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  // The port from "dashboard: http://127.0.0.1:PORT/", 0 when none came in time.
  int wait_for_port(std::chrono::seconds limit) {
    const std::regex url("dashboard: http://127\\.0\\.0\\.1:([0-9]+)/");
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
      drain();
      std::smatch m;
      if (std::regex_search(out_, m, url)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }

  // Exit status once it ended, -1 when it did not within `limit`.
  int wait_exit(std::chrono::seconds limit) {
    const auto t0 = Clock::now();
    int status = 0;
    while (Clock::now() - t0 < limit) {
      drain();
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        drain();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  // Exit status if it has ended, -1 if it runs on; does not wait.
  int poll_exit() {
    drain();
    int status = 0;
    if (exited_ || waitpid(pid_, &status, WNOHANG) != pid_) return exited_ ? exit_code_ : -1;
    exited_ = true;
    drain();
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  void signal(int sig) { kill(pid_, sig); }
  const std::string& output() const { return out_; }

 private:
  void drain() {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof buf)) > 0) out_.append(buf, static_cast<size_t>(n));
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string out_;
};

// A client that sends a request one byte at a time, never finishing it (the
// slow-drip attack): it holds a connection, and a worker, for as long as the
// server lets it.
class SlowDripClient {
 public:
  explicit SlowDripClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    thread_ = std::thread([this] {
      const std::string head = "GET /api/status HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      for (size_t i = 0; !stop_; ++i) {
        const char c = i < head.size() ? head[i] : 'a';
        if (send(fd_, &c, 1, MSG_NOSIGNAL) != 1) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  ~SlowDripClient() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

nlohmann::json get_status(httplib::Client& client) {
  auto res = client.Get("/api/status");
  if (!res || res->status != 200) return nullptr;
  return nlohmann::json::parse(res->body);
}

uint64_t nap_items(const nlohmann::json& status) {
  for (const auto& s : status.at("stages")) {
    if (s.at("id") == "nap") return s.at("items_out").get<uint64_t>();
  }
  return 0;
}

TEST(DashboardCli, StatusCountsIncreaseDuringTheRunAndTheServerStopsWithIt) {
  const fs::path cfg = write_config("counts", 4);
  BackgroundRun run(cfg);
  const int port = run.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << "no dashboard URL printed:\n" << run.output();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  const nlohmann::json first = get_status(client);
  ASSERT_FALSE(first.is_null()) << "GET /api/status failed";
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const nlohmann::json second = get_status(client);
  ASSERT_FALSE(second.is_null()) << "GET /api/status failed";
  EXPECT_EQ(second.at("pipeline"), "napping");
  EXPECT_EQ(second.at("state"), "running") << "the run ended before the second fetch";
  EXPECT_GT(nap_items(second), nap_items(first)) << "counts did not increase";
  EXPECT_GT(second.at("elapsed_s").get<double>(), first.at("elapsed_s").get<double>());
  const auto& tl = second.at("timeline");
  EXPECT_GE(tl.at("t_s").size(), 2u);
  EXPECT_EQ(tl.at("stages").at("nap").at("items_out").size(), tl.at("t_s").size());
  EXPECT_EQ(second.at("progress").at("epochs"), 2);
  ASSERT_EQ(run.wait_exit(std::chrono::seconds(60)), 0) << run.output();
  EXPECT_NE(run.output().find("profile: napping"), std::string::npos) << run.output();
  // The server went with the run.
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(2, 0);
  EXPECT_FALSE(after.Get("/api/status")) << "the dashboard still answers after the run";
  fs::remove(cfg);
}

// Chromium's --dump-dom of the page once it has polled a few times.
// `sluice run --dashboard` ends within a second of the end of the run although two
// clients hold connections open by sending their requests a byte at a time (it
// used to never exit). The end of the run is the last status seen "running".
TEST(DashboardCli, TheRunExitsPromptlyWhileSlowClientsHoldConnections) {
  const fs::path cfg = write_config("slow_clients", 1);
  BackgroundRun run(cfg);
  const int port = run.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << "no dashboard URL printed:\n" << run.output();
  SlowDripClient slow1(port), slow2(port);
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  auto last_running = Clock::now();
  int code = -1;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 60) {
    const nlohmann::json status = get_status(client);
    if (!status.is_null() && status.at("state") == "running") last_running = Clock::now();
    code = run.poll_exit();
    if (code >= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(code, 0) << "the run did not exit (or failed) with slow clients open:\n"
                     << run.output();
  const double after_end = seconds_since(last_running);
  std::cout << "exit after the end of the run, 2 slow clients open: " << after_end << " s\n";
  EXPECT_LT(after_end, 2.0) << run.output();
  fs::remove(cfg);
}

// Listening beyond loopback is allowed, with a warning saying who can read it.
TEST(DashboardCli, ListeningOnAllAddressesWarns) {
  const fs::path cfg = write_config("all_addresses", 1);
  const auto r = run_command(kSluice + " run " + cfg.string() + " --dashboard 0.0.0.0:0");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: listening on 0.0.0.0"), std::string::npos) << r.out;
  const auto local = run_command(kSluice + " run " + cfg.string() + " --dashboard 127.0.0.1:0");
  EXPECT_EQ(local.out.find("warning: listening on"), std::string::npos) << local.out;
  fs::remove(cfg);
}

TEST(DashboardCli, ThePageDrawsItsChartsInHeadlessChromium) {
  const char* chromium = nullptr;
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(c, X_OK) == 0) chromium = c;
  }
  if (!chromium) GTEST_SKIP() << "chromium is not installed (Debian: chromium): page not checked";
  const fs::path cfg = write_config("page", 120);
  BackgroundRun run(cfg);
  const int port = run.wait_for_port(std::chrono::seconds(60));
  ASSERT_GT(port, 0) << "no dashboard URL printed:\n" << run.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a few samples
  const fs::path profile =
      fs::temp_directory_path() / ("sluice_chromium_" + std::to_string(getpid()));
  const auto r =
      run_command("timeout 120 " + std::string(chromium) +
                  " --headless --no-sandbox --disable-gpu --user-data-dir=" + profile.string() +
                  " --enable-logging=stderr --v=0 --virtual-time-budget=3000"
                  " --dump-dom http://127.0.0.1:" +
                  std::to_string(port) + "/");
  run.signal(SIGINT);
  const int code = run.wait_exit(std::chrono::seconds(60));
  fs::remove_all(profile);
  fs::remove(cfg);
  ASSERT_NE(r.out.find("</html>"), std::string::npos) << "no DOM dumped:\n" << r.out;
  EXPECT_EQ(r.out.find("Uncaught"), std::string::npos) << "script error:\n" << r.out;
  EXPECT_EQ(code, 130) << "SIGINT should end the run as interrupted:\n" << run.output();
  const std::regex updates("data-updates=\"([0-9]+)\"");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, updates)) << r.out;
  EXPECT_GE(std::stoi(m[1]), 1) << "the page never got /api/status";
  EXPECT_NE(r.out.find("data-state=\"running\""), std::string::npos) << r.out;
  // Each chart of the run is drawn by uPlot, with the timeline's points.
  for (const char* id : {"chart-throughput", "chart-utilisation", "chart-inflight", "chart-wait"}) {
    const std::regex chart(
        std::string("id=\"") + id +
        "\" data-points=\"([0-9]+)\" data-series=\"([0-9]+)\"><div class=\"uplot");
    ASSERT_TRUE(std::regex_search(r.out, m, chart)) << id << " not drawn:\n" << r.out;
    EXPECT_GE(std::stoi(m[1]), 2) << id;
    EXPECT_EQ(std::stoi(m[2]), std::string(id) == "chart-inflight" ? 1 : 3) << id;
  }
  EXPECT_NE(r.out.find("<td>nap</td>"), std::string::npos) << "no stage table row";
}

TEST(DashboardCli, BadValuesAreUsageErrorsThatShowTheForm) {
  const fs::path cfg = write_config("usage", 1);
  for (const char* bad : {"70000", "example.com:8080", "[::1]8080", "127.0.0.1:"}) {
    const auto r = run_command(kSluice + " run " + cfg.string() + " --dashboard '" + bad + "'");
    EXPECT_EQ(r.code, 2) << bad << ":\n" << r.out;
    EXPECT_NE(r.out.find("[HOST:]PORT"), std::string::npos) << bad << ":\n" << r.out;
    EXPECT_EQ(r.out.find("profile:"), std::string::npos) << bad << " should not run:\n" << r.out;
  }
  fs::remove(cfg);
}

TEST(DashboardEndpoint, AcceptsPortHostAndPortAndIpv6) {
  std::string error;
  auto e = sluice::dashboard::parse_endpoint("8080", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8080);
  e = sluice::dashboard::parse_endpoint("0.0.0.0:0", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "0.0.0.0");
  EXPECT_EQ(e->port, 0);
  e = sluice::dashboard::parse_endpoint("[::1]:9000", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(sluice::dashboard::endpoint_url(e->host, e->port), "http://[::1]:9000/");
  EXPECT_FALSE(sluice::dashboard::parse_endpoint("65536", error));
  EXPECT_NE(error.find("65536"), std::string::npos) << error;
}

TEST(DashboardServer, ServesThePageAndTheStatusAndStops) {
  sluice::RunMonitor monitor;
  sluice::dashboard::DashboardServer server(monitor);
  server.start({"127.0.0.1", 0});
  ASSERT_GT(server.port(), 0);
  httplib::Client client("127.0.0.1", server.port());
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  // Self-contained: uPlot's script and licence are inside, nothing is fetched
  // from elsewhere.
  EXPECT_NE(page->body.find("var uPlot="), std::string::npos);
  EXPECT_NE(page->body.find("MIT License"), std::string::npos);
  EXPECT_EQ(page->body.find("/*UPLOT_JS*/"), std::string::npos);
  EXPECT_EQ(page->body.find("<script src="), std::string::npos);
  auto status = client.Get("/api/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(nlohmann::json::parse(status->body).at("state"), "starting");
  server.stop();
  httplib::Client after("127.0.0.1", server.port());
  after.set_connection_timeout(1, 0);
  EXPECT_FALSE(after.Get("/api/status"));
}

// Two slow-drip clients used to take both of the server's workers: the page
// stopped answering and stop() waited on them forever.
TEST(DashboardServer, SlowClientsNeitherBlockOthersNorDelayStop) {
  sluice::RunMonitor monitor;
  sluice::dashboard::DashboardServer server(monitor);
  server.start({"127.0.0.1", 0});
  SlowDripClient slow1(server.port()), slow2(server.port()), slow3(server.port());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // each holds a worker now
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(3, 0);
  const auto t_get = Clock::now();
  EXPECT_FALSE(get_status(client).is_null()) << "the page stopped answering";
  std::cout << "status with 3 slow clients open: " << seconds_since(t_get) << " s\n";
  const auto t0 = Clock::now();
  server.stop();
  const double stop_s = seconds_since(t0);
  std::cout << "stop() with 3 slow clients open: " << stop_s << " s\n";
  EXPECT_LT(stop_s, 2.0) << "stop() waited on the clients";
}

// A connection lives kMaxConnectionSeconds at most, however slowly it drips.
TEST(DashboardServer, ASlowDripConnectionIsCutAfterItsTimeLimit) {
  sluice::RunMonitor monitor;
  sluice::dashboard::DashboardServer server(monitor);
  server.start({"127.0.0.1", 0});
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const auto t0 = Clock::now();
  bool cut = false;
  const std::string head = "GET / HTTP/1.1\r\nX-Slow: ";
  for (size_t i = 0; seconds_since(t0) < 30; ++i) {
    const char c = i < head.size() ? head[i] : 'a';
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      cut = true;
      break;
    }
    char reply[256];
    if (recv(fd, reply, sizeof reply, MSG_DONTWAIT) == 0) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  close(fd);
  const double lived = seconds_since(t0);
  std::cout << "a slow-drip connection lived " << lived << " s\n";
  EXPECT_TRUE(cut) << "a slow-drip connection stayed open for 30 s";
  EXPECT_LT(lived, sluice::dashboard::DashboardServer::kMaxConnectionSeconds + 3.0);
}

TEST(DashboardServer, APortInUseIsReportedWithTheAddress) {
  sluice::RunMonitor monitor;
  sluice::dashboard::DashboardServer first(monitor), second(monitor);
  first.start({"127.0.0.1", 0});
  try {
    second.start({"127.0.0.1", first.port()});
    FAIL() << "a second server bound the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos)
        << e.what();
  }
}

}  // namespace

// `sluice run` with a stage blocked in one long call (a 10-minute sleep per
// item): the first SIGTERM asks for a drain that cannot finish; the second must
// end the process at once, with a non-zero status.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// True once `pid` has a handler for `sig` (the SigCgt mask in /proc/PID/status).
bool catches(pid_t pid, int sig) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigCgt:", 0) == 0) {
      const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      return (mask >> (sig - 1)) & 1ull;
    }
  }
  return false;
}

// Reads what is there on `fd` without blocking.
std::string drain(int fd) {
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(CliSignals, SecondSigtermEndsARunStuckInAStage) {
  const fs::path cfg =
      fs::temp_directory_path() / ("sluice_cli_stuck_" + std::to_string(getpid()) + ".toml");
  std::ofstream(cfg) << "[stages.n]\nuse = \"gen.range\"\ncount = 1000000\n"
                        "[stages.w]\nuse = \"work.sleep\"\ninput = \"n\"\nmillis = 600000\n"
                        "[stages.s]\nuse = \"util.discard\"\ninput = \"w\"\n";
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(err[1], 1);
    dup2(err[1], 2);
    close(err[0]);
    execl(SLUICE_BINARY, SLUICE_BINARY, "run", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err[1]);
  // Wait until the run has installed its handler (the graph is then running).
  const auto t0 = Clock::now();
  while (!catches(pid, SIGTERM) && Clock::now() - t0 < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(catches(pid, SIGTERM)) << "sluice never installed its SIGTERM handler";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // items are now in work.sleep

  kill(pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "the first SIGTERM should start a drain";
  const auto sent = Clock::now();
  kill(pid, SIGTERM);
  bool exited = false;
  while (Clock::now() - sent < std::chrono::seconds(2)) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double took = std::chrono::duration<double>(Clock::now() - sent).count();
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  const std::string log = drain(err[0]);
  close(err[0]);
  fs::remove(cfg);
  ASSERT_TRUE(exited) << "sluice still running 2 s after the second SIGTERM\n" << log;
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << log;
  EXPECT_NE(log.find("second SIGTERM"), std::string::npos) << log;
  EXPECT_LT(took, 2.0);
}

}  // namespace

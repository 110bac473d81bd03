// `sluice run` given a FIFO or a symlink to /dev/zero as its config or as a
// csv.index file: it exits with an error naming the file instead of hanging
// (the library tests pin the sub-second bound; here a hang is what fails).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Exit {
  bool finished = false;
  int code = -1;
  std::string log;
};

// Runs `sluice ARGS...` and kills it after `limit`.
Exit run_sluice(const std::vector<std::string>& args, std::chrono::seconds limit) {
  const fs::path log =
      fs::temp_directory_path() / ("sluice_cli_special_" + std::to_string(getpid()) + ".log");
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv = {const_cast<char*>(SLUICE_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SLUICE_BINARY, argv.data());
    _exit(127);
  }
  Exit e;
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < limit) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      e.finished = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!e.finished) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  e.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  e.log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(log);
  return e;
}

class CliSpecialFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_cli_special_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string fifo(const std::string& name) {
    const std::string p = (dir_ / name).string();
    mkfifo(p.c_str(), 0600);
    return p;
  }
  fs::path dir_;
};

TEST_F(CliSpecialFiles, ConfigThatIsAFifoExitsTwoNamingIt) {
  const std::string cfg = fifo("pipeline.toml");
  const Exit e = run_sluice({"run", cfg}, std::chrono::seconds(60));
  ASSERT_TRUE(e.finished) << "sluice run hung on a FIFO config\n" << e.log;
  EXPECT_EQ(e.code, 2) << e.log;
  EXPECT_NE(e.log.find(cfg), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("is a FIFO"), std::string::npos) << e.log;
}

TEST_F(CliSpecialFiles, CsvIndexThatIsDevZeroFailsNamingIt) {
  const fs::path csv = dir_ / "list.csv";
  fs::create_symlink("/dev/zero", csv);
  const fs::path cfg = dir_ / "pipeline.toml";
  std::ofstream(cfg) << "[stages.index]\nuse = \"csv.index\"\nfile = \"" << csv.string()
                     << "\"\n[stages.out]\nuse = \"util.discard\"\ninput = \"index\"\n";
  const Exit e = run_sluice({"run", cfg.string()}, std::chrono::seconds(60));
  ASSERT_TRUE(e.finished) << "sluice run hung on a /dev/zero index\n" << e.log;
  EXPECT_NE(e.code, 0) << e.log;
  EXPECT_NE(e.log.find(csv.string()), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("is a character device"), std::string::npos) << e.log;
}

}  // namespace

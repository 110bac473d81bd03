#include "stages/train/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;
using sluice::train::write_file_atomically;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST(AtomicFile, ReplacesContent) {
  const auto dir = fresh_dir("sluice_atomic");
  write_file_atomically((dir / "f").string(), "old");
  write_file_atomically((dir / "f").string(), "new content");
  EXPECT_EQ(read_all(dir / "f"), "new content");
  EXPECT_EQ(entries(dir), 1u);
  fs::remove_all(dir);
}

TEST(AtomicFile, FailureBeforeRenameKeepsOldFileAndNoTemp) {
  const auto dir = fresh_dir("sluice_atomic_fail");
  write_file_atomically((dir / "f").string(), "old");
  const std::string big(3 << 20, 'x');
  EXPECT_THROW(write_file_atomically((dir / "f").string(), big,
                                     [&](size_t n) {
                                       if (n == big.size()) throw std::runtime_error("disk full");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_all(dir / "f"), "old");
  EXPECT_EQ(entries(dir), 1u);
  fs::remove_all(dir);
}

TEST(AtomicFile, ProcessKilledMidWriteKeepsOldFile) {
  const auto dir = fresh_dir("sluice_atomic_kill");
  const auto path = (dir / "f").string();
  write_file_atomically(path, "old");
  const std::string big(4 << 20, 'y');
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    write_file_atomically(path, big, [](size_t n) {
      if (n >= (2u << 20)) ::raise(SIGKILL);  // die after half the bytes
    });
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(read_all(path), "old");
  fs::remove_all(dir);
}

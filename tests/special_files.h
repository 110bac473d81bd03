// Test helpers for the readers' handling of files that are not regular files:
// a folder holding a FIFO and a symlink to /dev/zero under any name, and a guard
// that turns a read that blocks (or never ends) into a failure instead of a hang.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>

namespace sluice::test {

class SpecialFiles {
 public:
  explicit SpecialFiles(const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() /
             ("sluice_special_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~SpecialFiles() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& dir() const { return dir_; }
  // A FIFO named `name` (nobody ever writes to it: opening it blocks a reader).
  std::string fifo(const std::string& name) const {
    const std::string p = (dir_ / name).string();
    ::mkfifo(p.c_str(), 0600);
    return p;
  }
  // A symlink named `name` to /dev/zero (endless zero bytes).
  std::string zero(const std::string& name) const {
    const std::filesystem::path p = dir_ / name;
    std::filesystem::create_symlink("/dev/zero", p);
    return p.string();
  }

 private:
  std::filesystem::path dir_;
};

struct Outcome {
  std::string error;  // what() of the exception `read` threw, or "" if none
  double seconds = 0;
};

// Runs `read` on a thread of its own and waits at most `limit` for it. `read`
// must capture by value: on a timeout its thread is left behind (blocked).
inline std::optional<Outcome> finish_within(std::chrono::milliseconds limit,
                                            std::function<void()> read) {
  std::packaged_task<Outcome()> task([read = std::move(read)] {
    Outcome o;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      read();
    } catch (const std::exception& e) {
      o.error = e.what();
    }
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return o;
  });
  std::future<Outcome> done = task.get_future();
  std::thread(std::move(task)).detach();
  if (done.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return done.get();
}

constexpr std::chrono::milliseconds kHangLimit{5000};

}  // namespace sluice::test

#include "stages/train/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sluice::train {
namespace {

constexpr size_t kChunk = 1 << 20;

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(errno));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Removes the temporary file unless released (after a successful rename).
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int& fd() { return fd_; }
  const std::string& path() const { return path_; }
  void release() { released_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool released_ = false;
};

}  // namespace

void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook) {
  std::string pattern = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(pattern.data());
  if (fd < 0) fail("cannot create a temporary file next to it", path);
  TempFile tmp(pattern);
  tmp.fd() = fd;
  ::fchmod(fd, 0644);
  size_t done = 0;
  while (done < data.size()) {
    const size_t n = std::min(kChunk, data.size() - done);
    const ssize_t w = ::write(fd, data.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", tmp.path());
    }
    done += static_cast<size_t>(w);
    if (hook) hook(done);
  }
  if (::fsync(fd) != 0) fail("fsync failed", tmp.path());
  if (hook) hook(done);
  if (::close(fd) != 0) {
    tmp.fd() = -1;
    fail("close failed", tmp.path());
  }
  tmp.fd() = -1;
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) fail("rename failed", path);
  tmp.release();
  const std::string dir = directory_of(path);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace sluice::train

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
    if (!released_ && !path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int& fd() { return fd_; }
  const std::string& path() const { return path_; }
  void set_path(std::string path) { path_ = std::move(path); }
  void release() { released_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool released_ = false;
};

// An unnamed file in `dir` (O_TMPFILE): a process killed while writing it leaves
// nothing behind. -1 where the file system does not support it.
int open_unnamed(const std::string& dir) {
#ifdef O_TMPFILE
  return ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#else
  (void)dir;
  return -1;
#endif
}

// Gives the unnamed file `fd` a fresh temporary name next to `path`.
std::string name_unnamed(int fd, const std::string& path) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string pattern = path + ".tmp.XXXXXX";
    const int probe = ::mkstemp(pattern.data());  // reserves a unique name
    if (probe < 0) break;
    ::close(probe);
    ::unlink(pattern.c_str());
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, pattern.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      return pattern;
    }
    if (errno != EEXIST) break;
  }
  fail("cannot name the finished temporary file", path);
}

void write_all(int fd, std::string_view data, const std::string& path,
               const AtomicWriteHook& hook) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t n = std::min(kChunk, data.size() - done);
    const ssize_t w = ::write(fd, data.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", path);
    }
    done += static_cast<size_t>(w);
    if (hook) hook(done);
  }
  if (::fsync(fd) != 0) fail("fsync failed", path);
  if (hook) hook(done);
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook) {
  const std::string dir = directory_of(path);
  // Prefer an unnamed file, named only once complete, just before the rename.
  int fd = open_unnamed(dir);
  const bool unnamed = fd >= 0;
  std::string pattern = path + ".tmp.XXXXXX";
  if (!unnamed) {
    fd = ::mkstemp(pattern.data());
    if (fd < 0) fail("cannot create a temporary file next to it", path);
    ::fchmod(fd, 0644);
  }
  TempFile tmp(unnamed ? std::string() : pattern);
  tmp.fd() = fd;
  write_all(fd, data, unnamed ? path : tmp.path(), hook);
  if (unnamed) tmp.set_path(name_unnamed(fd, path));
  if (::close(fd) != 0) {
    tmp.fd() = -1;
    fail("close failed", tmp.path());
  }
  tmp.fd() = -1;
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) fail("rename failed", path);
  tmp.release();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace sluice::train

#include "pipeline/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace sluice {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr int kMaxNameTries = 100;
constexpr unsigned kFileMode = 0644;

[[noreturn]] void fail(const std::string& what, const std::string& path, int err = errno) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(err));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// An unnamed file in `dir` (O_TMPFILE): a process killed while writing it leaves
// nothing behind. -1 where the file system (or /proc, needed to name it) has none.
int open_unnamed(const std::string& dir) {
#ifdef O_TMPFILE
  if (::access("/proc/self/fd", X_OK) != 0) return -1;
  return ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, kFileMode);
#else
  (void)dir;
  return -1;
#endif
}

// A new file "PATH.tmp.XXXXXX": mkostemp opens O_CREAT|O_EXCL, so an existing file
// or a symlink at the name is never opened.
int open_named(const std::string& path, std::string& temp) {
  temp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) fail("cannot create a temporary file next to it", path);
  ::fchmod(fd, kFileMode);
  return fd;
}

// Gives the unnamed file `fd` a fresh temporary name next to `path`. linkat never
// replaces an existing name (a link planted there makes it try another).
std::string name_unnamed(int fd, const std::string& path) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  for (int attempt = 0; attempt < kMaxNameTries; ++attempt) {
    std::string pattern = path + ".tmp.XXXXXX";
    const int probe = ::mkostemp(pattern.data(), O_CLOEXEC);  // reserves a unique name
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

void sync_directory(const std::string& dir) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace

AtomicFile::AtomicFile(std::string path, Durability durability)
    : path_(std::move(path)), durability_(durability) {
  // Prefer an unnamed file, named only once complete, just before the rename.
  fd_ = open_unnamed(directory_of(path_));
  if (fd_ < 0) fd_ = open_named(path_, temp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::string_view data, const AtomicWriteHook& hook) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t n = std::min(kChunk, data.size() - done);
    const ssize_t w = ::write(fd_, data.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", path_);
    }
    done += static_cast<size_t>(w);
    written_ += static_cast<size_t>(w);
    if (hook) hook(written_);
  }
}

void AtomicFile::commit(const AtomicWriteHook& hook) {
  const bool synced = durability_ == Durability::kSynced;
  if (synced && ::fsync(fd_) != 0) fail("fsync failed", path_);
  if (hook) hook(written_);
  if (temp_.empty()) temp_ = name_unnamed(fd_, path_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", temp_);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) fail("rename failed", path_);
  committed_ = true;
  if (synced) sync_directory(directory_of(path_));
}

void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook) {
  AtomicFile file(path);
  file.write(data, hook);
  file.commit(hook);
}

void append_to_file(const std::string& path, std::string_view text) {
  const int fd = ::open(
      path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, kFileMode);
  if (fd < 0) {
    if (errno == ELOOP) fail("refusing to append through a symbolic link", path, ELOOP);
    fail("cannot open for appending", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": not a regular file; refusing to append to it");
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const int err = errno;
      ::close(fd);
      fail("write failed", path, err);
    }
    done += static_cast<size_t>(w);
  }
  ::close(fd);
}

bool is_atomic_temporary(const std::string& name, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  return name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace sluice

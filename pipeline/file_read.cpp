#include "pipeline/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice {
namespace {

FileReadResult refuse(FileReadStatus status, const std::string& path, const std::string& why) {
  return FileReadResult{status, why, path + ": " + why};
}

std::string size_text(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30)) return std::to_string(bytes >> 30) + " GiB";
  if (bytes >= (uint64_t{1} << 20)) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

FileReadResult not_regular(const std::string& path, const char* what, const struct stat& st) {
  return refuse(
      FileReadStatus::kNotRegular, path,
      std::string("the ") + what + " is " + file_type_name(st.st_mode) + ", not a regular file");
}

FileReadResult too_large(const std::string& path, const char* what, uint64_t size,
                         uint64_t max_bytes) {
  return refuse(FileReadStatus::kTooLarge, path,
                std::string("the ") + what + " is larger than the limit of " +
                    size_text(max_bytes) + " (" + std::to_string(size) + " bytes or more)");
}

// Reads up to n bytes; fewer only at the end of the file. -1 on an error.
ssize_t read_fully(int fd, char* p, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens a regular file of at most max_bytes; -1 and `result` set otherwise.
int open_checked(const std::string& path, uint64_t max_bytes, const char* what,
                 FileReadResult& result, uint64_t& size) {
  result = {};
  // A FIFO or device is refused before it is opened (opening some devices acts);
  // the fstat below repeats the check on what was actually opened.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    result = not_regular(path, what, st);
    return -1;
  }
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f.fd < 0) {
    result = refuse(FileReadStatus::kCannotOpen, path,
                    std::string("cannot open the ") + what + ": " + std::strerror(errno));
    return -1;
  }
  if (::fstat(f.fd, &st) != 0) {
    result =
        refuse(FileReadStatus::kReadError, path, std::string("fstat: ") + std::strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    result = not_regular(path, what, st);
    return -1;
  }
  size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    result = too_large(path, what, size, max_bytes);
    return -1;
  }
  const int fd = f.fd;
  f.fd = -1;
  return fd;
}

template <class Bytes>
FileReadResult read_into(const std::string& path, uint64_t max_bytes, const char* what,
                         Bytes& out) {
  out.clear();
  FileReadResult opened;
  uint64_t size = 0;
  Fd f;
  f.fd = open_checked(path, max_bytes, what, opened, size);
  if (f.fd < 0) return opened;

  out.resize(static_cast<size_t>(size));
  ssize_t got = read_fully(f.fd, reinterpret_cast<char*>(out.data()), out.size());
  if (got >= 0) out.resize(static_cast<size_t>(got));
  // The file may be longer than fstat said (it grew; /proc files report 0).
  char chunk[4096];
  while (got >= 0) {
    got = read_fully(f.fd, chunk, sizeof chunk);
    if (got <= 0) break;
    const uint64_t total = out.size() + static_cast<uint64_t>(got);
    if (total > max_bytes) {
      out.clear();
      return too_large(path, what, total, max_bytes);
    }
    out.insert(out.end(), chunk, chunk + got);
  }
  if (got < 0) {
    const int err = errno;
    out.clear();
    return refuse(FileReadStatus::kReadError, path,
                  std::string("cannot read the ") + what + ": " + std::strerror(err));
  }
  return {};
}

}  // namespace

int open_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                      FileReadResult& result, uint64_t& size) {
  return open_checked(path, max_bytes, what, result, size);
}

const char* file_type_name(unsigned mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::vector<uint8_t>& out) {
  return read_into(path, max_bytes, what, out);
}

FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::vector<char>& out) {
  return read_into(path, max_bytes, what, out);
}

FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::string& out) {
  return read_into(path, max_bytes, what, out);
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what) {
  std::string out;
  FileReadResult r = try_read_regular_file(path, max_bytes, what, out);
  if (!r.ok()) throw FileReadError(std::move(r));
  return out;
}

std::vector<char> read_regular_file_bytes(const std::string& path, uint64_t max_bytes,
                                          const char* what) {
  std::vector<char> out;
  FileReadResult r = try_read_regular_file(path, max_bytes, what, out);
  if (!r.ok()) throw FileReadError(std::move(r));
  return out;
}

}  // namespace sluice

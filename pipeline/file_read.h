// Reading whole input files safely: every file sluice reads (configs, dataset
// indexes, images, checkpoints, weights) goes through read_regular_file.
//
// A path that names something other than a regular file is refused before it is
// read: a FIFO would block open() or read() forever, a character device such as
// /dev/zero never ends, a directory cannot be read. The file is opened with
// O_NONBLOCK (opening a FIFO cannot block) and checked with fstat on the open
// descriptor, so a swap between the check and the read changes nothing. A file
// larger than the limit for its kind is refused before any buffer is allocated.
//
//   std::string text = read_regular_file(path, kMaxConfigBytes, "config file");
//   // throws FileReadError: "a.toml: the config file is a FIFO, not a regular file"
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice {

// Size limits per kind of file: far above any real file of that kind, low enough
// that a wrong path (a disk image, a log, a device) fails at once with a message
// instead of exhausting memory.
inline constexpr uint64_t kMaxCheckpointBytes = uint64_t{4} << 30;  // checkpoints, weights
inline constexpr uint64_t kMaxIndexBytes = uint64_t{2} << 30;       // attribute, partition, CSV
inline constexpr uint64_t kMaxImageBytes = uint64_t{256} << 20;     // one encoded image
inline constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;     // one TOML file

enum class FileReadStatus {
  kOk,
  kCannotOpen,  // missing, no permission, ... (errno in the message)
  kNotRegular,  // a FIFO, directory, device or socket
  kTooLarge,    // above the limit for its kind
  kReadError,   // an I/O error while reading
};

struct FileReadResult {
  FileReadStatus status = FileReadStatus::kOk;
  std::string reason;   // "the WHAT is a FIFO (named pipe), not a regular file", ...
  std::string message;  // "PATH: " + reason
  bool ok() const { return status == FileReadStatus::kOk; }
};

class FileReadError : public std::runtime_error {
 public:
  explicit FileReadError(FileReadResult result)
      : std::runtime_error(result.message), result_(std::move(result)) {}
  FileReadStatus status() const { return result_.status; }

 private:
  FileReadResult result_;
};

// Replaces `out` with the whole file. `what` names the kind of file in messages
// ("config file", "checkpoint", ...). Never blocks on a FIFO or reads a device.
FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::vector<uint8_t>& out);
FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::vector<char>& out);
FileReadResult try_read_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                                     std::string& out);

// As above; throws FileReadError with the message instead.
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const char* what);
std::vector<char> read_regular_file_bytes(const std::string& path, uint64_t max_bytes,
                                          const char* what);

// The open behind the readers above, for a reader that reads a file in parts
// (checking a header before it allocates): a descriptor of a regular file of at
// most `max_bytes` (its size in `size`), or -1 with `result` saying why. The
// caller closes it.
int open_regular_file(const std::string& path, uint64_t max_bytes, const char* what,
                      FileReadResult& result, uint64_t& size);

// "a FIFO", "a directory", "a character device", ... for a st_mode.
const char* file_type_name(unsigned mode);

}  // namespace sluice

// Creating files in folders that others may write (a shared cache, a shard folder,
// a run folder): every file sluice creates goes through AtomicFile or
// write_file_atomically, so a link planted at any of its names is never followed.
//
// The content goes into an unnamed file (O_TMPFILE) or, where the file system has
// none, a fresh name "PATH.tmp.XXXXXX" created O_CREAT|O_EXCL|O_NOFOLLOW (mkstemp:
// an existing file or symlink there is never opened). Once complete it is synced,
// given such a fresh name (linkat refuses an existing one) and renamed over PATH;
// rename replaces a symlink at PATH itself, never the file it points to. Readers see
// the old file or the new one, never a torn mix; a crash leaves the old one intact.
// Files that grow in place (metrics logs) are opened with O_NOFOLLOW: a planted
// link is refused with an error naming the path.
//
//   AtomicFile out("shards/part-000000.tar");
//   ::write(out.fd(), bytes, n);            // or out.write(text)
//   out.commit();                           // fsync, rename into place, fsync folder
//   write_file_atomically("run/config.toml", text);
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sluice {

// Called after each chunk is written, with the bytes written so far, and once more
// (with the full size) after the fsync, just before the rename. Tests use it to crash
// or fail mid-write; production code leaves it empty.
using AtomicWriteHook = std::function<void(size_t bytes_written)>;

// Whether commit() makes the file durable (fsync of the file and its folder). A cache
// entry, checked when read, can skip it.
enum class Durability { kSynced, kUnsynced };

class AtomicFile {
 public:
  // Opens the temporary for `path`; throws std::runtime_error naming the path.
  explicit AtomicFile(std::string path, Durability durability = Durability::kSynced);
  ~AtomicFile();  // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Writes all of `data` (retrying short writes); throws on an error.
  void write(std::string_view data, const AtomicWriteHook& hook = {});
  // Syncs, names and renames the file over path(); `hook` runs just before the
  // rename (tests crash there). Throws naming the path; the temporary is removed then.
  void commit(const AtomicWriteHook& hook = {});

 private:
  std::string path_;
  std::string temp_;  // the temporary's name; empty while unnamed
  int fd_ = -1;
  bool committed_ = false;
  size_t written_ = 0;
  Durability durability_;
};

// The whole file at once. Throws std::runtime_error with the path and errno text.
void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook = {});

// Appends to PATH, creating it; a symlink at PATH is refused (O_NOFOLLOW), as is
// anything but a regular file. Throws std::runtime_error naming the path.
void append_to_file(const std::string& path, std::string_view text);

// True where `name` is a temporary that AtomicFile made for a file named `base`
// ("last.pt.tmp.Ab12Cd" for "last.pt").
bool is_atomic_temporary(const std::string& name, const std::string& base);

}  // namespace sluice

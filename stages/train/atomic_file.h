// Writes a file so that readers see either the old content or the new, never a torn
// mix: write a temporary file in the same directory, fsync it, rename it over the
// target, fsync the directory. A crash at any point leaves the previous file intact.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace sluice::train {

// Called after each chunk is written, with the bytes written so far, and once more
// (with the full size) after the fsync, just before the rename. Tests use it to crash
// or fail mid-write; production code leaves it empty.
using AtomicWriteHook = std::function<void(size_t bytes_written)>;

// Throws std::runtime_error with the path and errno text on failure; the temporary
// file is removed then.
void write_file_atomically(const std::string& path, std::string_view data,
                           const AtomicWriteHook& hook = {});

}  // namespace sluice::train

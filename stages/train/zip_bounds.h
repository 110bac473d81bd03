// A torch.save zip is a list of records LibTorch's reader inflates into buffers
// of the size the zip's central directory declares. A crafted file declares
// gigabytes in a few kilobytes (a zip bomb): check_zip_bounds reads the central
// directory first and refuses, naming the record, one whose declared size is
// more than kMaxZipExpansion times its compressed size (plus
// kZipExpansionAllowance), a stored record whose two sizes differ, or records
// declaring more than `max_total` bytes in all. torch.save stores records
// uncompressed, so real checkpoints pass whatever their size.
//
// No Torch here: the fuzzers and the Torch-free tests call it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::train {

inline constexpr uint64_t kMaxZipExpansion = 100;
inline constexpr uint64_t kZipExpansionAllowance = uint64_t{1} << 20;

// Throws std::runtime_error ("RECORD declares N bytes ...") on a record beyond
// the bounds; returns quietly when the bytes hold no zip directory (the zip
// reader then reports what is wrong).
void check_zip_bounds(const char* data, size_t size, uint64_t max_total);

}  // namespace sluice::train

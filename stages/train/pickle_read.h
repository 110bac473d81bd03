// Reading a torch.save / torch::pickle_save file from memory with every read kept
// inside the buffer.
//
// LibTorch's torch::pickle_load(std::vector<char>) reads the zip container through
// caffe2::serialize::MemoryReadAdapter, which copies whatever offset and length the
// zip's directory names without checking them against the buffer (LibTorch 1.13): a
// corrupt .pt file makes it read past the end of the buffer. This reader clamps
// every read to the buffer, so the zip reader sees a short read and throws a
// c10::Error instead.
#pragma once

#include <ATen/core/ivalue.h>

#include <vector>

namespace sluice::train {

// Same result as torch::pickle_load(bytes) for a well-formed file; throws a
// std::exception (c10::Error) for a malformed one.
c10::IValue pickle_load_bounded(const std::vector<char>& bytes);

}  // namespace sluice::train

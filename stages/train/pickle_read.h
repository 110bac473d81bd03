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

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::train {

// Same result as torch::pickle_load(bytes) for a well-formed file; throws a
// std::exception (c10::Error, std::runtime_error) for a malformed one. Beyond
// the bounded reads, two checks LibTorch 1.13 lacks (both found by fuzz/):
// - every pickle in the archive is scanned first, and a string or bytes length
//   that exceeds the bytes after it is refused (LibTorch allocates and
//   zero-fills the declared size, up to 4 GB, before it reads anything), and so
//   is a memo id beyond the entries stored so far (the memo is resized to it);
// - every tensor's view must fit its storage (LibTorch builds a tensor from
//   whatever size, stride and offset the pickle gives, and reads past it later).
c10::IValue pickle_load_bounded(const std::vector<char>& bytes);

// The length scan on one pickle (`name` for the message); throws
// std::runtime_error. Stops at STOP or at an opcode it does not know.
void check_pickle_lengths(const uint8_t* pickle, size_t size, const std::string& name);

// The length scan on every *.pkl record of a torch zip archive, e.g. the
// optimizer archive torch::serialize::InputArchive::load_from reads.
void check_archive_pickles(const std::string& zip_bytes);

}  // namespace sluice::train

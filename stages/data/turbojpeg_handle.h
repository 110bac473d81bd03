// A TurboJPEG handle per thread (compressor or decompressor), created on first use
// and destroyed at thread exit. libjpeg-turbo 2.1 leaves a handle in a bad state
// after a failed call (the next good JPEG fails with "Bogus marker length" or "two
// SOI markers"), so after any error or warning the caller discards it and the next
// call on this thread gets a new one.
#pragma once

#include <turbojpeg.h>

namespace sluice::data {

template <tjhandle (*Init)()>
class ThreadTurboJpeg {
 public:
  ~ThreadTurboJpeg() { discard(); }
  ThreadTurboJpeg() = default;
  ThreadTurboJpeg(const ThreadTurboJpeg&) = delete;
  ThreadTurboJpeg& operator=(const ThreadTurboJpeg&) = delete;

  tjhandle get() {
    if (!handle_) handle_ = Init();
    return handle_;
  }
  void discard() {
    if (handle_) tjDestroy(handle_);
    handle_ = nullptr;
  }
  // This thread's handle.
  static ThreadTurboJpeg& local() {
    thread_local ThreadTurboJpeg handle;
    return handle;
  }

 private:
  tjhandle handle_ = nullptr;
};

using ThreadCompressor = ThreadTurboJpeg<tjInitCompress>;
using ThreadDecompressor = ThreadTurboJpeg<tjInitDecompress>;

}  // namespace sluice::data

// The bounded queue between a graph's output and the Python thread that
// iterates it. The graph side blocks while the queue is full, so a slow
// consumer holds the graph back (with max_in_flight, memory stays bounded);
// the Python side waits with a timeout, so it can look at its signals.
#pragma once

#include <any>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

#include "pipeline/packet.h"

namespace sluice {
class StageContext;
}

namespace sluice::python {

// One element of the stream: a payload, or an end-of-split / end-of-epoch marker.
struct OutputItem {
  std::any value;
  std::optional<Control> control;
};

class OutputQueue {
 public:
  explicit OutputQueue(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // Graph side. Waits while the queue is full; returns false (and drops the
  // item) once the consumer has closed the queue.
  bool push(OutputItem item);
  // Graph side: the run has ended, nothing more will come.
  void end();

  enum class Pop { kItem, kTimeout, kEnd };
  // Python side: the next item, or kTimeout after `timeout`, or kEnd when the
  // run has ended and every item was taken, or the queue was closed.
  Pop pop(OutputItem& out, std::chrono::milliseconds timeout);
  // Python side: no more items are wanted. Drops what is queued, releases a
  // waiting producer and asks the run's sources to stop.
  void close();
  bool closed() const;

  // The output stage of the current run registers its context, so that
  // close() can ask the sources to stop; it unregisters when it is destroyed.
  void attach(StageContext* ctx);
  void detach();

  size_t capacity() const { return capacity_; }
  size_t peak() const;

 private:
  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<OutputItem> items_;
  bool ended_ = false;
  bool closed_ = false;
  size_t peak_ = 0;
  StageContext* ctx_ = nullptr;
};

}  // namespace sluice::python

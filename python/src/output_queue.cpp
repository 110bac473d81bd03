#include "python/src/output_queue.h"

#include <utility>

#include "pipeline/stage.h"

namespace sluice::python {

bool OutputQueue::push(OutputItem item) {
  std::unique_lock<std::mutex> lock(mutex_);
  not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
  if (closed_) return false;
  items_.push_back(std::move(item));
  if (items_.size() > peak_) peak_ = items_.size();
  not_empty_.notify_one();
  return true;
}

void OutputQueue::end() {
  std::lock_guard<std::mutex> lock(mutex_);
  ended_ = true;
  not_empty_.notify_all();
}

OutputQueue::Pop OutputQueue::pop(OutputItem& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  // A closed queue has dropped its items: the consumer is done with this run.
  if (!not_empty_.wait_for(lock, timeout, [&] { return !items_.empty() || ended_ || closed_; })) {
    return Pop::kTimeout;
  }
  if (items_.empty()) return Pop::kEnd;
  out = std::move(items_.front());
  items_.pop_front();
  not_full_.notify_one();
  return Pop::kItem;
}

void OutputQueue::close() {
  std::deque<OutputItem> dropped;  // released outside the lock
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    dropped.swap(items_);
    if (ctx_) ctx_->request_stop();
    not_full_.notify_all();
    not_empty_.notify_all();
  }
}

bool OutputQueue::closed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return closed_;
}

void OutputQueue::attach(StageContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_ = ctx;
  if (closed_) ctx_->request_stop();
}

void OutputQueue::detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  ctx_ = nullptr;
}

size_t OutputQueue::peak() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

}  // namespace sluice::python

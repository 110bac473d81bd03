#include "pipeline/run_control.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>

namespace sluice {
namespace {

// Lock-free atomics are async-signal-safe; a plain counter could lose a signal
// that arrives on two threads at once.
std::atomic<int> g_signal_count{0};
std::atomic<int> g_last_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal counters must be lock-free");
struct sigaction g_old_int;
struct sigaction g_old_term;

void write_stderr(const char* text) {
  size_t n = 0;
  while (text[n] != '\0') ++n;
  const ssize_t ignored = ::write(STDERR_FILENO, text, n);
  (void)ignored;
}

// The first signal asks the run to stop and drain. The second ends the process
// here and now: a stage may be blocked where no flag is ever looked at (a read,
// a sleep, a lock), so waiting for the graph cannot be relied on. Only
// async-signal-safe calls: write(2) and _exit(2).
void on_signal(int sig) {
  g_last_signal.store(sig);
  if (g_signal_count.fetch_add(1) + 1 < 2) return;
  write_stderr(sig == SIGINT ? "sluice: second SIGINT, exiting without waiting for the stages\n"
                             : "sluice: second SIGTERM, exiting without waiting for the stages\n");
  ::_exit(128 + sig);
}

}  // namespace

Counter& CounterSet::get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = counters_[name];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

std::map<std::string, int64_t> CounterSet::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, int64_t> out;
  for (const auto& [name, c] : counters_) out[name] = c->value();
  return out;
}

void RunControl::add_split_items(const std::string& split, int64_t items) {
  std::lock_guard<std::mutex> lock(split_mutex_);
  split_items_[split] += std::max<int64_t>(items, 0);
}

int64_t RunControl::split_items(const std::string& split) const {
  std::lock_guard<std::mutex> lock(split_mutex_);
  const auto it = split_items_.find(split);
  return it == split_items_.end() ? -1 : it->second;
}

bool RunControl::stop_requested() const {
  return stop_.load(std::memory_order_relaxed) || g_signal_count.load() > 0;
}

void RunControl::request_start_position(const DataPosition& position) {
  DataPosition p = position;
  p.epoch = std::max<int64_t>(p.epoch, 0);
  p.consumed = std::max<int64_t>(p.consumed, 0);
  if (!p.mid_epoch()) p = DataPosition{p.epoch, {}, 0};
  std::lock_guard<std::mutex> lock(position_mutex_);
  if (!position_requested_ || position_before(p, start_position_)) start_position_ = p;
  position_requested_ = true;
}

DataPosition RunControl::start_position() const {
  std::lock_guard<std::mutex> lock(position_mutex_);
  return start_position_;
}

void RunControl::add_resumed_items(int64_t items) {
  std::lock_guard<std::mutex> lock(position_mutex_);
  resumed_items_ = std::max<int64_t>(resumed_items_, 0) + std::max<int64_t>(items, 0);
}

int64_t RunControl::resumed_items() const {
  std::lock_guard<std::mutex> lock(position_mutex_);
  return resumed_items_;
}

SignalGuard::SignalGuard() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

SignalGuard::~SignalGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int signals_received() { return g_signal_count.load(); }
int last_signal() { return g_last_signal.load(); }
void reset_signals() {
  g_signal_count.store(0);
  g_last_signal.store(0);
}

}  // namespace sluice

#include "pipeline/run_control.h"

#include <algorithm>

#include <csignal>

namespace sluice {
namespace {

volatile std::sig_atomic_t g_signal_count = 0;
volatile std::sig_atomic_t g_last_signal = 0;
struct sigaction g_old_int;
struct sigaction g_old_term;

void on_signal(int sig) {
  g_last_signal = sig;
  g_signal_count = g_signal_count + 1;
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

bool RunControl::stop_requested() const {
  return stop_.load(std::memory_order_relaxed) || g_signal_count > 0;
}

void RunControl::request_start_epoch(int64_t epoch) {
  epoch = std::max<int64_t>(epoch, 0);
  int64_t now = start_epoch_.load(std::memory_order_relaxed);
  while ((now < 0 || epoch < now) &&
         !start_epoch_.compare_exchange_weak(now, epoch, std::memory_order_relaxed)) {
  }
}

int64_t RunControl::start_epoch() const {
  return std::max<int64_t>(start_epoch_.load(std::memory_order_relaxed), 0);
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

int signals_received() { return g_signal_count; }
int last_signal() { return g_last_signal; }
void reset_signals() {
  g_signal_count = 0;
  g_last_signal = 0;
}

}  // namespace sluice

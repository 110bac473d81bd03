// Training progress: a one-line bar with rate and ETA redrawn in place on a terminal,
// plain periodic log lines otherwise (CI logs, files), which never hold '\r'.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace sluice::train {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kDefaultPlainInterval{10};

  // On a TTY (`tty`) the bar is redrawn in place on `terminal`; otherwise `sink`
  // receives finished lines (no newline), at most one per `plain_interval`, across
  // phases (a short validation phase does not restart the interval).
  Progress(bool tty, std::function<void(const std::string&)> sink,
           std::chrono::milliseconds plain_interval = kDefaultPlainInterval,
           std::FILE* terminal = stderr);

  // Whether `stream` is a terminal (isatty on its descriptor).
  static bool is_terminal(std::FILE* stream);

  // A new phase: "epoch 3 train". `total` steps, or 0 when unknown; `estimated`
  // when the total is a guess (from the index size, before an epoch was seen):
  // shown as "~47".
  void start(const std::string& label, int64_t total, bool estimated = false);
  // `done` steps so far, `images` seen in this phase and a short status
  // ("loss 0.4123 accuracy 0.8125").
  void update(int64_t done, int64_t images, const std::string& status);
  // Ends the phase: clears the bar on a terminal.
  void finish();

  // The bar text for a state (exposed for tests).
  static std::string render(const std::string& label, int64_t done, int64_t total,
                            double images_per_s, double eta_s, const std::string& status,
                            bool estimated = false);
  static std::string format_duration(double seconds);

  // Tests: a clock to use instead of steady_clock.
  void set_clock(std::function<Clock::time_point()> now) {
    now_ = std::move(now);
    start_ = last_draw_ = last_line_ = now_();
  }

 private:
  bool tty_;
  std::function<void(const std::string&)> sink_;
  std::chrono::milliseconds plain_interval_;
  std::FILE* terminal_;
  std::function<Clock::time_point()> now_;
  std::string label_;
  int64_t total_ = 0;
  bool estimated_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  Clock::time_point last_line_;
  bool drawn_ = false;
};

}  // namespace sluice::train

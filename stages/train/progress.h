// Training progress: a one-line bar with rate and ETA redrawn in place on a terminal,
// plain periodic log lines otherwise (CI logs, files).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sluice::train {

class Progress {
 public:
  // `sink` receives finished lines (no newline), at most one per `plain_interval`;
  // on a TTY the bar is redrawn in place on stderr instead.
  Progress(bool tty, std::function<void(const std::string&)> sink,
           std::chrono::milliseconds plain_interval = std::chrono::seconds(30));

  // A new phase: "epoch 3 train". `total` steps, or 0 when unknown (first epoch).
  void start(const std::string& label, int64_t total);
  // `done` steps so far and a short status ("loss 0.4123 acc 0.8125").
  void update(int64_t done, int64_t images, const std::string& status);
  void finish();

  // The bar text for a state (exposed for tests).
  static std::string render(const std::string& label, int64_t done, int64_t total,
                            double images_per_s, double eta_s, const std::string& status);
  static std::string format_duration(double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  bool tty_;
  std::function<void(const std::string&)> sink_;
  std::chrono::milliseconds plain_interval_;
  std::string label_;
  int64_t total_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace sluice::train

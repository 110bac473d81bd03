#include "stages/train/progress.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

namespace sluice::train {

Progress::Progress(bool tty, std::function<void(const std::string&)> sink,
                   std::chrono::milliseconds plain_interval)
    : tty_(tty), sink_(std::move(sink)), plain_interval_(plain_interval) {}

void Progress::start(const std::string& label, int64_t total) {
  label_ = label;
  total_ = total;
  start_ = last_draw_ = Clock::now();
  drawn_ = false;
}

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0)) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  std::ostringstream os;
  if (s >= 3600) os << s / 3600 << "h";
  if (s >= 60) os << std::setw(s >= 3600 ? 2 : 1) << std::setfill('0') << (s / 60) % 60 << "m";
  os << std::setw(s >= 60 ? 2 : 1) << std::setfill('0') << s % 60 << "s";
  return os.str();
}

std::string Progress::render(const std::string& label, int64_t done, int64_t total,
                             double images_per_s, double eta_s, const std::string& status) {
  std::ostringstream os;
  os << label << " ";
  if (total > 0) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(done, total) / total);
    os << "[" << std::string(filled, '=') << (filled < kWidth ? ">" : "")
       << std::string(kWidth - filled - (filled < kWidth ? 1 : 0), ' ') << "] " << done << "/"
       << total;
  } else {
    os << done;
  }
  os << std::fixed << std::setprecision(1) << " " << images_per_s << " img/s";
  if (total > 0) os << " ETA " << format_duration(eta_s);
  if (!status.empty()) os << " " << status;
  return os.str();
}

void Progress::update(int64_t done, int64_t images, const std::string& status) {
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? images / elapsed : 0.0;
  const double eta = (total_ > 0 && done > 0) ? elapsed * (total_ - done) / done : -1.0;
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done != total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[K%s", render(label_, done, total_, rate, eta, status).c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  // Plain lines, for logs: one per interval (the epoch summary follows anyway).
  if (now - last_draw_ < plain_interval_) return;
  last_draw_ = now;
  sink_(render(label_, done, total_, rate, eta, status));
}

void Progress::finish() {
  if (tty_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
}

}  // namespace sluice::train

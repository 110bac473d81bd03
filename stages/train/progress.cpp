#include "stages/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace sluice::train {

Progress::Progress(bool tty, std::function<void(const std::string&)> sink,
                   std::chrono::milliseconds plain_interval, std::FILE* terminal)
    : tty_(tty),
      sink_(std::move(sink)),
      plain_interval_(plain_interval),
      terminal_(terminal),
      now_([] { return Clock::now(); }) {
  start_ = last_draw_ = last_line_ = now_();
}

bool Progress::is_terminal(std::FILE* stream) {
  return stream != nullptr && ::isatty(::fileno(stream)) != 0;
}

void Progress::start(const std::string& label, int64_t total, bool estimated) {
  label_ = label;
  total_ = total;
  estimated_ = estimated && total > 0;
  start_ = last_draw_ = now_();
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
                             double images_per_s, double eta_s, const std::string& status,
                             bool estimated) {
  std::ostringstream os;
  os << label << " ";
  if (total > 0) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(done, total) / total);
    os << "[" << std::string(filled, '=') << (filled < kWidth ? ">" : "")
       << std::string(kWidth - filled - (filled < kWidth ? 1 : 0), ' ') << "] " << done << "/"
       << (estimated ? "~" : "") << total;
  } else {
    os << done;
  }
  os << std::fixed << std::setprecision(1) << " " << images_per_s << " img/s";
  if (total > 0) os << " ETA " << format_duration(eta_s);
  if (!status.empty()) os << " " << status;
  return os.str();
}

void Progress::update(int64_t done, int64_t images, const std::string& status) {
  const auto now = now_();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? images / elapsed : 0.0;
  // An estimated total that turns out short: the phase is nearly over, not overdue.
  const double eta =
      total_ > 0 && done > 0 ? elapsed * std::max<int64_t>(total_ - done, 0) / done : -1.0;
  if (tty_) {
    // The first state at once, then at most ten redraws a second (and the last).
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done != total_) return;
    last_draw_ = now;
    std::fprintf(terminal_, "\r\033[K%s",
                 render(label_, done, total_, rate, eta, status, estimated_).c_str());
    std::fflush(terminal_);
    drawn_ = true;
    return;
  }
  // Plain lines, for logs: one per interval (the epoch summary follows anyway).
  if (now - last_line_ < plain_interval_) return;
  last_line_ = now;
  sink_(render(label_, done, total_, rate, eta, status, estimated_));
}

void Progress::finish() {
  if (tty_ && drawn_) {
    std::fprintf(terminal_, "\r\033[K");
    std::fflush(terminal_);
  }
  drawn_ = false;
}

}  // namespace sluice::train

// The training progress display: on a terminal (a pseudo-terminal here) a bar
// redrawn in place with its total and ETA from the first update; off one, plain
// lines at most one per interval and never a carriage return.
#include "stages/train/progress.h"

#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using sluice::train::Progress;

namespace {

// A pseudo-terminal: writes to `slave` are read back from `master`.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    int master = -1, slave = -1;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) return;
    master_ = master;
    ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
    slave_ = ::fdopen(slave, "w");
  }
  ~PseudoTerminal() {
    if (slave_) std::fclose(slave_);
    if (master_ >= 0) ::close(master_);
  }
  bool ok() const { return slave_ != nullptr; }
  std::FILE* slave() const { return slave_; }
  std::string read_all() const {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(master_, buf, sizeof buf)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int master_ = -1;
  std::FILE* slave_ = nullptr;
};

// A clock the test moves by hand.
struct FakeClock {
  Progress::Clock::time_point now = Progress::Clock::time_point(std::chrono::hours(1));
  void advance(std::chrono::milliseconds ms) { now += ms; }
};

}  // namespace

TEST(Progress, RendersBarRateAndEta) {
  const auto s = Progress::render("epoch 1 train", 5, 10, 123.4, 65, "loss 0.5");
  EXPECT_EQ(s, "epoch 1 train [============>           ] 5/10 123.4 img/s ETA 1m05s loss 0.5");
  EXPECT_EQ(Progress::format_duration(3725), "1h02m05s");
  // A total estimated from the index size is marked as such.
  EXPECT_NE(Progress::render("epoch 1 train", 5, 10, 1, 5, "", true).find("5/~10"),
            std::string::npos);
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  std::vector<std::string> lines;
  Progress p(
      false, [&](const std::string& l) { lines.push_back(l); }, std::chrono::milliseconds(0));
  p.start("epoch 1 train", 10);
  for (int i = 1; i <= 10; ++i) p.update(i, i * 4, "");
  p.finish();
  EXPECT_EQ(lines.size(), 10u);
}

// Off a terminal: one line per interval, across phases (a validation phase does
// not restart the interval), and no control characters at all.
TEST(Progress, OffATerminalOneLinePerIntervalWithoutCarriageReturns) {
  std::vector<std::string> lines;
  FakeClock clock;
  Progress p(
      false, [&](const std::string& l) { lines.push_back(l); }, std::chrono::seconds(10));
  p.set_clock([&] { return clock.now; });
  p.start("epoch 1 train", 100, /*estimated=*/true);
  for (int i = 1; i <= 100; ++i) {  // 100 steps of 0.5 s: 50 s, a line every 10 s
    clock.advance(std::chrono::milliseconds(500));
    p.update(i, i * 8, "loss 0.5");
  }
  p.finish();
  EXPECT_EQ(lines.size(), 5u);
  p.start("epoch 1 validation", 20);
  for (int i = 1; i <= 20; ++i) {  // 8 s more: no line, 10 s have not passed since the last
    clock.advance(std::chrono::milliseconds(400));
    p.update(i, i * 8, "");
  }
  EXPECT_EQ(lines.size(), 5u);
  clock.advance(std::chrono::seconds(3));
  p.update(20, 160, "");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[5].rfind("epoch 1 validation [", 0), 0u) << lines[5];
  for (const auto& line : lines) {
    EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    EXPECT_EQ(line.find('\033'), std::string::npos) << line;
  }
  EXPECT_NE(lines[0].find("ETA"), std::string::npos) << lines[0];
}

// On a terminal: the bar appears at the first update (even in the first epoch,
// with an estimated total), carries the ETA, and is cleared at the end; nothing
// goes to the log sink.
TEST(Progress, OnATerminalTheBarIsDrawnInPlaceFromTheFirstUpdate) {
  PseudoTerminal pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminal available";
  EXPECT_TRUE(Progress::is_terminal(pty.slave()));
  std::vector<std::string> lines;
  FakeClock clock;
  Progress p(
      true, [&](const std::string& l) { lines.push_back(l); }, std::chrono::seconds(10),
      pty.slave());
  p.set_clock([&] { return clock.now; });
  p.start("epoch 1 train", 4, /*estimated=*/true);
  clock.advance(std::chrono::milliseconds(250));
  p.update(1, 8, "loss 0.6931");
  std::string out = pty.read_all();
  EXPECT_NE(out.find("\r\033[Kepoch 1 train [======>"), std::string::npos) << out;
  EXPECT_NE(out.find("1/~4"), std::string::npos) << out;
  EXPECT_NE(out.find("ETA 1s"), std::string::npos) << out;  // 3 steps of 0.25 s left
  p.update(2, 16, "");  // within 100 ms of the last redraw: skipped
  EXPECT_EQ(pty.read_all(), "");
  clock.advance(std::chrono::milliseconds(200));
  p.update(4, 32, "");  // the last step is always drawn
  out = pty.read_all();
  EXPECT_NE(out.find("4/~4"), std::string::npos) << out;
  p.finish();
  EXPECT_EQ(pty.read_all(), "\r\033[K");
  p.start("epoch 1 validation", 2);
  p.update(1, 8, "");
  EXPECT_NE(pty.read_all().find("epoch 1 validation ["), std::string::npos);
  EXPECT_TRUE(lines.empty());
}

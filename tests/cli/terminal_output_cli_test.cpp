// What `sluice` tells a person at the terminal and in logs: usage errors exit 2
// and list the valid values; epochs are numbered from 1 wherever they are read;
// the index logs what `limit` leaves; --log-level debug follows stages, markers
// and checkpoint decisions; training shows a bar on a terminal (a pseudo-terminal
// here) from the first epoch, for validation too, and plain lines without '\r'
// off one; a resume with every epoch done says so and marks no bottleneck.
#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using cli_test::read_text;
using cli_test::set_string;
using cli_test::source_file;

using cli_test::Result;

std::string binary() { return std::string(SLUICE_BINARY); }

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 300 " + binary() + " " + args);
}

// Runs `args` with stdout and stderr on a pseudo-terminal, as in an interactive shell.
Result sluice_on_terminal(const std::string& args) {
  Result r;
  int master = -1;
  struct winsize size = {};
  size.ws_row = 40;
  size.ws_col = 200;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) return r;
  if (pid == 0) {
    const std::string command = "exec timeout 300 " + binary() + " " + args;
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) {
      r.out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO: the child closed the terminal
    }
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TerminalOutput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_terminal_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + celeba() + " --count 40 --seed 2");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static std::string celeba() { return (dir_ / "celeba").string(); }

  // A data-only pipeline: the train split of the synthetic CelebA, printed.
  static fs::path print_config(int64_t limit, int epochs) {
    const fs::path path = dir_ / ("print_" + std::to_string(limit) + ".toml");
    std::ofstream(path) << "[stages.index]\nuse = \"celeba.index\"\nroot = \"" << celeba()
                        << "\"\nsplit = \"train\"\nlimit = " << limit << "\nepochs = " << epochs
                        << "\n\n[stages.print]\nuse = \"util.print\"\ninput = \"index\"\n"
                        << "limit = 0\n";
    return path;
  }

  // The demo's narrow model on 8 + 8 synthetic images, batches of 4, on the CPU.
  static std::string train_args(const fs::path& run, int epochs) {
    return "run " + source_file("configs/demo.toml") + set_string("index.root", celeba()) +
           set_string("train.output_dir", run.string()) + set_string("train.device", "cpu") +
           " --set index.epochs=" + std::to_string(epochs) +
           " --set index.limit=8 --set batch.batch_size=4";
  }

  static fs::path dir_;
};

fs::path TerminalOutput::dir_;

// Each choice-valued option refuses an unknown value with exit 2 and the list.
TEST_F(TerminalOutput, UsageErrorsExitTwoAndListTheValidValues) {
  const std::string levels = "'trace', 'debug', 'info', 'warn', 'error', 'critical', 'off'";
  struct Case {
    std::string args, expected;
  };
  std::vector<Case> cases = {
      {"run " + print_config(5, 1).string() + " --log-level verbose",
       "sluice run: --log-level must be one of " + levels + ", got 'verbose'"},
      {"profile " + print_config(5, 1).string() + " --log-level loud",
       "sluice profile: --log-level must be one of " + levels + ", got 'loud'"},
      {"bench data --root " + celeba() + " --log-level verbose",
       "sluice bench data: --log-level must be one of " + levels},
      {"bench data --root " + celeba() + " --fill mirror",
       "--fill must be one of 'nearest', 'constant', 'reflect', 'wrap', got 'mirror'"},
      {"augment --image a.jpg --out b.png --fill mirror", "--fill must be one of"},
      {"bench gpu", "sluice bench: unknown benchmark 'gpu' (expected data or train)"},
  };
  if (SLUICE_WITH_TORCH) {
    const std::vector<Case> torch_cases = {
        {"predict --weights w.pt --log-level verbose a.jpg",
         "sluice predict: --log-level must be one of " + levels},
        {"predict --weights w.pt --arch vgg99 a.jpg",
         "sluice predict: --arch must be one of 'vgg11', 'vgg13', 'vgg16', 'vgg19', 'resnet18', "
         "'resnet34', 'resnet50', got 'vgg99'"},
        {"predict --weights w.pt --head top a.jpg",
         "--head must be one of 'imagenet', 'replace_last', 'gap', got 'top'"},
        {"predict --weights w.pt --device tpu a.jpg",
         "--device must be one of 'auto', 'cpu', 'cuda', 'cuda:N' (N a device number), got "
         "'tpu'"},
        {"bench train --log-level verbose", "sluice bench train: --log-level must be one of"},
        {"bench train --optimizer rmsprop", "unknown optimizer 'rmsprop' (expected adam or sgd)"},
        {"bench train --precision fp8", "(expected auto, fp32, bf16 or fp16)"},
        {"bench train --precision fp16", "precision = \"fp16\" needs a CUDA device"},
        {"bench train --progress-interval -1", "--progress-interval must be in [0, 86400]"},
    };
    cases.insert(cases.end(), torch_cases.begin(), torch_cases.end());
  }
  for (const Case& c : cases) {
    const Result r = sluice(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expected), std::string::npos) << c.args << "\n" << r.out;
  }
}

// util.print shows markers with epochs counted from 1, as logs and metrics do.
TEST_F(TerminalOutput, PrintedMarkersCountEpochsFromOne) {
  const Result r = sluice("run " + print_config(3, 2).string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("-- end of split train (epoch 1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-- end of epoch (epoch 2)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(epoch 0)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(epoch 3)"), std::string::npos) << r.out;
}

// The index says how many samples an epoch uses, not how many it indexed.
TEST_F(TerminalOutput, TheIndexLogsWhatTheLimitLeaves) {
  const Result r = sluice("run " + print_config(5, 1).string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(": 5 samples (of "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("limit 5) in 1 split(s) [train 5], 1 epoch(s)"), std::string::npos) << r.out;
}

// --log-level debug follows each stage's open and close and the markers it sees.
TEST_F(TerminalOutput, DebugLogsStageOpenCloseAndMarkers) {
  const Result quiet = sluice("run " + print_config(3, 2).string());
  ASSERT_EQ(quiet.code, 0) << quiet.out;
  EXPECT_EQ(quiet.out.find("[debug]"), std::string::npos) << quiet.out;
  const Result r = sluice("run " + print_config(3, 2).string() + " --log-level debug");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("[index] [debug] open: celeba.index (source)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[print] [debug] open: util.print (sink)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[print] [debug] marker: end of split 'train' (epoch 1)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[print] [debug] marker: end of epoch 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[print] [debug] marker: end of stream"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[print] [debug] close: finish()"), std::string::npos) << r.out;
}

// `sluice profile` shows the mean wait per item (the sum over items can exceed
// the wall time) and explains the column under the table.
TEST_F(TerminalOutput, TheProfileShowsTheMeanWaitPerItem) {
  const Result r = sluice("profile " + print_config(5, 1).string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wait/item"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("wait s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wait/item: mean time an item waited"), std::string::npos) << r.out;
}

class TerminalTraining : public TerminalOutput {
 protected:
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs train.vgg (built without LibTorch)";
  }
};

// Off a terminal (a pipe, as in a log file): plain progress lines every
// progress_interval seconds, no '\r' anywhere; debug lines say what was saved
// and why; metrics.jsonl counts are integers; epochs read from 1.
TEST_F(TerminalTraining, OffATerminalPlainLinesAndDebugCheckpointDecisions) {
  const fs::path run = dir_ / "run_pipe";
  const Result r = sluice(train_args(run, 2) +
                          " --set train.progress_interval=0 --set train.patience=0 "
                          "--log-level debug");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  // The first epoch already knows its total from the index (8 images / 4 per batch).
  EXPECT_NE(r.out.find("epoch 1 train [============>           ] 1/~2"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("epoch 1 validation ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 2 train [========================] 2/2"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[train] [debug] marker: end of epoch 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[train] [debug] saved " + run.string() + "/last.pt (1 epoch(s)"),
            std::string::npos)
      << r.out;
  const bool improved = r.out.find("improved to") != std::string::npos;
  const bool kept = r.out.find("did not improve on best") != std::string::npos;
  EXPECT_TRUE(improved || kept) << r.out;
  const std::string jsonl = read_text(run / "metrics.jsonl");
  EXPECT_NE(jsonl.find("\"epoch\":1,"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find("\"epoch\":2,"), std::string::npos) << jsonl;
  EXPECT_EQ(jsonl.find("\"epoch\":1.0"), std::string::npos) << jsonl;
  std::istringstream lines(jsonl);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["train_images"].is_number_integer()) << line;
  }
}

// On a terminal: a bar redrawn in place for every epoch, the first included,
// and for validation, with the ETA.
TEST_F(TerminalTraining, OnATerminalABarForEveryEpochAndForValidation) {
  const Result r = sluice_on_terminal(train_args(dir_ / "run_tty", 2));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\r\033[Kepoch 1 train ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/~2 "), std::string::npos) << r.out;  // estimated in epoch 1
  EXPECT_NE(r.out.find("\r\033[Kepoch 1 validation ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\r\033[Kepoch 2 train ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\r\033[Kepoch 2 validation ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ETA "), std::string::npos) << r.out;
}

// Resuming a run whose epochs are all done: says so, exits 0, trains nothing,
// rewrites nothing, and marks no stage as the bottleneck.
TEST_F(TerminalTraining, AResumeWithEveryEpochDoneSaysSo) {
  const fs::path run = dir_ / "run_done";
  Result r = sluice(train_args(run, 1));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string metrics = read_text(run / "metrics.jsonl");
  const auto written = fs::last_write_time(run / "last.pt");
  r = sluice(train_args(run, 1) + set_string("train.resume", (run / "last.pt").string()));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("nothing to do: all 1 epoch(s) are done in " + run.string()),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("starting at epoch 2 of 1"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("bottleneck"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("training done"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(run / "metrics.jsonl"), metrics);
  EXPECT_EQ(fs::last_write_time(run / "last.pt"), written);
}

// `sluice bench train` redraws its bar on a terminal only: a log gets no '\r'.
TEST_F(TerminalTraining, BenchTrainWritesNoCarriageReturnIntoLogs) {
  const std::string args =
      "bench train --arch vgg11 --width-divisor 16 --size 32 --batch 2 --steps 2 --warmup 1 "
      "--distinct-batches 1 --device cpu --head gap --freeze none";
  Result r = sluice(args + " --progress-interval 0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bench train [========================] 3/3"), std::string::npos) << r.out;
  r = sluice_on_terminal(args);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("\r\033[Kbench train ["), std::string::npos) << r.out;
}

}  // namespace

// Faults a training run must survive without losing its checkpoints:
//  - SIGKILL at random moments, many times (each run resuming the last one): every
//    best.pt / last.pt left behind loads, and no temporary file remains;
//  - a full disk while checkpointing: the run exits 1 with a message naming the
//    file, and the checkpoints written before are byte-identical (needs root to mount a
//    small tmpfs; skipped otherwise).
// Both drive the `sluice` binary as users run it, on a tiny synthetic CelebA.
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "stages/data/synth_celeba.h"
#include "stages/train/trainer.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Starts `sluice ARGS...` with stdout+stderr into `log`; returns the pid. The old log
// goes first, so a poll of `log` never reads what the previous run printed.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  fs::remove(log);
  const pid_t pid = fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) dup2(fileno(stdout), 2);
    std::vector<char*> argv;
    std::string binary = SLUICE_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid`; returns its exit code, or 128 + signal.
int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<fs::path> temp_files(const fs::path& dir) {
  std::vector<fs::path> found;
  if (!fs::exists(dir)) return found;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path());
  }
  return found;
}

class CheckpointFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_faults_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    sluice::data::SynthOptions o;
    o.out = (dir_ / "celeba").string();
    o.count = 160;
    o.seed = 2;
    sluice::data::write_synthetic_celeba(o);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // A tiny training pipeline (32x32 images, VGG11 with channels / 32, `limit` samples per
  // split): an epoch takes a fraction of a second, so checkpoints are written often.
  static fs::path write_config(const std::string& name, int64_t epochs, int64_t limit = -1) {
    const fs::path p = dir_ / name;
    std::ofstream(p)
        << "[pipeline]\nname = \"faults\"\nseed = 1\nthreads = 2\n"
        << "[stages.index]\nuse = \"celeba.index\"\nroot = \"" << (dir_ / "celeba").string()
        << "\"\nsplit = [\"train\", \"validation\"]\nepochs = " << epochs << "\nlimit = " << limit
        << "\n"
        << "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
        << "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\n"
        << "width = 32\nheight = 32\nrescale = 0.00392156862745098\n"
        << "[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 16\n"
        << "[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\narch = \"vgg11\"\n"
        << "width_divisor = 32\nhead = \"gap\"\nfreeze = \"none\"\ndevice = \"cpu\"\n"
        << "patience = 0\nlr = 0.001\n";
    return p;
  }

  static std::vector<std::string> run_args(const fs::path& config, const fs::path& out) {
    std::vector<std::string> args = {"run",       config.string(),
                                     "--set",     "train.output_dir=\"" + out.string() + "\"",
                                     "--threads", "2"};
    if (fs::exists(out / "last.pt")) {
      args.push_back("--set");
      args.push_back("train.resume=\"" + (out / "last.pt").string() + "\"");
    } else if (fs::exists(out) && !fs::is_empty(out)) {
      // Killed before its first checkpoint: start again over what that run wrote.
      args.push_back("--set");
      args.push_back("train.overwrite=true");
    }
    return args;
  }

  static fs::path dir_;
};

fs::path CheckpointFaults::dir_;

// Each checkpoint in `out` loads (model config and training state read back).
void expect_checkpoints_load(const fs::path& out, int kill) {
  for (const char* name : {"best.pt", "last.pt"}) {
    const fs::path p = out / name;
    if (!fs::exists(p)) continue;
    try {
      const auto info = sluice::train::read_checkpoint_info(p.string());
      EXPECT_GE(info.state.epoch, 1) << p << " after kill " << kill;
    } catch (const std::exception& e) {
      ADD_FAILURE() << p << " does not load after kill " << kill << ": " << e.what();
    }
  }
}

// Polls `log` until it holds `text`; false after `limit`.
bool wait_for_text(const fs::path& log, const std::string& text, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (read_bytes(log).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST_F(CheckpointFaults, RandomSigkillsNeverLeaveABrokenCheckpointOrATempFile) {
  const int kills = static_cast<int>(env_int("SLUICE_TEST_KILLS", 50));
  const fs::path config = write_config("kill.toml", 100000, 16);
  std::mt19937 rng(12345);
  // One kill in six lands during start-up (loading, resuming); the others at a random
  // moment of training, which writes a checkpoint every fraction of a second.
  std::uniform_int_distribution<int> startup_ms(0, 1500), training_ms(0, 2000), die(0, 5);
  int runs_with_checkpoints = 0, resumed = 0, leftovers = 0;
  const fs::path out = dir_ / "kill-run", log = dir_ / "kill.log";
  std::vector<fs::path> left;  // temporaries the previous kill left
  for (int k = 0; k < kills; ++k) {
    const bool resuming = fs::exists(out / "last.pt");
    const pid_t pid = spawn(run_args(config, out), log);
    if (!left.empty()) {
      // A kill in the last instant of a write (the finished file named, not yet
      // renamed) leaves its temporary; the next run removes it as it starts.
      EXPECT_TRUE(wait_for_text(log, " on cpu: ", 120s)) << read_bytes(log);
      for (const fs::path& p : left) EXPECT_FALSE(fs::exists(p)) << p << " not removed";
      ++leftovers;
    }
    if (die(rng) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(startup_ms(rng)));
    } else {
      EXPECT_TRUE(wait_for_text(log, " on cpu: ", 120s)) << "run " << k << " never started:\n"
                                                         << read_bytes(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(training_ms(rng)));
    }
    kill(pid, SIGKILL);
    const int code = wait_exit(pid);
    if (code != 128 + SIGKILL) {
      ADD_FAILURE() << "run " << k << " ended by itself with " << code << ":\n" << read_bytes(log);
    }
    resumed += resuming;
    if (fs::exists(out / "last.pt")) ++runs_with_checkpoints;
    expect_checkpoints_load(out, k);
    left = temp_files(out);
    EXPECT_LE(left.size(), 1u) << "temporary files left after kill " << k;
    if (HasFailure()) break;
  }
  // The kills must have hit runs that write checkpoints, not only start-up.
  EXPECT_GE(runs_with_checkpoints, kills / 2);
  EXPECT_GE(resumed, kills / 3);
  if (!left.empty()) {  // the last kill's temporary: one more start removes it
    const pid_t pid = spawn(run_args(config, out), log);
    EXPECT_TRUE(wait_for_text(log, " on cpu: ", 120s)) << read_bytes(log);
    kill(pid, SIGKILL);
    wait_exit(pid);
    for (const fs::path& p : left) EXPECT_FALSE(fs::exists(p)) << p << " not removed";
    ++leftovers;
  }
  std::printf(
      "kills: %d, runs with checkpoints: %d, resumed runs: %d, kills that left a "
      "temporary (removed by the next start): %d\n",
      kills, runs_with_checkpoints, resumed, leftovers);
}

// A tmpfs of `megabytes` at `where`; unmounted at scope exit.
class SmallTmpfs {
 public:
  SmallTmpfs(const fs::path& where, int megabytes) : where_(where) {
    fs::create_directories(where);
    const std::string options = "size=" + std::to_string(megabytes) + "m";
    mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  fs::path where_;
  bool mounted_ = false;
};

// Fills the file system holding `dir` until at most `keep` bytes are free.
void fill_disk(const fs::path& dir, uintmax_t keep) {
  const uintmax_t free_bytes = fs::space(dir).available;
  if (free_bytes <= keep) return;
  std::ofstream filler(dir / "filler", std::ios::binary);
  const std::string chunk(1 << 16, 'x');
  for (uintmax_t left = free_bytes - keep; left > 0;) {
    const uintmax_t n = std::min<uintmax_t>(left, chunk.size());
    filler.write(chunk.data(), static_cast<std::streamsize>(n));
    if (!filler) break;
    left -= n;
  }
}

TEST_F(CheckpointFaults, FullDiskFailsClearlyAndKeepsTheEarlierCheckpoints) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  SmallTmpfs disk(dir_ / "small-disk", 16);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here";
  const fs::path out = dir_ / "small-disk" / "run";
  // Two epochs fit; then the disk fills and the third epoch's checkpoint cannot be written.
  const fs::path two = write_config("two.toml", 2);
  const pid_t first = spawn(run_args(two, out), dir_ / "first.log");
  ASSERT_EQ(wait_exit(first), 0) << read_bytes(dir_ / "first.log");
  ASSERT_TRUE(fs::exists(out / "last.pt"));
  const std::string best = read_bytes(out / "best.pt"), last = read_bytes(out / "last.pt");
  ASSERT_FALSE(last.empty());

  fill_disk(dir_ / "small-disk", last.size() / 4);
  const fs::path four = write_config("four.toml", 4);
  const pid_t second = spawn(run_args(four, out), dir_ / "second.log");
  const int code = wait_exit(second);
  const std::string log = read_bytes(dir_ / "second.log");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_NE(log.find(out.string()), std::string::npos) << "the message names the file:\n" << log;
  EXPECT_EQ(read_bytes(out / "best.pt"), best) << "best.pt changed";
  EXPECT_EQ(read_bytes(out / "last.pt"), last) << "last.pt changed";
  EXPECT_TRUE(temp_files(out).empty()) << temp_files(out).front();
}

}  // namespace

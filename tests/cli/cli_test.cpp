// The `sluice` binary as users run it: exit codes, error messages, profile
// output, and a SIGINT that stops a run within a bounded time.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result run(const std::string& args) {
  return cli_test::run_command(std::string(SLUICE_BINARY) + " " + args);
}

std::string config(const std::string& name) {
  return std::string(SLUICE_SOURCE_DIR) + "/configs/" + name;
}

fs::path temp_file(const std::string& name, const std::string& body) {
  fs::path p = fs::temp_directory_path() / ("sluice_cli_" + std::to_string(getpid()) + "_" + name);
  std::ofstream(p) << body;
  return p;
}

TEST(Cli, HelpAndVersion) {
  Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: sluice COMMAND"), std::string::npos);
  for (const char* c : {"run", "check", "stages", "profile"}) {
    EXPECT_NE(r.out.find(std::string("  ") + c), std::string::npos) << c;
  }
  EXPECT_EQ(run("--version").code, 0);
  Result h = run("run --help");
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("--set"), std::string::npos);
  EXPECT_NE(h.out.find("--trace"), std::string::npos);
  EXPECT_EQ(run("frobnicate").code, 2);
}

TEST(Cli, CheckAcceptsTheShippedConfigs) {
  Result r = run("check " + config("numbers.toml"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
}

TEST(Cli, CheckPrintWritesAResolvedConfigThatRunsTheSame) {
  Result r = run("check " + config("numbers.toml") + " --print --set numbers.count=300");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("ok"), std::string::npos) << "only the TOML goes to stdout";
  EXPECT_EQ(r.out.find("include ="), std::string::npos) << r.out;  // merged, not referenced
  EXPECT_NE(r.out.find("count = 300"), std::string::npos) << r.out;
  fs::path resolved = temp_file("resolved.toml", r.out);
  fs::path json =
      fs::temp_directory_path() / ("sluice_cli_resolved_" + std::to_string(getpid()) + ".json");
  Result again = run("run " + resolved.string() + " --profile " + json.string());
  ASSERT_EQ(again.code, 0) << again.out;
  std::ifstream in(json);
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["stages"][0]["items_out"], 600);  // 300 x 2 epochs
  fs::remove(resolved);
  fs::remove(json);
}

TEST(Cli, ConfigErrorsExitTwoWithPositions) {
  fs::path bad = temp_file(
      "bad.toml",
      "[stages.a]\nuse = \"gen.rang\"\n\n[stages.b]\nuse = \"util.sum\"\ninput = \"x\"\n");
  Result r = run("check " + bad.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(
                bad.string() +
                ":2:7: error: stage 'a': unknown stage type 'gen.rang'; did you mean 'gen.range'?"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(bad.string() + ":6:9: error:"), std::string::npos) << r.out;
  EXPECT_EQ(run("run " + bad.string()).code, 2);
  EXPECT_EQ(run("check /nonexistent/config.toml").code, 2);
  fs::remove(bad);
}

TEST(Cli, RunPrintsProfileAndWritesJson) {
  fs::path json =
      fs::temp_directory_path() / ("sluice_cli_profile_" + std::to_string(getpid()) + ".json");
  Result r =
      run("run " + config("numbers.toml") + " --set numbers.count=500 --profile " + json.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("profile: numbers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<- bottleneck"), std::string::npos) << r.out;
  std::ifstream in(json);
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["stages"][0]["items_out"], 1000);  // 500 x 2 epochs
  fs::remove(json);
}

TEST(Cli, FailingStageExitsOneNamingStageAndItem) {
  fs::path cfg = temp_file("fail.toml", R"([stages.n]
use = "gen.range"
count = 100000
[stages.f]
use = "debug.fail"
input = "n"
at = 1234
message = "corrupt record"
[stages.s]
use = "util.sum"
input = "f"
)");
  Result r = run("run " + cfg.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("stage 'f' failed on item #1234 (Int 1234): corrupt record"),
            std::string::npos)
      << r.out;
  fs::remove(cfg);
}

// A --trace or --profile that cannot be written fails the command (it used to
// log an error, then "trace written to ...", and exit 0).
TEST(Cli, UnwritableTraceOrProfileExitsOne) {
  const std::string run_numbers = "run " + config("numbers.toml") + " --set numbers.count=50 ";
  for (const char* option : {"--trace", "--profile"}) {
    Result r = run(run_numbers + option + " /nonexistent/dir/t.json");
    EXPECT_EQ(r.code, 1) << option << "\n" << r.out;
    EXPECT_NE(r.out.find("write " + std::string(option + 2) + " file '/nonexistent/dir/t.json'"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("written to"), std::string::npos) << r.out;
  }
  fs::path trace =
      fs::temp_directory_path() / ("sluice_cli_trace_" + std::to_string(getpid()) + ".json");
  Result ok = run(run_numbers + "--trace " + trace.string());
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("trace written to " + trace.string()), std::string::npos) << ok.out;
  std::ifstream in(trace);
  EXPECT_EQ(nlohmann::json::parse(in).at("otherData").at("truncated"), false);
  fs::remove(trace);
}

// Option values are checked (against the stage parameters they stand for) before
// anything runs: usage errors exit 2 naming the option. Several used to crash
// (augment --shear nan: exit 139), run for minutes or write garbage.
TEST(Cli, OptionValuesAreCheckedAndNamed) {
  fs::path cfg = temp_file("augment.toml", R"([stages.index]
use = "celeba.index"
root = "/nonexistent"
[stages.decode]
use = "image.decode"
input = "index"
[stages.augment]
use = "image.augment"
input = "decode"
[stages.out]
use = "util.discard"
input = "augment"
)");
  const std::string augment = "augment /nonexistent.jpg --out /tmp/never.png ";
  const std::string numbers = config("numbers.toml");
  const std::pair<std::string, std::string> cases[] = {
      {augment + "--size 60000x60000", "--size width must be in [1, 16384], got 60000"},
      {augment + "--size 224x0", "--size height must be in [1, 16384], got 0"},
      {augment + "--size 16384x16384", "has 268435456 pixels; at most 100000000"},
      {augment + "--size 99999999999x2", "--size width must be in [1, 16384], got 99999999999"},
      {augment + "--size 224", "--size must be WxH"},
      {augment + "--shear nan", "--shear must be a finite number, got nan"},
      {augment + "--shear inf", "--shear must be a finite number, got inf"},
      {augment + "--shear -inf", "--shear must be a finite number, got -inf"},
      {augment + "--shear 1e308", "--shear must be in [-90, 90], got 1e+308"},
      {augment + "--zoom nan,1", "--zoom element 1 must be a finite number, got nan"},
      {augment + "--zoom 1,1e308", "--zoom must be in [0, 10], got 1e+308"},
      {augment + "--cval 300", "--cval must be in [0, 255], got 300"},
      {augment + "--cval nan", "--cval must be a finite number, got nan"},
      {augment + "--rotation nan", "--rotation must be a finite number, got nan"},
      {augment + "--rotation -400", "--rotation must be in [-360, 360], got -400"},
      {augment + "--tx 1e9", "--tx must be in [-16384, 16384], got 1000000000"},
      {augment + "--brightness -1", "--brightness must be in [0, 10] (0: none), got -1"},
      {augment + "--convention 2.8", "--convention must be 2.9 or legacy (got '2.8')"},
      {"preview " + cfg.string() + " --out /tmp/never.png --count -3",
       "--count must be in [1, 1024], got -3"},
      {"preview " + cfg.string() + " --out /tmp/never.png --count 0",
       "--count must be in [1, 1024], got 0"},
      {"run " + numbers + " --threads -1", "--threads must be in [0, 4096], got -1"},
      {"run " + numbers + " --max-in-flight -1", "--max-in-flight must be in [0, 1048576], got -1"},
      {"run " + numbers + " --max-in-flight 1",
       "--max-in-flight must be 0 (the default) or at least 2"},
      {"predict --checkpoint /nonexistent.pt --threshold nan x.jpg",
       "--threshold must be a finite number, got nan"},
      {"predict --checkpoint /nonexistent.pt --threshold 1.5 x.jpg",
       "--threshold must be in [0, 1], got 1.5"},
      {"synth --out /tmp/never --count -1", "--count must be in [0, 100000000], got -1"},
      {"bench data --root /nonexistent --size 60000", "--size width must be in [1, 16384]"},
      {"bench data --root /nonexistent --shear nan", "--shear must be a finite number, got nan"},
      {"check " + cfg.string() + " --set augment.zoom=[nan]",
       "parameter 'zoom' element 1 must be a finite number, got nan"},
      {"check " + cfg.string() + " --set augment.zoom=[0.5,nan]",
       "parameter 'zoom' element 2 must be a finite number, got nan"},
  };
  for (const auto& [args, message] : cases) {
    // A build without LibTorch has no `predict` command.
    if (!SLUICE_WITH_TORCH && std::string(args).rfind("predict", 0) == 0) continue;
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << args << "\n" << r.out;
  }
  fs::remove(cfg);
}

TEST(Cli, SigintStopsARunWithExitCode130) {
  fs::path cfg = temp_file("long.toml", R"([stages.n]
use = "gen.range"
count = 1000000000
[stages.w]
use = "work.sleep"
input = "n"
millis = 1
[stages.s]
use = "util.sum"
input = "w"
)");
  // Wait until the run has started (the "running" log line), so the signal
  // reaches sluice's handler and not a process still loading its libraries.
  int err[2];
  ASSERT_EQ(pipe(err), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(err[1], 2);
    close(err[0]);
    execl(SLUICE_BINARY, SLUICE_BINARY, "run", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(err[1]);
  std::string log;
  char buf[256];
  ssize_t n;
  while (log.find("running '") == std::string::npos && (n = read(err[0], buf, sizeof buf)) > 0) {
    log.append(buf, static_cast<size_t>(n));
  }
  ASSERT_NE(log.find("running '"), std::string::npos) << log;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL() << "sluice did not stop within 10 s of SIGINT";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  close(err[0]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  fs::remove(cfg);
}

TEST(Cli, StagesListsAndDescribes) {
  Result all = run("stages");
  EXPECT_EQ(all.code, 0);
  EXPECT_NE(all.out.find("gen.range"), std::string::npos);
  Result one = run("stages math.scale");
  EXPECT_EQ(one.code, 0);
  EXPECT_NE(one.out.find("factor (integer, default 1)"), std::string::npos) << one.out;
  Result typo = run("stages math.scal");
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.out.find("did you mean 'math.scale'"), std::string::npos) << typo.out;
}

// Lines of `text`, for asserting on what a user sees.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

TEST(Cli, BadCheckpointIsOneLineNamingThePath) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs `sluice predict` (built without LibTorch)";
  const fs::path dir = fs::temp_directory_path() / ("sluice_cli_ckpt_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::pair<const char*, std::string> cases[] = {
      {"garbage.pt", "this is not a checkpoint at all\n"},
      {"truncated.pt", std::string("PK\x03\x04\x14\0\0\0\0\0", 10) + "archive/data.pkl"},
      {"empty.pt", ""}};
  for (const auto& [name, body] : cases) {
    const fs::path bad = dir / name;
    std::ofstream(bad, std::ios::binary) << body;
    Result r = run("predict --checkpoint " + bad.string() + " x.jpg");
    EXPECT_EQ(r.code, 1) << r.out;
    const auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    EXPECT_EQ(lines[0].rfind("sluice predict: cannot read checkpoint " + bad.string() + ": ", 0),
              0u)
        << r.out;
    for (const auto& line : lines) EXPECT_NE(line.rfind("frame #", 0), 0u) << r.out;
  }
  Result d = run("predict --checkpoint " + dir.string() + " x.jpg");
  EXPECT_EQ(d.out, "sluice predict: cannot read checkpoint " + dir.string() +
                       ": the checkpoint is a directory, not a regular file\n");
  fs::remove_all(dir);
}

TEST(Cli, ResumeFromADirectorySaysSo) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs train.vgg (built without LibTorch)";
  const fs::path dir =
      fs::temp_directory_path() / ("sluice_cli_resume_" + std::to_string(getpid()));
  fs::create_directories(dir / "runs");
  std::ofstream(dir / "list.csv") << "path,label\na.jpg,0\n";
  fs::path cfg =
      temp_file("resume.toml",
                "[stages.index]\nuse = \"csv.index\"\nfile = \"" + (dir / "list.csv").string() +
                    "\"\n[stages.decode]\nuse = \"image.decode\"\n"
                    "input = \"index\"\n[stages.augment]\n"
                    "use = \"image.augment\"\ninput = \"decode\"\n"
                    "width = 32\nheight = 32\n[stages.batch]\n"
                    "use = \"image.batch\"\ninput = \"augment\"\n"
                    "batch_size = 2\n[stages.train]\nuse = \"train.vgg\"\n"
                    "input = \"batch\"\nwidth_divisor = 16\n"
                    "device = \"cpu\"\noutput_dir = \"" +
                    (dir / "runs").string() + "\"\nresume = \"" + dir.string() + "\"\n");
  // train.vgg checks its files with the config (exit 2); the path and what it is
  // are named either way.
  for (const char* command : {"check ", "run "}) {
    Result r = run(command + cfg.string());
    EXPECT_EQ(r.code, 2) << command << r.out;
    EXPECT_NE(r.out.find("'" + dir.string() + "' is a directory"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("basic_filebuf"), std::string::npos) << r.out;
  }
  fs::remove_all(dir);
  fs::remove(cfg);
}

TEST(Cli, UnknownImageExtensionIsRefusedBeforeWork) {
  Result r = run("augment missing.jpg --out x.unknownext");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out,
            "sluice augment: cannot write x.unknownext: unknown image extension '.unknownext' "
            "(use .png, .jpg, .bmp)\n");
}

TEST(Cli, ConfigWithoutStagesIsAnError) {
  fs::path empty = temp_file("empty.toml", "");
  fs::path only_settings = temp_file("settings.toml", "[pipeline]\nname = \"nothing\"\n");
  for (const fs::path& cfg : {empty, only_settings}) {
    for (const char* command : {"check ", "run "}) {
      Result r = run(command + cfg.string());
      EXPECT_EQ(r.code, 2) << command << r.out;
      EXPECT_NE(r.out.find(cfg.string() + ": error: the pipeline declares no stages"),
                std::string::npos)
          << r.out;
    }
  }
  fs::remove(empty);
  fs::remove(only_settings);
}

TEST(Cli, ManyUnknownKeysAreReportedInAScreenful) {
  constexpr int kKeys = 200000;
  std::string text = "[stages.n]\nuse = \"gen.range\"\n";
  text.reserve(kKeys * 16);
  for (int i = 0; i < kKeys; ++i) text += "k" + std::to_string(i) + " = 1\n";
  fs::path cfg = temp_file("many_keys.toml", text);
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 102u) << r.out.substr(0, 2000);
  EXPECT_EQ(lines[0], cfg.string() + ":3:1: error: stage 'n' (gen.range): unknown parameter 'k0'");
  EXPECT_EQ(lines[100], "... and 199900 more errors");
  EXPECT_EQ(lines[101], "200000 errors");
  fs::remove(cfg);
}

}  // namespace

namespace {

// A build without LibTorch leaves the training stages out and says so wherever a
// user would look for them; a build with it has them.
TEST(Cli, TrainingStagesArePresentOrTheirAbsenceIsExplained) {
  const Result stages = run("stages");
  ASSERT_EQ(stages.code, 0) << stages.out;
  const bool note = stages.out.find("-DSLUICE_WITH_TORCH=OFF") != std::string::npos;
  const bool listed = stages.out.find("train.vgg  [sink") != std::string::npos;
  EXPECT_EQ(listed, bool(SLUICE_WITH_TORCH)) << stages.out;
  EXPECT_EQ(note, !SLUICE_WITH_TORCH) << stages.out;
  if (SLUICE_WITH_TORCH) return;
  const Result check = run("check " + config("demo.toml"));
  EXPECT_EQ(check.code, 2) << check.out;
  EXPECT_NE(check.out.find("unknown stage type 'train.vgg'"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("note: this sluice was built without LibTorch"), std::string::npos)
      << check.out;
  EXPECT_EQ(run("bench train").code, 2);
}

}  // namespace

namespace {

// Stage types are named family.name; `batch` became `image.batch` and the old name
// still works for one version, with a warning at its position.
TEST(Cli, TheOldBatchNameIsAcceptedWithADeprecationWarning) {
  const fs::path old_name = temp_file("old_batch.toml",
                                      "[stages.numbers]\nuse = \"gen.range\"\n"
                                      "[stages.work]\nuse = \"work.spin\"\ninput = \"numbers\"\n"
                                      "[stages.b]\nuse = \"batch\"\ninput = \"work\"\n"
                                      "[stages.out]\nuse = \"util.discard\"\ninput = \"b\"\n");
  const Result r = run("check " + old_name.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(old_name.string() + ":7:7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stage type 'batch' is now called 'image.batch'"), std::string::npos)
      << r.out;
  const Result listed = run("stages");
  EXPECT_NE(listed.out.find("image.batch  ["), std::string::npos) << listed.out;
  fs::remove(old_name);
}

}  // namespace

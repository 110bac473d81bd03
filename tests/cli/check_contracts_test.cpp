// `sluice check` refuses what `sluice run` would get wrong, at the offending key:
// the stages' own parameter rules (StageSpec::check), the files they read, the
// run folder a training run would write over, and monitor names.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args, const std::string& prefix = "") {
  return cli_test::run_command(prefix + std::string(SLUICE_BINARY) + " " + args);
}

using cli_test::value_position;

class CheckContracts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_contracts_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 12 --seed 1");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // index -> decode -> augment -> batch -> train; `augment` and `train` are extra
  // lines for those stages. Without LibTorch there is no train stage.
  static std::string pipeline(const std::string& augment, const std::string& train,
                              const std::string& index = "") {
    const std::string data =
        "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + (dir_ / "celeba").string() +
        "\"\nsplit = [\"train\", \"validation\"]\n" + index +
        "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
        "\n[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
        "height = 32\n" +
        augment + "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\nbatch_size = 4\n";
    if (!SLUICE_WITH_TORCH) return data;
    return data +
           "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
           "head = \"gap\"\nfreeze = \"none\"\ndevice = \"cpu\"\npatience = 0\n" +
           train;
  }

  // Writes `text` to NAME.toml, runs `sluice check` on it (after `prefix`).
  static Result check(const std::string& name, const std::string& text,
                      const std::string& extra = "", const std::string& prefix = "") {
    file_ = dir_ / (name + ".toml");
    std::ofstream(file_) << text;
    return sluice("check " + file_.string() + " " + extra, prefix);
  }

  // Expects exit 2 and one error at the value of `key` containing `message`.
  static void expect_refused(const Result& r, const std::string& text, const std::string& key,
                             const std::string& message) {
    EXPECT_EQ(r.code, 2) << r.out;
    const std::string where = value_position(file_, text, key) + ": error: ";
    EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << "want " << message << "\n" << r.out;
  }

  static std::string run_dir(const std::string& name) { return (dir_ / name).string(); }

  static fs::path dir_;
  static fs::path file_;
};

fs::path CheckContracts::dir_;
fs::path CheckContracts::file_;

#define SKIP_WITHOUT_TORCH() \
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "built without LibTorch: no train stages"

TEST_F(CheckContracts, TheBaselineIsAccepted) {
  const Result r = check("ok", pipeline("", "output_dir = \"" + run_dir("fresh") + "\"\n"));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(CheckContracts, ZoomRangeMustBeOrdered) {
  const std::string text = pipeline("zoom = [2, 1]\n", "output_dir = \"" + run_dir("z") + "\"\n");
  expect_refused(check("zoom", text), text, "zoom",
                 "zoom: the pair [lo, hi] must satisfy 0 < lo <= hi <= 10");
}

TEST_F(CheckContracts, RescaleAndNormalizeExcludeEachOther) {
  const std::string text = pipeline("normalize = \"imagenet\"\nrescale = 0.5\n",
                                    "output_dir = \"" + run_dir("r") + "\"\n");
  expect_refused(check("rescale", text), text, "rescale",
                 "rescale: use either rescale or normalize");
}

TEST_F(CheckContracts, FreezeUntilNeedsTheLayer) {
  SKIP_WITHOUT_TORCH();
  std::string text = pipeline("", "output_dir = \"" + run_dir("f") + "\"\n");
  text.replace(text.find("freeze = \"none\""), 15, "freeze = \"until\"");
  expect_refused(check("freeze", text), text, "freeze",
                 "freeze = \"until\" needs freeze_until, e.g. \"features.23\"");
}

TEST_F(CheckContracts, IndexRootMustBeAFolder) {
  std::string text = pipeline("", "output_dir = \"" + run_dir("i") + "\"\n");
  text.replace(text.find((dir_ / "celeba").string()), (dir_ / "celeba").string().size(),
               (dir_ / "no-such-celeba").string());
  expect_refused(
      check("root", text), text, "root",
      "root: " + (dir_ / "no-such-celeba").string() + ": dataset root is not a directory");
}

TEST_F(CheckContracts, LabelMustBeAColumnOfTheAttributeFile) {
  const std::string text =
      pipeline("", "output_dir = \"" + run_dir("l") + "\"\n", "label = \"Mael\"\n");
  expect_refused(check("label", text), text, "label",
                 "label: " + (dir_ / "celeba" / "list_attr_celeba.csv").string() +
                     ":1: unknown label attribute 'Mael' (did you mean 'Male'?)");
}

TEST_F(CheckContracts, SplitsAndShardsMustExist) {
  std::string text = pipeline("", "output_dir = \"" + run_dir("s") + "\"\n");
  text.replace(text.find("split = [\"train\", \"validation\"]"), 31,
               "split = [\"train\", \"tset\"]");
  expect_refused(check("split", text), text, "split",
                 "split: unknown split 'tset' (expected train, validation, test or all)");
  text =
      pipeline("", "output_dir = \"" + run_dir("s") + "\"\n", "shard_rank = 2\nshard_count = 2\n");
  expect_refused(check("shard", text), text, "shard_rank",
                 "shard_rank 2 must be below shard_count 2");
}

TEST_F(CheckContracts, WeightsAndResumeFilesMustExist) {
  SKIP_WITHOUT_TORCH();
  const std::string missing = (dir_ / "missing.pt").string();
  std::string text =
      pipeline("", "output_dir = \"" + run_dir("w") + "\"\nweights = \"" + missing + "\"\n");
  expect_refused(check("weights", text), text, "weights",
                 "weights: no such file '" + missing + "'");
  text = pipeline("", "output_dir = \"" + run_dir("w") + "\"\nresume = \"" + missing + "\"\n");
  expect_refused(check("resume", text), text, "resume", "resume: no such file '" + missing + "'");
}

TEST_F(CheckContracts, AFifoIsRefusedWithoutOpeningIt) {
  // Opening a FIFO blocks until a writer comes: the checks only stat.
  const fs::path fifo = dir_ / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string text =
      "[stages.index]\nuse = \"csv.index\"\nfile = \"" + fifo.string() + "\"\n";
  expect_refused(
      check("fifo", text, "", "timeout 60 "), text, "file",
      "file: " + fifo.string() + ": the index file is a FIFO (named pipe), not a regular file");
  if (!SLUICE_WITH_TORCH) return;
  const std::string train =
      pipeline("", "output_dir = \"" + run_dir("p") + "\"\nweights = \"" + fifo.string() + "\"\n");
  expect_refused(check("fifo_weights", train, "", "timeout 60 "), train, "weights",
                 "weights: '" + fifo.string() + "' is a FIFO (named pipe), not a regular file");
}

TEST_F(CheckContracts, EvaluationCheckpointMustExist) {
  SKIP_WITHOUT_TORCH();
  const std::string missing = (dir_ / "gone" / "best.pt").string();
  std::string text = pipeline("", "output_dir = \"" + run_dir("e") + "\"\n");
  text = text.substr(0, text.find("[stages.train]")) +
         "[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" +
         missing + "\"\n";
  expect_refused(check("checkpoint", text), text, "checkpoint",
                 "checkpoint: no such file '" + missing + "'");
}

TEST_F(CheckContracts, AFreshRunIntoAFolderHoldingARunIsRefused) {
  SKIP_WITHOUT_TORCH();
  const std::string out = run_dir("taken");
  fs::create_directories(out);
  for (const char* f : {"best.pt", "last.pt", "metrics.csv"})
    std::ofstream(fs::path(out) / f) << "x";
  const std::string text = pipeline("", "output_dir = \"" + out + "\"\n");
  const Result r = check("taken", text);
  expect_refused(r, text, "output_dir",
                 "output_dir '" + out + "' already holds a run (best.pt, last.pt, metrics.csv)");
  EXPECT_NE(r.out.find("resume = \"" + out + "/last.pt\" (--set train.resume=" + out + "/last.pt)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("overwrite = true (--set train.overwrite=true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--set train.output_dir=" + out + "-2)"), std::string::npos) << r.out;
  // The two ways out, and a new folder.
  EXPECT_EQ(sluice("check " + file_.string() + " --set train.resume=" + out + "/last.pt").code, 0);
  EXPECT_EQ(sluice("check " + file_.string() + " --set train.overwrite=true").code, 0);
  EXPECT_EQ(sluice("check " + file_.string() + " --set train.output_dir=" + out + "-2").code, 0);
  // Resuming a checkpoint of another folder does not make this one free.
  const Result other = sluice("check " + file_.string() + " --set train.resume=" + file_.string());
  EXPECT_EQ(other.code, 2) << other.out;
  const Result both = sluice("check " + file_.string() + " --set train.overwrite=true --set " +
                             "train.resume=" + out + "/last.pt");
  EXPECT_EQ(both.code, 2) << both.out;
  EXPECT_NE(both.out.find("overwrite = true would remove the run that resume continues"),
            std::string::npos)
      << both.out;
}

TEST_F(CheckContracts, MonitorAcceptsTheNamesTheLogsPrint) {
  SKIP_WITHOUT_TORCH();
  const std::string base = pipeline("", "output_dir = \"" + run_dir("m") + "\"\n");
  // The epoch line prints val_accuracy (earlier versions: val_acc); metrics.csv has
  // val_precision and val_recall.
  for (const char* name : {"val_accuracy", "val_acc", "acc", "val_precision", "val_recall"}) {
    const Result r = check("monitor", base + "monitor = \"" + name + "\"\n");
    EXPECT_EQ(r.code, 0) << name << ": " << r.out;
  }
  const std::string text = base + "monitor = \"val_accuracyy\"\n";
  expect_refused(check("monitor", text), text, "monitor",
                 "got 'val_accuracyy'; did you mean 'val_accuracy'");
}

TEST_F(CheckContracts, ClassNamesAreTwoAndNameTheLabel) {
  const std::string out = "output_dir = \"" + run_dir("c") + "\"\n";
  Result r = check("names", pipeline("", out, "label = \"Smiling\"\n"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: binary \"Smiling\" (not Smiling/Smiling)"), std::string::npos)
      << r.out;
  r = check("names",
            pipeline("", out, "label = \"Smiling\"\nclass_names = [\"stern\", \"grin\"]\n"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: binary \"Smiling\" (stern/grin)"), std::string::npos) << r.out;
  const std::string text = pipeline("", out, "class_names = [\"grin\"]\n");
  expect_refused(check("names", text), text, "class_names",
                 "class_names: give two different names, of label 0 then label 1");
}

}  // namespace

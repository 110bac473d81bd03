// Runs never overwrite each other: the output_dir rule, overwrite's removal of a
// run's files (and nothing else), and the recorded config that cannot empty its run.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "stages/train/run_dir.h"

namespace sluice::train {
namespace {

namespace fs = std::filesystem;

class RunDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_run_dir_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void touch(const std::string& name) { std::ofstream(dir_ / name) << "x"; }
  RunDirRequest request(std::string resume = {}, bool overwrite = false) const {
    return {"train", dir_.string(), std::move(resume), overwrite};
  }
  fs::path dir_;
};

TEST_F(RunDir, AnEmptyOrNewFolderIsFree) {
  EXPECT_EQ(output_dir_conflict(request()), "");
  EXPECT_EQ(output_dir_conflict({"train", (dir_ / "new").string(), "", false}), "");
}

TEST_F(RunDir, AFolderHoldingARunIsRefusedNamingItsFilesAndTheWaysOut) {
  touch("last.pt");
  touch("metrics.csv");
  const std::string d = dir_.string();
  EXPECT_EQ(output_dir_conflict(request()),
            "output_dir '" + d + "' already holds a run (last.pt, metrics.csv); a run never " +
                "writes over another: continue it with resume = \"" + d + "/last.pt\" (--set " +
                "train.resume=" + d + "/last.pt), replace it with overwrite = true (--set " +
                "train.overwrite=true; removes only the files a run writes), or pick a new " +
                "folder (--set train.output_dir=" + d + "-2)");
  EXPECT_EQ(output_dir_conflict(request(d + "/last.pt")), "");
  EXPECT_EQ(output_dir_conflict(request(d + "/../" + dir_.filename().string() + "/last.pt")), "");
  EXPECT_EQ(output_dir_conflict(request("", true)), "");
  EXPECT_NE(output_dir_conflict(request("/elsewhere/last.pt")), "");
}

TEST_F(RunDir, AnyOtherFileMakesTheFolderTakenToo) {
  touch("notes.txt");
  const std::string why = output_dir_conflict(request());
  EXPECT_NE(why.find("is not empty (notes.txt)"), std::string::npos) << why;
  EXPECT_EQ(why.find("resume ="), std::string::npos) << "no last.pt to continue: " << why;
}

TEST_F(RunDir, OverwriteRemovesOnlyTheFilesARunWrites) {
  for (const char* f : {"best.pt", "last.pt", "metrics.csv", "metrics.jsonl", "config.toml",
                        "last.pt.tmp.Ab12Cd", "eval.json", "notes.txt", "last.pt.bak"}) {
    touch(f);
  }
  EXPECT_EQ(remove_run_files(dir_.string()),
            (std::vector<std::string>{"best.pt", "config.toml", "last.pt", "last.pt.tmp.Ab12Cd",
                                      "metrics.csv", "metrics.jsonl"}));
  EXPECT_EQ(folder_entries(dir_.string()),
            (std::vector<std::string>{"eval.json", "last.pt.bak", "notes.txt"}));
}

// overwrite = true removes links planted at a run file's name (else the run's
// appends and renames would meet them); their targets stay.
TEST_F(RunDir, OverwriteRemovesLinksPlantedAtRunFileNames) {
  const fs::path victim = dir_.parent_path() / ("victim_" + std::to_string(::getpid()));
  std::ofstream(victim) << "victim";
  fs::create_symlink(victim, dir_ / "metrics.jsonl");
  fs::create_symlink(dir_.parent_path() / "nowhere", dir_ / "last.pt");
  EXPECT_EQ(remove_run_files(dir_.string()),
            (std::vector<std::string>{"last.pt", "metrics.jsonl"}));
  EXPECT_TRUE(folder_entries(dir_.string()).empty());
  std::ifstream in(victim);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "victim");
  fs::remove(victim);
}

TEST(RecordedConfig, NeverCarriesOverwrite) {
  const std::string resolved =
      "[pipeline]\nseed = 1\n\n[stages.other]\nuse = \"x\"\noverwrite = true\n\n"
      "[stages.train]\nuse = \"train.vgg\"\noutput_dir = \"runs/x\"\noverwrite = true\n";
  const std::string recorded = recorded_config(resolved, "train");
  EXPECT_NE(recorded.find("[stages.other]\nuse = \"x\"\noverwrite = true\n"), std::string::npos)
      << recorded;
  EXPECT_NE(recorded.find("output_dir = \"runs/x\"\noverwrite = false"), std::string::npos)
      << recorded;
  EXPECT_EQ(recorded_config("[stages.train]\noverwrite = false\n", "train"),
            kWorkingDirectoryComment + fs::current_path().string() +
                "\n[stages.train]\noverwrite = false\n");
}

// Relative paths in a recorded config (root = "data/celeba") are relative to the
// folder the run was started from, which its first line names.
TEST(RecordedConfig, NamesTheWorkingDirectoryFirst) {
  const std::string recorded =
      recorded_config("# Resolved from x.toml\n[stages.index]\nroot = \"data\"\n", "train");
  EXPECT_EQ(recorded.rfind("# Working directory: " + fs::current_path().string() + "\n", 0), 0u)
      << recorded;
  EXPECT_NE(recorded.find("\n# Resolved from x.toml\n[stages.index]\nroot = \"data\"\n"),
            std::string::npos)
      << recorded;
}

}  // namespace
}  // namespace sluice::train

// dir.index with split folders in a graph: one source emitting train then
// validation each epoch, its spec at check time, and its config mistakes as
// located errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "pipeline/diagnostics.h"
#include "pipeline/registry.h"
#include "pipeline/testing/stage_harness.h"
#include "pipeline/validate.h"
#include "stages/builtin.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

// ROOT/train/{ants,bees}/ with 8 images, ROOT/validation/bees/ with 2: ants is
// a class only train has.
class DirSplitStage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() /
                         ("sluice_dir_split_stage_" + std::to_string(::getpid())));
    for (const char* name :
         {"train/ants/a0.jpg", "train/ants/a1.jpg", "train/ants/a2.jpg", "train/bees/b0.jpg",
          "train/bees/b1.jpg", "train/bees/b2.jpg", "train/bees/b3.jpg", "train/bees/b4.jpg",
          "validation/bees/v0.jpg", "validation/bees/v1.jpg"}) {
      fs::create_directories((*root_ / name).parent_path());
      std::ofstream(*root_ / name) << "x";
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static std::string root() { return root_->string(); }
  static std::string stage(const std::string& extra) {
    return "use = \"dir.index\"\nroot = \"" + root() + "\"\n" + extra;
  }
  // The formatted errors validation finds in a one-stage config.
  static std::string check_errors(const std::string& toml) {
    Registry reg;
    register_builtin_stages(reg);
    try {
      load_pipeline_string("[stages.index]\n" + toml, "cfg.toml", {}, reg);
    } catch (const ConfigError& e) {
      std::string out;
      for (const Diagnostic& d : e.diagnostics()) out += format_diagnostic(d) + "\n";
      return out;
    }
    return {};
  }
  static fs::path* root_;
};
fs::path* DirSplitStage::root_ = nullptr;

// "split label name" of a Sample, "marker:split:epoch" of a marker.
std::string describe(const Packet& p) {
  if (p.is_control) {
    const Control& c = p.as_control();
    return std::string(control_kind_name(c.kind)) + ":" + c.split + ":" + std::to_string(c.epoch);
  }
  const Sample& s = payload_as<Sample>(p.value);
  return s.split + " " + std::to_string(s.label) + " " + fs::path(s.path).filename().string();
}

TEST_F(DirSplitStage, EachEpochEmitsTheShuffledTrainFolderThenTheValidationFolder) {
  Registry reg;
  register_builtin_stages(reg);
  StageHarness h(reg, stage("split = [\"train\", \"validation\"]\nepochs = 2\nseed = 3"));
  const HarnessOutput out = h.run();
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  std::vector<std::string> got;
  for (const Packet& p : out.packets) got.push_back(describe(p));
  ASSERT_EQ(got.size(), 2u * (8 + 1 + 2 + 1 + 1)) << ::testing::PrintToString(got);
  const std::set<std::string> train = {"train 0 a0.jpg", "train 0 a1.jpg", "train 0 a2.jpg",
                                       "train 1 b0.jpg", "train 1 b1.jpg", "train 1 b2.jpg",
                                       "train 1 b3.jpg", "train 1 b4.jpg"};
  std::vector<std::vector<std::string>> train_orders;
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto at = got.begin() + epoch * 13;
    const std::vector<std::string> train_part(at, at + 8);
    EXPECT_EQ(std::set<std::string>(train_part.begin(), train_part.end()), train) << epoch;
    train_orders.push_back(train_part);
    const std::string e = std::to_string(epoch);
    // bees is class 1 in validation too, although validation has no ants.
    EXPECT_EQ(std::vector<std::string>(at + 8, at + 13),
              (std::vector<std::string>{"end of split:train:" + e, "validation 1 v0.jpg",
                                        "validation 1 v1.jpg", "end of split:validation:" + e,
                                        "end of epoch::" + e}));
  }
  // The train split is shuffled by (seed, epoch), as with class folders.
  EXPECT_NE(train_orders[0], train_orders[1]);
  EXPECT_NE(train_orders[0], std::vector<std::string>(train.begin(), train.end()));
}

TEST_F(DirSplitStage, LimitAndShardsApplyToEachSplit) {
  Registry reg;
  register_builtin_stages(reg);
  StageHarness limited(reg, stage("split = [\"validation\", \"train\"]\nlimit = 1\n"
                                  "shuffle = false"));
  std::vector<std::string> got;
  for (const Packet& p : limited.run().packets) got.push_back(describe(p));
  EXPECT_EQ(
      got, (std::vector<std::string>{"validation 1 v0.jpg", "end of split:validation:0",
                                     "train 0 a0.jpg", "end of split:train:0", "end of epoch::0"}));
  // Shard 1 of 2: every other validation image; train is padded to equal shards.
  StageHarness shard(reg, stage("split = [\"train\", \"validation\"]\nshuffle = false\n"
                                "shard_rank = 1\nshard_count = 2"));
  got.clear();
  for (const Packet& p : shard.run().packets) got.push_back(describe(p));
  EXPECT_EQ(got, (std::vector<std::string>{"train 0 a1.jpg", "train 1 b0.jpg", "train 1 b2.jpg",
                                           "train 1 b4.jpg", "end of split:train:0",
                                           "validation 1 v1.jpg", "end of split:validation:0",
                                           "end of epoch::0"}));
}

TEST_F(DirSplitStage, SpecListsTheClassesOfEverySplitFolderAndTheSplits) {
  Registry reg;
  register_builtin_stages(reg);
  const ValidatedGraph g = load_pipeline_string(
      "[stages.index]\n" + stage("split = [\"validation\"]\nepochs = 3"), "cfg.toml", {}, reg);
  const ElementSpec& spec = g.find("index")->output_spec;
  ASSERT_TRUE(spec.label.has_value());
  // Reading validation alone, the classes are still ants and bees.
  EXPECT_EQ(spec.label->names, (std::vector<std::string>{"ants", "bees"}));
  EXPECT_EQ(spec.splits, std::vector<std::string>{"validation"});
  EXPECT_EQ(spec.to_string(), "Sample{label: binary \"bees\" (ants/bees)} [3 epochs: validation]");
}

TEST_F(DirSplitStage, SplitMistakesAreErrorsAtTheKey) {
  const std::string where = "cfg.toml:4:9: error: stage 'index' (dir.index): ";
  EXPECT_EQ(check_errors(stage("split = [\"train\", \"test\"]")),
            where + "split: " + root() + "/test: no such split folder (" + root() +
                " holds train, validation)\n");
  EXPECT_EQ(check_errors(stage("split = [\"train\", \"val\", \"validation\"]")),
            where + "split: 'val' and 'validation' both name the validation split; name it once\n");
  EXPECT_NE(
      check_errors(stage("split = []")).find(where + "parameter 'split' must have at least 1"),
      std::string::npos)
      << check_errors(stage("split = []"));
  EXPECT_NE(check_errors(stage("split = [\"train\", \"holdout\"]"))
                .find(where + "parameter 'split' must be one of 'train', 'validation', 'val', "
                              "'valid', 'test', got 'holdout'"),
            std::string::npos)
      << check_errors(stage("split = [\"train\", \"holdout\"]"));
  EXPECT_NE(check_errors(stage("layout = \"class_folders\"\nsplit = [\"train\", \"validation\"]"))
                .find("cfg.toml:5:9: error: stage 'index' (dir.index): split: names 2 splits but "
                      "layout = \"class_folders\" gives every sample one split"),
            std::string::npos);
  EXPECT_EQ(check_errors(stage("split = \"validation\"")), "");  // one string is a list of one
}

// ROOT/{cats,dogs}/ with five images each, cut by validation_split.
class DirValidationSplitStage : public DirSplitStage {
 protected:
  static void SetUpTestSuite() {
    flat_ = new fs::path(fs::temp_directory_path() /
                         ("sluice_dir_valsplit_stage_" + std::to_string(::getpid())));
    for (const char* name :
         {"cats/c0.jpg", "cats/c1.jpg", "cats/c2.jpg", "cats/c3.jpg", "cats/c4.jpg", "dogs/d0.jpg",
          "dogs/d1.jpg", "dogs/d2.jpg", "dogs/d3.jpg", "dogs/d4.jpg"}) {
      fs::create_directories((*flat_ / name).parent_path());
      std::ofstream(*flat_ / name) << "x";
    }
    DirSplitStage::SetUpTestSuite();
  }
  static void TearDownTestSuite() {
    fs::remove_all(*flat_);
    delete flat_;
    DirSplitStage::TearDownTestSuite();
  }
  static std::string flat(const std::string& extra) {
    return "use = \"dir.index\"\nroot = \"" + flat_->string() + "\"\n" + extra;
  }
  // The filenames of each split over every epoch, run with `threads` threads.
  static std::vector<std::set<std::string>> run_splits(const std::string& extra, int threads) {
    Registry reg;
    register_builtin_stages(reg);
    RunOptions options;
    options.threads = threads;
    StageHarness h(reg, flat(extra), options);
    const HarnessOutput out = h.run();
    EXPECT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
    std::vector<std::set<std::string>> splits(1);
    for (const Packet& p : out.packets) {
      if (p.is_control) {
        if (p.as_control().kind == ControlKind::kEndOfSplit) splits.emplace_back();
      } else {
        splits.back().insert(describe(p));
      }
    }
    splits.pop_back();  // after the last end of split
    return splits;
  }
  static fs::path* flat_;
};
fs::path* DirValidationSplitStage::flat_ = nullptr;

TEST_F(DirValidationSplitStage, EveryEpochEmitsTheSameDisjointTrainAndValidationFiles) {
  const std::string config =
      "validation_split = 0.25\nsplit = [\"train\", \"validation\"]\nepochs = 3\nseed = 5";
  const auto one = run_splits(config, 1);
  ASSERT_EQ(one.size(), 6u);  // train, validation, three times
  std::set<std::string> files;
  for (const std::string& s : one[0]) files.insert(s.substr(s.rfind(' ') + 1));
  for (const std::string& s : one[1]) {
    EXPECT_EQ(s.rfind("validation ", 0), 0u) << s;
    EXPECT_TRUE(files.insert(s.substr(s.rfind(' ') + 1)).second) << s << " is in both splits";
  }
  EXPECT_EQ(one[0].size(), 8u);
  EXPECT_EQ(one[1].size(), 2u);  // int(0.25 * 10)
  EXPECT_EQ(files.size(), 10u);
  for (size_t i = 2; i < one.size(); ++i) EXPECT_EQ(one[i], one[i % 2]) << "epoch " << i / 2;
  // Neither the thread count nor the shuffle seed moves a file between splits.
  EXPECT_EQ(run_splits(config, 4), one);
  EXPECT_EQ(run_splits("validation_split = 0.25\nsplit = [\"train\", \"validation\"]\n"
                       "epochs = 3\nseed = 6",
                       2),
            one);
}

TEST_F(DirValidationSplitStage, SpecShowsBothSplitsAndMistakesAreErrorsAtTheKey) {
  Registry reg;
  register_builtin_stages(reg);
  const ValidatedGraph g = load_pipeline_string(
      "[stages.index]\n" +
          flat("validation_split = 0.2\nsplit = [\"train\", \"validation\"]\nepochs = 4"),
      "cfg.toml", {}, reg);
  EXPECT_EQ(g.find("index")->output_spec.to_string(),
            "Sample{label: binary \"dogs\" (cats/dogs)} [4 epochs: train, validation]");
  // The fixture's other root holds train/ and validation/ split folders.
  EXPECT_EQ(check_errors(stage("validation_split = 0.2\nsplit = [\"train\", \"validation\"]")),
            "cfg.toml:4:20: error: stage 'index' (dir.index): validation_split: " + root() +
                ": holds split folders (train, validation), which already make the splits; "
                "remove validation_split to read them, or set root to the folder of class "
                "folders to cut (layout = \"class_folders\" reads these folders as classes)\n");
  EXPECT_NE(check_errors(flat("validation_split = 1.0")).find("validation_split: must be below 1"),
            std::string::npos);
}

// csv.index without a split column takes the same validation_split.
class CsvValidationSplitStage : public DirValidationSplitStage {
 protected:
  static std::string csv(const std::string& extra) {
    const fs::path file = *flat_ / "list.csv";
    if (!fs::exists(file)) {
      std::ofstream out(file);
      out << "path,label,part\n";
      for (int i = 0; i < 10; ++i) out << "img" << i << ".jpg," << i % 2 << ",train\n";
    }
    return "use = \"csv.index\"\nfile = \"" + file.string() + "\"\n" + extra;
  }
  static std::vector<std::set<std::string>> run_csv(const std::string& extra, int threads) {
    Registry reg;
    register_builtin_stages(reg);
    RunOptions options;
    options.threads = threads;
    StageHarness h(reg, csv(extra), options);
    const HarnessOutput out = h.run();
    EXPECT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
    std::vector<std::set<std::string>> splits(1);
    for (const Packet& p : out.packets) {
      if (!p.is_control) {
        splits.back().insert(describe(p));
      } else if (p.as_control().kind == ControlKind::kEndOfSplit) {
        splits.emplace_back();
      }
    }
    splits.pop_back();
    return splits;
  }
};

TEST_F(CsvValidationSplitStage, RowsAreCutIntoDisjointTrainAndValidation) {
  const auto one = run_csv("validation_split = 0.25\nepochs = 2", 1);
  ASSERT_EQ(one.size(), 4u);  // train then validation (the default), twice
  EXPECT_EQ(one[0].size(), 8u);
  EXPECT_EQ(one[1].size(), 2u);
  std::set<std::string> files;
  for (const auto& split : {one[0], one[1]}) {
    for (const std::string& s : split) files.insert(s.substr(s.rfind(' ') + 1));
  }
  EXPECT_EQ(files.size(), 10u);  // disjoint and complete
  for (const std::string& s : one[1]) EXPECT_EQ(s.rfind("validation ", 0), 0u) << s;
  EXPECT_EQ(one[2], one[0]);
  EXPECT_EQ(one[3], one[1]);
  EXPECT_EQ(run_csv("validation_split = 0.25\nepochs = 2", 4), one);
  EXPECT_EQ(run_csv("validation_split = 0.25\nsplit = \"validation\"", 2).front(), one[1]);
}

TEST_F(CsvValidationSplitStage, SpecShowsBothSplitsAndASplitColumnIsRefused) {
  Registry reg;
  register_builtin_stages(reg);
  const ValidatedGraph g = load_pipeline_string(
      "[stages.index]\n" + csv("validation_split = 0.2\nepochs = 2"), "cfg.toml", {}, reg);
  EXPECT_EQ(g.find("index")->output_spec.to_string(),
            "Sample{label: binary \"label\" (0/1)} [2 epochs: train, validation]");
  EXPECT_EQ(check_errors(csv("split_column = \"part\"\nvalidation_split = 0.2")),
            "cfg.toml:5:20: error: stage 'index' (csv.index): validation_split: split_column "
            "'part' already names each row's split; remove one of the two\n");
}

}  // namespace
}  // namespace sluice

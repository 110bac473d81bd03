// `sluice check` and element specs on the shipped configs and a synthetic
// CelebA: the spec of every edge is printed, and contracts between stages
// (label kinds, label columns, the trained image size, one source of epochs)
// are FILE:LINE:COL errors with exit code 2 before anything runs.
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
using cli_test::set_string;

using cli_test::Result;
using cli_test::run_command;

Result run(const std::string& args) { return run_command(std::string(SLUICE_BINARY) + " " + args); }

Result run_with_timeout(const std::string& args) {
  return run_command("timeout 60 " + std::string(SLUICE_BINARY) + " " + args);
}

std::string config(const std::string& name) {
  return std::string(SLUICE_SOURCE_DIR) + "/configs/" + name;
}

// --set STAGE.KEY="VALUE" (a TOML string), quoted for the shell.
class SpecCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("sluice_spec_cli_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    Result r = run("synth --out " + celeba() + " --count 40");
    ASSERT_EQ(r.code, 0) << r.out;
    // The shards a shard.index config reads: the prep config run on those faces.
    r = run("run " + config("celeba-prep.toml") + set_string("index.root", celeba()) +
            set_string("write.prefix", (*dir_ / "shards" / "celeba-{split}").string()));
    ASSERT_EQ(r.code, 0) << r.out;
    // Keras' two folder trees; `check` reads the folders only, not the images.
    for (const char* name : {"train/cats/c0.jpg", "train/dogs/d0.jpg", "validation/cats/c1.jpg",
                             "validation/dogs/d1.jpg"}) {
      fs::create_directories((*dir_ / "folders" / name).parent_path());
      std::ofstream(*dir_ / "folders" / name) << "x";
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string celeba() { return (*dir_ / "celeba").string(); }
  static std::string folders() { return (*dir_ / "folders").string(); }
  static fs::path write(const std::string& name, const std::string& body) {
    fs::path p = *dir_ / name;
    std::ofstream(p) << body;
    return p;
  }
  static fs::path* dir_;
};
fs::path* SpecCli::dir_ = nullptr;

TEST_F(SpecCli, CheckPrintsTheSpecOfEveryEdgeOfTheDemo) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  Result r = run("check " + config("demo.toml") + set_string("index.root", celeba()));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(": ok"), std::string::npos) << r.out;
  const std::string stream = " [14 epochs: train, validation]";
  const std::string label = "label: binary \"Male\" (Female/Male), attributes: 2}";
  for (const std::string& edge :
       {"index -> decode: Sample{" + label + stream,
        "decode -> augment: Image{variable size x3 uint8, " + label + stream,
        "augment -> batch: Image{80x64x3 uint8->rescale 1/255, " + label + stream,
        "batch -> train: Batch{32 x 80x64x3 uint8->rescale 1/255, " + label + stream}) {
    EXPECT_NE(r.out.find("\n  " + edge + "\n"), std::string::npos) << edge << "\n" << r.out;
  }
}

TEST_F(SpecCli, EveryShippedConfigChecksOnASyntheticDataset) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  int checked = 0;
  for (const auto& e : fs::directory_iterator(std::string(SLUICE_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    std::ifstream in(e.path());
    const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const bool has_index = body.find("[stages.index]") != std::string::npos;
    const bool has_folders = body.find("use = \"dir.index\"") != std::string::npos;
    const bool has_weights = body.find("weights = \"") != std::string::npos;
    // A CSV index reads the synthetic CelebA's hair_colour.csv (sluice synth writes it).
    const bool has_csv = body.find("use = \"csv.index\"") != std::string::npos;
    const bool has_shards = body.find("use = \"shard.index\"") != std::string::npos;
    const std::string index =
        !has_index   ? std::string()
        : has_csv    ? set_string("index.file", celeba() + "/hair_colour.csv")
        : has_shards ? set_string("index.manifest", (*dir_ / "shards" / "manifest.json").string())
                     : set_string("index.root", has_folders ? folders() : celeba());
    Result r = run("check " + e.path().string() + index +
                   (has_weights ? set_string("train.weights", "") : std::string()));
    // An evaluation config names the checkpoint a training run writes; with no such
    // run here, that missing file must be its only error.
    if (r.code == 2 && r.out.find("checkpoint: no such file") != std::string::npos) {
      size_t errors = 0;
      for (size_t at = r.out.find(": error: "); at != std::string::npos;
           at = r.out.find(": error: ", at + 1))
        ++errors;
      EXPECT_EQ(errors, 1u) << e.path() << "\n" << r.out;
      ++checked;
      continue;
    }
    EXPECT_EQ(r.code, 0) << e.path() << "\n" << r.out;
    EXPECT_NE(r.out.find("element specs"), std::string::npos) << r.out;
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST_F(SpecCli, MissingDatasetRootIsALocatedError) {
  fs::path cfg = write("missing.toml", "[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
                                           (*dir_ / "nowhere").string() + "\"\n");
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(cfg.string() + ":3:8: error: stage 'index' (celeba.index): root: " +
                       (*dir_ / "nowhere").string() + ": dataset root is not a directory"),
            std::string::npos)
      << r.out;
}

TEST_F(SpecCli, IndexThatIsAFifoIsRefusedWithoutOpeningIt) {
  const fs::path fifo = *dir_ / "list.csv";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  fs::path cfg =
      write("fifo.toml", "[stages.index]\nuse = \"csv.index\"\nfile = \"" + fifo.string() + "\"\n");
  // Opening a FIFO for reading blocks until a writer comes: `timeout` turns a
  // hang into exit code 124.
  Result r = run_with_timeout("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(
      r.out.find(cfg.string() + ":3:8: error: stage 'index' (csv.index): file: " + fifo.string() +
                 ": the index file is a FIFO (named pipe), not a regular file"),
      std::string::npos)
      << r.out;
}

TEST_F(SpecCli, LabelThatIsNotAColumnNamesTheFileAndCloseMatches) {
  fs::path cfg = write("mael.toml", "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
                                        "\"\nlabel = \"Mael\"\n");
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(
      r.out.find(cfg.string() + ":4:9: error: stage 'index' (celeba.index): label: " + celeba() +
                 "/list_attr_celeba.csv:1: unknown label attribute 'Mael' (did you mean "
                 "'Male'?)"),
      std::string::npos)
      << r.out;
}

TEST_F(SpecCli, OneClassCsvIntoTrainVggIsRefusedAtTheTrainStage) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  fs::path csv = write("three.csv", "path,label\na.jpg,0\nb.jpg,1\nc.jpg,2\nd.jpg,1\n");
  fs::path cfg = write("three.toml", R"([stages.index]
use = "csv.index"
file = ")" + csv.string() + R"("

[stages.decode]
use = "image.decode"
input = "index"

[stages.augment]
use = "image.augment"
input = "decode"
width = 32
height = 32

[stages.batch]
use = "image.batch"
input = "augment"

[stages.train]
use = "train.vgg"
input = "batch"
monitor = "loss"  # the CSV has no split column: no validation split to watch
)");
  // Three classes: a categorical label, which train.vgg learns with three outputs.
  Result three = run("check " + cfg.string());
  EXPECT_EQ(three.code, 0) << three.out;
  EXPECT_NE(three.out.find("label: categorical with 3 classes (0, 1, 2)"), std::string::npos)
      << three.out;
  // One class is nothing to classify.
  write("three.csv", "path,label\na.jpg,0\nb.jpg,0\n");
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(cfg.string() + ":19:1: error: stage 'train' (train.vgg): input label is "
                                      "categorical with 1 class (0): a classifier needs at least "
                                      "two classes"),
            std::string::npos)
      << r.out;
  // Two classes are a binary label: the same graph checks.
  write("three.csv", "path,label\na.jpg,0\nb.jpg,1\n");
  Result two = run("check " + cfg.string());
  EXPECT_EQ(two.code, 0) << two.out;
  EXPECT_NE(two.out.find("label: binary \"label\" (0/1)"), std::string::npos) << two.out;
}

TEST_F(SpecCli, TwoSourcesOfEpochsMergedIntoTrainAreRefused) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  fs::path cfg = write("fan_in.toml", R"([stages.train_index]
use = "celeba.index"
root = ")" + celeba() + R"("
split = ["train"]

[stages.val_index]
use = "celeba.index"
root = ")" + celeba() + R"("
split = ["validation"]

[stages.decode]
use = "image.decode"
input = ["train_index", "val_index"]

[stages.augment]
use = "image.augment"
input = "decode"
width = 32
height = 32

[stages.batch]
use = "image.batch"
input = "augment"

[stages.train]
use = "train.vgg"
input = "batch"
)");
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(cfg.string() + ":25:1: error: stage 'train' (train.vgg): its input merges "
                                      "the epochs of sources 'train_index' and 'val_index'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("split = [\"train\", \"validation\"]"), std::string::npos) << r.out;
}

// The Keras layout with two folder trees, read as two sources, is refused with
// a pointer to the one-source form; that form checks.
TEST_F(SpecCli, TwoFolderSourcesMergedIntoTrainPointToDirIndexSplit) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  const std::string rest = R"(
[stages.augment]
use = "image.augment"
input = "decode"
width = 32
height = 32

[stages.batch]
use = "image.batch"
input = "augment"

[stages.train]
use = "train.vgg"
input = "batch"
)";
  fs::path two = write("two_trees.toml", R"([stages.train_index]
use = "dir.index"
root = ")" + folders() + R"(/train"

[stages.val_index]
use = "dir.index"
root = ")" + folders() + R"(/validation"
split = "validation"

[stages.decode]
use = "image.decode"
input = ["train_index", "val_index"]
)" + rest);
  Result r = run("check " + two.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(two.string() + ":24:1: error: stage 'train' (train.vgg): its input merges "
                                      "the epochs of sources 'train_index' and 'val_index'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dir.index with split = [\"train\", \"validation\"] (dir.index then reads "
                       "ROOT/train/<class>/ and ROOT/validation/<class>/)"),
            std::string::npos)
      << r.out;

  fs::path one = write("one_source.toml", R"([stages.index]
use = "dir.index"
root = ")" + folders() + R"("
split = ["train", "validation"]

[stages.decode]
use = "image.decode"
input = "index"
)" + rest);
  Result ok = run("check " + one.string());
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("index -> decode: Sample{label: binary \"dogs\" (cats/dogs)} [1 epoch: "
                        "train, validation]"),
            std::string::npos)
      << ok.out;
}

TEST_F(SpecCli, MissingSplitFolderIsALocatedError) {
  fs::path cfg = write("no_val.toml", "[stages.index]\nuse = \"dir.index\"\nroot = \"" + folders() +
                                          "\"\nsplit = [\"train\", \"val\"]\n");
  Result r = run("check " + cfg.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(
      r.out.find(cfg.string() + ":4:9: error: stage 'index' (dir.index): split: " + folders() +
                 "/val: no such split folder (" + folders() + " holds train, validation)"),
      std::string::npos)
      << r.out;
}

TEST_F(SpecCli, ValidationSplitShowsBothSplitsAndIsRefusedOverSplitFolders) {
  const std::string body =
      "validation_split = 0.25\nsplit = [\"train\", \"validation\"]\n"
      "epochs = 5\n\n[stages.decode]\nuse = \"image.decode\"\ninput = "
      "\"index\"\n";
  // ROOT/train holds class folders: cut into train and validation.
  fs::path cut = write("cut.toml", "[stages.index]\nuse = \"dir.index\"\nroot = \"" + folders() +
                                       "/train\"\n" + body);
  Result ok = run("check " + cut.string());
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("index -> decode: Sample{label: binary \"dogs\" (cats/dogs)} [5 epochs: "
                        "train, validation]"),
            std::string::npos)
      << ok.out;
  // ROOT holds split folders: they already make the splits.
  fs::path both = write(
      "both.toml", "[stages.index]\nuse = \"dir.index\"\nroot = \"" + folders() + "\"\n" + body);
  Result r = run("check " + both.string());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(both.string() +
                       ":4:20: error: stage 'index' (dir.index): "
                       "validation_split: " +
                       folders() + ": holds split folders (train, validation)"),
            std::string::npos)
      << r.out;
}

TEST_F(SpecCli, EvaluationAtAnotherSizeThanTheCheckpointIsRefused) {
  if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  // A tiny checkpoint trained at 64x80 (the demo's size): one epoch of 8 images.
  const std::string run_dir = (*dir_ / "run").string();
  Result train = run("run " + config("demo.toml") + set_string("index.root", celeba()) +
                     set_string("train.output_dir", run_dir) +
                     " --set index.epochs=1 --set index.limit=8 --set batch.batch_size=4");
  ASSERT_EQ(train.code, 0) << train.out;
  const std::string checkpoint = run_dir + "/last.pt";
  ASSERT_TRUE(fs::exists(checkpoint)) << train.out;

  const std::string eval = "check " + config("demo-eval.toml") +
                           set_string("index.root", celeba()) +
                           set_string("evaluate.checkpoint", checkpoint);
  Result same = run(eval);
  EXPECT_EQ(same.code, 0) << same.out;

  Result other = run(eval + " --set resize.width=224 --set resize.height=224");
  EXPECT_EQ(other.code, 2) << other.out;
  EXPECT_NE(other.out.find("--set evaluate.checkpoint=\"" + checkpoint + "\":1:"),
            std::string::npos)
      << other.out;
  EXPECT_NE(other.out.find("stage 'evaluate' (eval.classifier): " + checkpoint +
                           " was trained on 64x80 images (width x height) but its input images "
                           "are 224x224 (set by stage 'resize')"),
            std::string::npos)
      << other.out;
}

}  // namespace

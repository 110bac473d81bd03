// Image folders as an index: class folders (ROOT/<class>/) and split folders
// (ROOT/train/<class>/, ROOT/validation/<class>/) read as one index.
#include "stages/data/dir_index.h"
#include "stages/data/validation_split.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace sluice::data {
namespace {
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("sluice_dir_index_test_" + std::to_string(::getpid()) +
                                         "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  std::string root() const { return path_.string(); }

  void files(std::initializer_list<const char*> names) const {
    for (const char* name : names) {
      fs::create_directories((path_ / name).parent_path());
      std::ofstream(path_ / name) << "x";
    }
  }

 private:
  fs::path path_;
};

// "split label id" of every sample, in index order.
std::vector<std::string> listing(const DatasetIndex& idx) {
  std::vector<std::string> out;
  for (const Sample& s : idx.samples) {
    out.push_back(s.split + " " + std::to_string(s.label) + " " + s.id);
  }
  return out;
}

std::string problems(const DirIndexOptions& o) {
  std::string out;
  for (const DirIndexProblem& p : plan_directory_index(o).problems) {
    out += p.key + ": " + p.text() + "\n";
  }
  return out;
}

// labels = false: a flat folder of images to predict (and any sub-folders), no
// classes, no label (-1), the files sorted; non-images left out.
TEST(DirectoryIndex, UnlabeledReadsEveryImageUnderRoot) {
  TempDir d;
  d.files({"b.jpg", "a.PNG", "notes.txt", "2024/c.jpeg"});
  DirIndexOptions o{d.root(), DirLayout::kAuto, {"test"}, /*labels=*/false};
  EXPECT_EQ(problems(o), "");
  const DatasetIndex idx = load_directory_index(o);
  EXPECT_TRUE(idx.class_names.empty());
  EXPECT_EQ(listing(idx),
            (std::vector<std::string>{"test -1 2024/c.jpeg", "test -1 a.PNG", "test -1 b.jpg"}));
  // With labels, the same folder has no class sub-folder with images but 2024.
  o.labels = true;
  EXPECT_EQ(load_directory_index(o).class_names, (std::vector<std::string>{"2024"}));
  // An empty folder is an error naming it.
  TempDir empty;
  try {
    load_directory_index(DirIndexOptions{empty.root(), DirLayout::kAuto, {"test"}, false});
    ADD_FAILURE() << "an empty folder was accepted";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find(empty.root()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no image files"), std::string::npos) << e.what();
  }
}

TEST(DirectoryIndex, SortedClassesAndFilesLikeKeras) {
  TempDir d;
  d.files({"dogs/b.jpg", "dogs/a.png", "cats/z.jpg", "cats/readme.txt", "ants/1.JPG"});
  const DatasetIndex idx = load_directory_index(d.root());
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"ants", "cats", "dogs"}));
  ASSERT_EQ(idx.samples.size(), 4u);
  EXPECT_EQ(idx.samples[0].id, "ants/1.JPG");
  EXPECT_EQ(idx.samples[1].id, "cats/z.jpg");
  EXPECT_EQ(idx.samples[2].id, "dogs/a.png");
  EXPECT_EQ(idx.samples[3].label, 2);
  EXPECT_EQ(idx.samples[3].index, 3);
}

TEST(DirectoryIndex, HiddenFoldersAndFilesAreNeitherClassesNorSamples) {
  TempDir d;
  d.files({"cats/a.jpg", "dogs/b.jpg", ".ipynb_checkpoints/c.jpg", "cats/.d.jpg",
           "cats/.thumbs/e.jpg"});
  const DatasetIndex idx = load_directory_index(d.root());
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"cats", "dogs"}));
  EXPECT_EQ(listing(idx), (std::vector<std::string>{"train 0 cats/a.jpg", "train 1 dogs/b.jpg"}));
  EXPECT_TRUE(idx.skipped.empty());
  // Under split folders alike.
  TempDir s;
  s.files({"train/cats/a.jpg", "train/.ipynb_checkpoints/b.jpg", "validation/cats/.c.jpg",
           "validation/cats/d.jpg"});
  DirIndexOptions o;
  o.root = s.root();
  o.splits = {"train", "validation"};
  const DatasetIndex split = load_directory_index(o);
  EXPECT_EQ(split.class_names, (std::vector<std::string>{"cats"}));
  EXPECT_EQ(listing(split), (std::vector<std::string>{"train 0 train/cats/a.jpg",
                                                      "validation 0 validation/cats/d.jpg"}));
}

TEST(DirectoryIndex, SymlinkLoopsAreSkippedAndListed) {
  TempDir d;
  d.files({"cats/a.jpg", "cats/deep/b.jpg", "dogs/c.jpg"});
  fs::create_symlink("loop.jpg", d.path() / "cats" / "loop.jpg");   // points at itself
  fs::create_symlink("self", d.path() / "cats" / "deep" / "self");  // loop in a sub-folder
  fs::create_symlink("ring", d.path() / "ring");                    // loop among the classes
  fs::create_directory_symlink("..", d.path() / "dogs" / "up");     // not entered
  const DatasetIndex idx = load_directory_index(d.root());
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"cats", "dogs"}));
  ASSERT_EQ(idx.samples.size(), 3u);
  EXPECT_EQ(idx.samples[0].id, "cats/a.jpg");
  EXPECT_EQ(idx.samples[1].id, "cats/deep/b.jpg");
  EXPECT_EQ(idx.samples[2].id, "dogs/c.jpg");
  ASSERT_EQ(idx.skipped.size(), 3u);
  std::string all;
  for (const auto& s : idx.skipped) all += s + "\n";
  for (const char* name : {"/cats/loop.jpg: ", "/cats/deep/self: ", "/ring: "}) {
    EXPECT_NE(all.find(d.root() + name), std::string::npos) << all;
  }
  EXPECT_NE(all.find("Too many levels of symbolic links"), std::string::npos) << all;
}

TEST(DirectoryIndex, SplitFoldersAreOneIndexWhoseSamplesCarryTheirSplit) {
  TempDir d;
  d.files({"train/dogs/t2.jpg", "train/cats/t1.jpg", "train/cats/t0.jpg", "validation/cats/v0.jpg",
           "validation/dogs/v1.jpg"});
  const DatasetIndex idx =
      load_directory_index({d.root(), DirLayout::kAuto, {"train", "validation"}});
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"cats", "dogs"}));
  EXPECT_EQ(listing(idx), (std::vector<std::string>{
                              "train 0 train/cats/t0.jpg", "train 0 train/cats/t1.jpg",
                              "train 1 train/dogs/t2.jpg", "validation 0 validation/cats/v0.jpg",
                              "validation 1 validation/dogs/v1.jpg"}));
  for (size_t i = 0; i < idx.samples.size(); ++i) EXPECT_EQ(idx.samples[i].index, int64_t(i));
  EXPECT_EQ(idx.samples[3].path, (d.path() / "validation" / "cats" / "v0.jpg").string());
  EXPECT_EQ(plan_directory_index({d.root(), DirLayout::kAuto, {"train", "validation"}}).layout,
            DirLayout::kSplitFolders);
}

// A class with no validation images keeps the id it has in train, and a
// class only in the test folder is counted even when test is not read, so
// every run on this folder numbers the classes the same way.
TEST(DirectoryIndex, ClassIdsAreTheUnionOverEverySplitFolder) {
  TempDir d;
  d.files({"train/ants/a.jpg", "train/bees/b.jpg", "train/cats/c.jpg", "val/cats/vc.jpg",
           "test/dogs/td.jpg"});
  const DatasetIndex idx = load_directory_index({d.root(), DirLayout::kAuto, {"val", "train"}});
  EXPECT_EQ(idx.class_names, (std::vector<std::string>{"ants", "bees", "cats", "dogs"}));
  // "val" is the validation split; the train folder is listed first whatever
  // the order asked, so train indices do not depend on the other splits read.
  EXPECT_EQ(listing(idx),
            (std::vector<std::string>{"train 0 train/ants/a.jpg", "train 1 train/bees/b.jpg",
                                      "train 2 train/cats/c.jpg", "validation 2 val/cats/vc.jpg"}));
  const DirIndexPlan plan = plan_directory_index({d.root(), DirLayout::kAuto, {"val", "train"}});
  EXPECT_EQ(plan.splits(), (std::vector<std::string>{"validation", "train"}));
  const DatasetIndex only_val = load_directory_index({d.root(), DirLayout::kAuto, {"val"}});
  EXPECT_EQ(only_val.class_names, idx.class_names);
  EXPECT_EQ(listing(only_val), std::vector<std::string>{"validation 2 val/cats/vc.jpg"});
}

TEST(DirectoryIndex, AutoLayoutReadsClassFoldersWhenNoSplitFolderIsThere) {
  TempDir d;
  d.files({"cats/a.jpg", "dogs/b.jpg"});
  const DatasetIndex idx = load_directory_index({d.root(), DirLayout::kAuto, {"val"}});
  EXPECT_EQ(listing(idx),
            (std::vector<std::string>{"validation 0 cats/a.jpg", "validation 1 dogs/b.jpg"}));
  // Asked for, split folders are required; asked for, class folders read a
  // folder named "train" as a class.
  EXPECT_NE(problems({d.root(), DirLayout::kSplitFolders, {"train"}})
                .find("split: " + d.root() + "/train: no such split folder"),
            std::string::npos)
      << problems({d.root(), DirLayout::kSplitFolders, {"train"}});
  d.files({"train/c.jpg"});
  const DatasetIndex classes = load_directory_index({d.root(), DirLayout::kClassFolders, {"test"}});
  EXPECT_EQ(classes.class_names, (std::vector<std::string>{"cats", "dogs", "train"}));
}

TEST(DirectoryIndex, LayoutMistakesNameTheParameter) {
  TempDir d;
  d.files({"train/cats/a.jpg", "val/cats/b.jpg"});
  const std::string root = d.root();
  EXPECT_EQ(problems({root, DirLayout::kAuto, {}}), "split: name at least one split\n");
  EXPECT_EQ(problems({root, DirLayout::kAuto, {"train", "train"}}),
            "split: 'train' is named twice\n");
  EXPECT_EQ(problems({root, DirLayout::kAuto, {"val", "validation"}}),
            "split: 'val' and 'validation' both name the validation split; name it once\n");
  EXPECT_EQ(problems({root, DirLayout::kAuto, {"holdout"}}),
            "split: unknown split 'holdout' (expected train, validation, val, valid or test)\n");
  EXPECT_EQ(
      problems({root, DirLayout::kAuto, {"train", "validation"}}),
      "split: " + root + "/validation: no such split folder (" + root + " holds train, val)\n");
  EXPECT_EQ(problems({root + "/nowhere", DirLayout::kAuto, {"train"}}),
            "root: " + root + "/nowhere: not a directory\n");
  EXPECT_NE(problems({root, DirLayout::kClassFolders, {"train", "val"}})
                .find("split: names 2 splits but layout = \"class_folders\" gives every sample one "
                      "split"),
            std::string::npos);
  EXPECT_NE(problems({root + "/train", DirLayout::kAuto, {"train", "val"}})
                .find("split: names 2 splits but no split folder named train, val is in"),
            std::string::npos)
      << problems({root + "/train", DirLayout::kAuto, {"train", "val"}});
  try {
    load_directory_index({root, DirLayout::kAuto, {"train", "test"}});
    ADD_FAILURE() << "a missing split folder was accepted";
  } catch (const IndexError& e) {
    EXPECT_EQ(e.file(), root + "/test");
  }
}

// validation_split: the count is Keras's int(validation_split * n), a double
// product truncated (0.29 * 100 is 28.999999999999996 there too).
TEST(ValidationSplit, CountIsKerasIntOfTheProduct) {
  EXPECT_EQ(validation_count(0.25, 10), 2);
  EXPECT_EQ(validation_count(0.2, 10), 2);
  EXPECT_EQ(validation_count(0.7, 10), 7);
  EXPECT_EQ(validation_count(0.29, 100), 28);
  EXPECT_EQ(validation_count(0.5, 1), 0);
  EXPECT_EQ(validation_count(0.0, 7), 0);
}

// Five cats and five dogs, 0.25 held out: int(2.5) = 2 validation, 8 train.
DirIndexOptions ten_files(const TempDir& d, double fraction, uint64_t seed) {
  d.files({"cats/c0.jpg", "cats/c1.jpg", "cats/c2.jpg", "cats/c3.jpg", "cats/c4.jpg", "dogs/d0.jpg",
           "dogs/d1.jpg", "dogs/d2.jpg", "dogs/d3.jpg", "dogs/d4.jpg"});
  DirIndexOptions o{d.root(), DirLayout::kAuto, {"train", "validation"}};
  o.validation_split = fraction;
  o.split_seed = seed;
  return o;
}

std::map<std::string, std::vector<std::string>> ids_by_split(const DatasetIndex& idx) {
  std::map<std::string, std::vector<std::string>> out;
  for (const Sample& s : idx.samples) out[s.split].push_back(s.id);
  return out;
}

TEST(DirectoryIndex, ValidationSplitIsDisjointCompleteAndSeeded) {
  TempDir d;
  const DirIndexOptions o = ten_files(d, 0.25, 7);
  EXPECT_EQ(plan_directory_index(o).splits(), (std::vector<std::string>{"train", "validation"}));
  const DatasetIndex idx = load_directory_index(o);
  ASSERT_EQ(idx.samples.size(), 10u);  // complete: every file once, in file order
  EXPECT_EQ(idx.samples[0].id, "cats/c0.jpg");
  EXPECT_EQ(idx.samples[9].id, "dogs/d4.jpg");
  auto by_split = ids_by_split(idx);
  ASSERT_EQ(by_split.size(), 2u);  // each sample in exactly one split
  EXPECT_EQ(by_split["train"].size(), 8u);
  EXPECT_EQ(by_split["validation"].size(), 2u);
  // Deterministic: the same seed picks the same files, whichever splits are read.
  EXPECT_EQ(listing(load_directory_index(o)), listing(idx));
  DirIndexOptions validation_only = o;
  validation_only.splits = {"val"};
  EXPECT_EQ(ids_by_split(load_directory_index(validation_only))["validation"],
            by_split["validation"]);
  // Another seed picks other files (not a fixed prefix or suffix).
  DirIndexOptions reseeded = o;
  reseeded.split_seed = 8;
  EXPECT_NE(ids_by_split(load_directory_index(reseeded))["validation"], by_split["validation"]);
  // 0 is off: every sample in train.
  DirIndexOptions off = o;
  off.validation_split = 0;
  off.splits = {"train"};
  EXPECT_EQ(ids_by_split(load_directory_index(off))["train"].size(), 10u);
}

TEST(DirectoryIndex, ValidationSplitRefusesSplitFoldersTestAndOne) {
  TempDir d;
  d.files({"train/cats/a.jpg", "validation/cats/b.jpg"});
  DirIndexOptions o{d.root(), DirLayout::kAuto, {"train", "validation"}};
  o.validation_split = 0.2;
  EXPECT_EQ(problems(o), "validation_split: " + d.root() +
                             ": holds split folders (train, validation), which already make the "
                             "splits; remove validation_split to read them, or set root to the "
                             "folder of class folders to cut (layout = \"class_folders\" reads "
                             "these folders as classes)\n");
  o.layout = DirLayout::kSplitFolders;
  EXPECT_NE(problems(o).find("validation_split: cuts one folder of class folders"),
            std::string::npos);
  o.layout = DirLayout::kClassFolders;  // train/ and validation/ are then classes
  EXPECT_EQ(problems(o), "");
  o.splits = {"train", "test"};
  EXPECT_EQ(problems(o),
            "split: validation_split makes a train and a validation split; 'test' would have no "
            "samples\n");
  o.splits = {"train"};
  o.validation_split = 1;
  EXPECT_EQ(problems(o),
            "validation_split: must be below 1 (the fraction of the samples held out for "
            "validation), got 1\n");
}

}  // namespace
}  // namespace sluice::data

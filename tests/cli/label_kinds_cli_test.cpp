// A categorical label end to end through the `sluice` binary, as a Keras user's
// flow_from_directory with three class folders: train/<class>/ and
// validation/<class>/ (black, blond and gray haired faces of the synthetic
// CelebA, sorted by its hair_colour.csv) run from `sluice check` (which states the
// label: categorical with 3 classes) through `sluice run` and eval.classifier to
// `sluice predict`, which names the classes. An evaluation whose input label is
// not the checkpoint's is refused by `sluice check` at the checkpoint key.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 300 " + std::string(SLUICE_BINARY) + " " + args);
}

using cli_test::value_position;

const char* const kClasses[] = {"black", "blond", "gray"};

class LabelKindsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_label_kinds_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + celeba() + " --count 240 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    sort_into_folders();
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  }

  // flowers/<split>/<colour>/NNNNNN.jpg for the three colours, from hair_colour.csv.
  static void sort_into_folders() {
    std::ifstream in(fs::path(celeba()) / "hair_colour.csv");
    std::string line;
    std::getline(in, line);  // path,hair_colour,split
    while (std::getline(in, line)) {
      std::istringstream row(line);
      std::string path, colour, split;
      std::getline(row, path, ',');
      std::getline(row, colour, ',');
      std::getline(row, split, ',');
      if (colour == "brown") continue;
      const fs::path to = fs::path(folders()) / split / colour;
      fs::create_directories(to);
      fs::copy_file(fs::path(celeba()) / path, to / fs::path(path).filename());
      if (split == "test") test_images_.push_back((to / fs::path(path).filename()).string());
    }
  }

  static std::string config_text(const std::string& splits, const std::string& tail) {
    return "[pipeline]\nname = \"three-colours\"\nseed = 5\n"
           "\n[stages.index]\nuse = \"dir.index\"\nroot = \"" +
           folders() + "\"\nsplit = " + splits +
           "\nepochs = 1\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 40\nrescale = 0.00392156862745098\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n" +
           tail;
  }

  static std::string train_config() {
    return config_text("[\"train\", \"validation\"]",
                       "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\narch = "
                       "\"vgg11\"\nwidth_divisor = 16\nhead = \"gap\"\nfreeze = \"none\"\n"
                       "lr = 0.002\ndevice = \"cpu\"\noutput_dir = \"" +
                           run_dir() + "\"\n");
  }

  static std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  static std::string celeba() { return (dir_ / "celeba").string(); }
  static std::string folders() { return (dir_ / "flowers").string(); }
  static std::string run_dir() { return (dir_ / "run").string(); }
  static std::string checkpoint() { return run_dir() + "/best.pt"; }

  static fs::path dir_;
  static std::vector<std::string> test_images_;
};

fs::path LabelKindsCli::dir_;
std::vector<std::string> LabelKindsCli::test_images_;

TEST_F(LabelKindsCli, ThreeClassFoldersFromCheckToPredict) {
  const std::string config = write("train.toml", train_config());
  Result r = sluice("check " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: categorical with 3 classes (black, blond, gray)"), std::string::npos)
      << r.out;

  r = sluice("run " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 output(s) for a categorical label"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(checkpoint())) << r.out;

  // eval.classifier on the test folders: the categorical table, classes by name.
  ASSERT_FALSE(test_images_.empty());
  const std::string eval =
      write("eval.toml", config_text("[\"test\"]",
                                     "\n[stages.evaluate]\nuse = \"eval.classifier\"\n"
                                     "input = \"batch\"\ndevice = \"cpu\"\ncheckpoint = \"" +
                                         checkpoint() + "\"\n"));
  r = sluice("check " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  r = sluice("run " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("top-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blond"), std::string::npos) << r.out;

  // sluice predict: per image the three classes, most probable first, by name.
  const size_t images = std::min<size_t>(test_images_.size(), 4);
  std::string args = "predict --device cpu --topk 3 --checkpoint " + checkpoint();
  for (size_t i = 0; i < images; ++i) args += " " + test_images_[i];
  r = sluice(args);
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream out(r.out);
  std::map<std::string, int> per_image;
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream fields(line);
    std::string image, name, probability;
    ASSERT_TRUE(std::getline(fields, image, '\t') && std::getline(fields, name, '\t') &&
                std::getline(fields, probability))
        << line;
    EXPECT_TRUE(name == kClasses[0] || name == kClasses[1] || name == kClasses[2]) << line;
    ++per_image[image];
  }
  EXPECT_EQ(per_image.size(), images) << r.out;
  for (const auto& [image, lines] : per_image) EXPECT_EQ(lines, 3) << image;
}

TEST_F(LabelKindsCli, EvaluationOfAnotherLabelIsRefusedAtTheCheckpointKey) {
  if (!fs::exists(checkpoint())) {
    ASSERT_EQ(sluice("run " + write("train.toml", train_config())).code, 0);
  }
  // The same model scored on CelebA's binary Male label.
  const std::string text =
      "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
      "\"\nsplit = [\"test\"]\nepochs = 1\n"
      "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
      "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\nheight = 40\n"
      "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
      "\n[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\ncheckpoint = \"" +
      checkpoint() + "\"\n";
  const std::string file = write("eval-male.toml", text);
  const Result r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  const std::string where = value_position(file, text, "checkpoint") + ": error: ";
  EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
  EXPECT_NE(r.out.find("was trained on a categorical with 3 classes (black, blond, gray) label "
                       "but its input label is binary \"Male\" (Female/Male)"),
            std::string::npos)
      << r.out;
}

TEST_F(LabelKindsCli, MultiLabelSchemaAndPosWeightAreCheckedBeforeTheRun) {
  auto config = [&](const std::string& label, const std::string& pos_weight) {
    return "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + celeba() +
           "\"\nsplit = [\"train\", \"validation\"]\nlabel = " + label +
           "\n\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 40\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
           "\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
           "head = \"gap\"\nfreeze = \"none\"\noutput_dir = \"" +
           (dir_ / "never").string() + "\"\npos_weight = " + pos_weight + "\n";
  };
  const std::string labels = "[\"Male\", \"Smiling\", \"Eyeglasses\"]";
  Result r = sluice("check " + write("multi.toml", config(labels, "[1.0, 1.0, 3.0]")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: multi-label with 3 attributes (Male, Smiling, Eyeglasses)"),
            std::string::npos)
      << r.out;
  // One weight per sigmoid output: two for three attributes is refused at the key.
  const std::string text = config(labels, "[1.0, 3.0]");
  const std::string file = write("multi-bad.toml", text);
  r = sluice("check " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(value_position(file, text, "pos_weight") + ": error: "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("pos_weight has 2 value(s) but the input label is multi-label with 3 "
                       "attributes"),
            std::string::npos)
      << r.out;
  // "all" names the 40 attributes.
  r = sluice("check " + write("all.toml", config("\"all\"", "[]")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("label: multi-label with 40 attributes"), std::string::npos) << r.out;
}

}  // namespace

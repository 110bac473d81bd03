// train.model through the `sluice` binary: a scripted torchvision resnet18 with three
// outputs (tools/export_torchscript.py) trains with arch = "torchscript" on three
// class folders of the synthetic CelebA, and `sluice predict` names the classes from
// its checkpoint. Mistakes in the model parameters are found by `sluice check`
// (exit 2, FILE:LINE:COL of the key's value).
#include <unistd.h>

#include <cstdlib>
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

class ModelCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_model_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + celeba() + " --count 160 --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
    sort_into_folders();
    // torchvision's resnet18 when the test Python has torchvision, else a small
    // ResNet with torchvision's layer names.
    const std::string python = SLUICE_TEST_PYTHON;
    const bool torchvision =
        std::system((python + " -c 'import torchvision' 2>/dev/null").c_str()) == 0;
    const std::string cmd = python + " " + SLUICE_SOURCE_DIR + "/tools/export_torchscript.py " +
                            script() + " --num-classes 3 --seed 2 --arch " +
                            (torchvision ? "resnet18" : "tiny_resnet") + " 2>&1";
    exported_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  }

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

  static std::string pipeline(const std::string& train, const std::string& output_dir = run_dir()) {
    return "[pipeline]\nname = \"models\"\nseed = 5\n"
           "\n[stages.index]\nuse = \"dir.index\"\nroot = \"" +
           folders() +
           "\"\nsplit = [\"train\", \"validation\"]\nepochs = 1\n"
           "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
           "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
           "height = 32\nnormalize = \"imagenet\"\n"
           "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
           "\n[stages.train]\nuse = \"train.model\"\ninput = \"batch\"\ndevice = \"cpu\"\n" +
           train + "output_dir = \"" + output_dir + "\"\n";
  }

  static std::string write(const std::string& name, const std::string& text) {
    const fs::path file = dir_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

  // `sluice check` on train.model settings `train`: exit 2, the error at `key`'s value.
  static void expect_check_error(const std::string& name, const std::string& train,
                                 const std::string& key, const std::string& message) {
    const std::string text = pipeline(train, (dir_ / "never").string());
    const std::string file = write(name, text);
    const Result r = sluice("check " + file);
    EXPECT_EQ(r.code, 2) << r.out;
    const std::string where = value_position(file, text, key) + ": error: ";
    EXPECT_NE(r.out.find(where), std::string::npos) << "want " << where << "\n" << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << "want " << message << "\n" << r.out;
  }

  static std::string celeba() { return (dir_ / "celeba").string(); }
  static std::string folders() { return (dir_ / "flowers").string(); }
  static std::string run_dir() { return (dir_ / "run").string(); }
  static std::string script() { return (dir_ / "resnet18-3.pt").string(); }

  static fs::path dir_;
  static bool exported_;
  static std::vector<std::string> test_images_;
};

fs::path ModelCli::dir_;
bool ModelCli::exported_ = false;
std::vector<std::string> ModelCli::test_images_;

TEST_F(ModelCli, ScriptedResnetTrainsAndItsCheckpointPredictsClassNames) {
  ASSERT_TRUE(exported_) << SLUICE_TEST_PYTHON << " could not run tools/export_torchscript.py";
  const std::string config =
      write("train.toml", pipeline("arch = \"torchscript\"\nmodel = \"" + script() +
                                   "\"\nfreeze = [\"conv1.\", \"bn1.\", \"layer1.\"]\n"
                                   "lr = 0.001\n"));
  Result r = sluice("check " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  r = sluice("run " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 output(s) for a categorical label"), std::string::npos) << r.out;
  const std::string checkpoint = run_dir() + "/last.pt";
  ASSERT_TRUE(fs::exists(checkpoint)) << r.out;

  ASSERT_FALSE(test_images_.empty());
  const size_t images = std::min<size_t>(test_images_.size(), 3);
  std::string args = "predict --device cpu --topk 3 --checkpoint " + checkpoint;
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
  // eval.classifier rebuilds the TorchScript model from the checkpoint's record.
  const std::string eval =
      write("eval.toml",
            "[stages.index]\nuse = \"dir.index\"\nroot = \"" + folders() +
                "\"\nsplit = [\"test\"]\nepochs = 1\n"
                "\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
                "\n[stages.resize]\nuse = \"image.augment\"\ninput = \"decode\"\n"
                "width = 32\nheight = 32\n"
                "\n[stages.batch]\nuse = \"image.batch\"\ninput = \"resize\"\nbatch_size = 16\n"
                "\n[stages.evaluate]\nuse = \"eval.classifier\"\ninput = \"batch\"\n"
                "device = \"cpu\"\ncheckpoint = \"" +
                checkpoint + "\"\n");
  r = sluice("run " + eval);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("top-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("torchscript"), std::string::npos) << r.out;
}

// A built-in ResNet: fc sized for the three classes, the trunk frozen by default.
TEST_F(ModelCli, NarrowResnetTrainsItsHeadAndPredicts) {
  const std::string out_dir = (dir_ / "run-resnet").string();
  const std::string config = write(
      "resnet.toml", pipeline("arch = \"resnet18\"\nwidth_divisor = 16\nlr = 0.01\n", out_dir));
  Result r = sluice("run " + config);
  ASSERT_EQ(r.code, 0) << r.out;
  // Only fc trains: 3 x 32 weights (512 / 16 features) and 3 biases.
  EXPECT_NE(
      r.out.find("resnet18 (replace_last head, width/16, 3 output(s) for a categorical label)"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(", 99 trainable"), std::string::npos) << r.out;
  ASSERT_FALSE(test_images_.empty());
  r = sluice("predict --device cpu --topk 1 --checkpoint " + out_dir + "/last.pt " +
             test_images_.front());
  ASSERT_EQ(r.code, 0) << r.out;
  const bool named = r.out.find("\tblack\t") != std::string::npos ||
                     r.out.find("\tblond\t") != std::string::npos ||
                     r.out.find("\tgray\t") != std::string::npos;
  EXPECT_TRUE(named) << r.out;
}

TEST_F(ModelCli, ModelMistakesAreFoundByCheckAtTheirKey) {
  expect_check_error("arch.toml", "arch = \"resnt18\"\n", "arch", "did you mean 'resnet18'");
  expect_check_error("no-model.toml", "arch = \"torchscript\"\nfreeze = []\n", "arch",
                     "arch = \"torchscript\" needs model = \"FILE.pt\"");
  expect_check_error(
      "missing.toml",
      "arch = \"torchscript\"\nmodel = \"" + (dir_ / "absent.pt").string() + "\"\nfreeze = []\n",
      "model", "model: no such file");
  expect_check_error("model-for-vgg.toml", "arch = \"vgg11\"\nmodel = \"" + script() + "\"\n",
                     "model", "model names a TorchScript file");
  expect_check_error("prefix.toml",
                     "arch = \"resnet18\"\nwidth_divisor = 16\nfreeze = [\"layer9.\"]\n", "freeze",
                     "'layer9.' matches no parameter of resnet18");
  expect_check_error("gap.toml", "arch = \"resnet34\"\nhead = \"gap\"\n", "head",
                     "head = \"gap\" is VGG's");
  expect_check_error("trunk.toml",
                     "arch = \"torchscript\"\nmodel = \"" + script() + "\"\nfreeze = [\"trunk\"]\n",
                     "freeze", "a TorchScript model has no known trunk");
  expect_check_error(
      "divisor.toml",
      "arch = \"torchscript\"\nmodel = \"" + script() + "\"\nwidth_divisor = 4\nfreeze = []\n",
      "width_divisor", "width_divisor narrows a built-in architecture");
}

}  // namespace

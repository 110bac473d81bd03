// Small things a new user meets at the command line: what a failed start prints,
// how `stages` shows ranges, where help goes, preview's options, suggestions for
// misspelt commands and list values, thread counts beyond the cores, and a CelebA
// count line that check and run judge alike.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command(std::string(SLUICE_BINARY) + " " + args);
}

class Usage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_usage_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 12 --seed 1");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  // index -> decode -> augment (random shear, zoom, flip) -> discard.
  static std::string augment_config(const std::string& root) {
    return write("augment.toml", "[stages.index]\nuse = \"celeba.index\"\nroot = \"" + root +
                                     "\"\n[stages.decode]\nuse = \"image.decode\"\n"
                                     "input = \"index\"\n[stages.augment]\n"
                                     "use = \"image.augment\"\ninput = \"decode\"\nwidth = 32\n"
                                     "height = 32\nshear = 30.0\nzoom = [0.5]\nflip = true\n"
                                     "[stages.out]\nuse = \"util.discard\"\ninput = \"augment\"\n");
  }

  static fs::path dir_;
};

fs::path Usage::dir_;

TEST_F(Usage, AFailedStartPrintsTheErrorWithoutAProfileTable) {
  const std::string cfg = write("overflow.toml",
                                "[stages.n]\nuse = \"gen.range\"\nstart = 9223372036854775807\n"
                                "count = 2\n[stages.t]\nuse = \"util.sum\"\ninput = \"n\"\n");
  const Result r = sluice("run " + cfg);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("stage 'n' failed to start"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("profile:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("items/s"), std::string::npos) << r.out;
}

TEST_F(Usage, IntegerRangesPrintAsIntegers) {
  const Result r = sluice("stages image.batch");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("range [1, 65536]"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("65536.0"), std::string::npos) << r.out;
  // A float parameter keeps its decimal point.
  const Result f = sluice("stages image.augment");
  EXPECT_NE(f.out.find("shear (float, default 0.0, range [0.0, 90.0])"), std::string::npos)
      << f.out;
}

// stdout alone: stderr is sent away inside the group, before run_command's 2>&1.
Result stdout_of(const std::string& args) {
  return cli_test::run_command("{ " + std::string(SLUICE_BINARY) + " " + args + " 2>/dev/null; }");
}

TEST_F(Usage, BenchHelpGoesToStdoutAndExitsZero) {
  const Result r = stdout_of("bench --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("usage: sluice bench data"), std::string::npos) << r.out;
  // Without --help, the usage is an error on stderr.
  const Result bad = stdout_of("bench");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.out, "");
}

TEST_F(Usage, PreviewTakesASeedAndPlugins) {
  const std::string cfg = augment_config((dir_ / "celeba").string());
  auto grid = [&](const std::string& name, int seed) {
    const fs::path out = dir_ / name;
    const Result r = sluice("preview " + cfg + " --out " + out.string() + " --count 4 --seed " +
                            std::to_string(seed));
    EXPECT_EQ(r.code, 0) << r.out;
    return cli_test::read_text(out);
  };
  const std::string a = grid("a.png", 1), b = grid("b.png", 1), c = grid("c.png", 2);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, b);  // the same seed draws the same augmentations
  EXPECT_NE(a, c);  // another seed draws others
  const Result p = sluice("preview " + cfg + " --out " + (dir_ / "p.png").string() + " --plugin " +
                          (dir_ / "no-such-plugin.so").string());
  EXPECT_EQ(p.code, 2) << p.out;
  EXPECT_NE(p.out.find("no-such-plugin.so"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("unrecognised option"), std::string::npos) << p.out;
}

TEST_F(Usage, AMisspeltCommandGetsASuggestion) {
  const Result r = sluice("ruin x.toml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("unknown command 'ruin'; did you mean 'run'?"), std::string::npos) << r.out;
}

TEST_F(Usage, AListWithoutBracketsOnTheCommandLineGetsTheTomlSpelling) {
  const std::string cfg = augment_config((dir_ / "celeba").string());
  const Result r = sluice("check " + cfg + " --set augment.zoom=0.1,0.2");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--set 'augment.zoom=[0.1,0.2]'"), std::string::npos) << r.out;
  EXPECT_EQ(sluice("check " + cfg + " --set 'augment.zoom=[0.1,0.2]'").code, 0);
}

// The case: the shipped training graph with its trainer swapped for a
// sink; the trainer's parameters (arch, lr, ...) go with the old type.
TEST_F(Usage, AnIncludedStageTakesAnotherTypeAndDropsTheOldParameters) {
  const std::string base = "[pipeline]\ninclude = [\"" + std::string(SLUICE_SOURCE_DIR) +
                           "/graphs/train.toml\"]\n[stages.index]\nroot = \"" +
                           (dir_ / "celeba").string() + "\"\nepochs = {}\n";
  const std::string cfg = write("discard.toml", base + "[stages.train]\nuse = \"util.discard\"\n");
  const Result r = sluice("check " + cfg + " --log-level debug");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("train (util.discard"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'use' changes from 'train.vgg' to 'util.discard'; dropped the "
                       "parameters set for the old type: arch, "),
            std::string::npos)
      << r.out;
  const Result set = sluice("check " + write("base.toml", base) + " --set train.use=util.discard");
  EXPECT_EQ(set.code, 0) << set.out;
  EXPECT_NE(set.out.find("train (util.discard"), std::string::npos) << set.out;
}

TEST_F(Usage, KerasParameterNamesGetTheSluiceName) {
  const std::string cfg = augment_config((dir_ / "celeba").string());
  auto check = [&](const std::string& set) { return sluice("check " + cfg + " --set " + set); };
  const Result zoom = check("augment.zoom_range=0.2");
  EXPECT_EQ(zoom.code, 2) << zoom.out;
  EXPECT_NE(zoom.out.find("unknown parameter 'zoom_range'; Keras's zoom_range is 'zoom' here"),
            std::string::npos)
      << zoom.out;
  const Result flip = check("augment.horizontal_flip=true");
  EXPECT_NE(flip.out.find("Keras's horizontal_flip is 'flip' here"), std::string::npos) << flip.out;
  const Result size = check("augment.target_size=[64,64]");
  EXPECT_NE(size.out.find("Keras's target_size is 'width' and 'height' here"), std::string::npos)
      << size.out;
  const Result dir = check("augment.directory=x");
  EXPECT_NE(dir.out.find("Keras's directory is 'root', a parameter of stage 'index': set "
                         "index.root"),
            std::string::npos)
      << dir.out;
}

TEST_F(Usage, MoreThreadsThanCoresIsAWarning) {
  const unsigned cores = std::thread::hardware_concurrency();
  ASSERT_GT(cores, 0u);
  const std::string numbers = std::string(SLUICE_SOURCE_DIR) + "/configs/numbers.toml";
  const Result over = sluice("run " + numbers + " --threads " + std::to_string(cores + 1));
  EXPECT_EQ(over.code, 0) << over.out;
  EXPECT_NE(over.out.find(std::to_string(cores + 1) + " worker threads on a machine with " +
                          std::to_string(cores) + " core"),
            std::string::npos)
      << over.out;
  const Result fits = sluice("run " + numbers + " --threads " + std::to_string(cores));
  EXPECT_EQ(fits.out.find("worker threads on a machine"), std::string::npos) << fits.out;
}

// The original layout's first line counts the rows; a copy found in the wild says
// 202599 above 20000 rows (CRLF). `check` refuses it where `run` would.
TEST_F(Usage, ACelebaCountLineThatDisagreesFailsCheckAsRun) {
  const fs::path root = dir_ / "original";
  fs::create_directories(root);
  std::string attr = "5\r\nMale Young\r\n";
  for (int i = 1; i <= 4; ++i) attr += "00000" + std::to_string(i) + ".jpg  1 -1\r\n";
  std::ofstream(root / "list_attr_celeba.txt", std::ios::binary) << attr;
  std::string part;
  for (int i = 1; i <= 4; ++i) part += "00000" + std::to_string(i) + ".jpg 0\r\n";
  std::ofstream(root / "list_eval_partition.txt", std::ios::binary) << part;
  const std::string cfg = augment_config(root.string());
  const std::string where = (root / "list_attr_celeba.txt").string() + ":1";
  const Result check = sluice("check " + cfg);
  EXPECT_EQ(check.code, 2) << check.out;
  EXPECT_NE(check.out.find(where), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("count line says 5 images but 4 rows follow"), std::string::npos)
      << check.out;
}

#if SLUICE_WITH_TORCH
// Frozen layers and no weights: the head learns on random features. Check says so.
TEST_F(Usage, FrozenLayersWithoutWeightsAreAWarningAtCheck) {
  auto config = [&](const std::string& name, const std::string& train) {
    return write(name, "[stages.index]\nuse = \"celeba.index\"\nroot = \"" +
                           (dir_ / "celeba").string() +
                           "\"\nsplit = [\"train\", \"validation\"]\n"
                           "[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
                           "[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\n"
                           "width = 32\nheight = 32\n[stages.batch]\nuse = \"image.batch\"\n"
                           "input = \"augment\"\nbatch_size = 4\n[stages.train]\n"
                           "use = \"train.vgg\"\ninput = \"batch\"\nwidth_divisor = 16\n"
                           "device = \"cpu\"\noutput_dir = \"" +
                           (dir_ / "run").string() + "\"\n" + train);
  };
  const Result frozen = sluice("check " + config("frozen.toml", ""));
  EXPECT_EQ(frozen.code, 0) << frozen.out;
  EXPECT_NE(frozen.out.find("stage 'train': freeze = \"features\" without weights: the frozen "
                            "layers keep their random initial values"),
            std::string::npos)
      << frozen.out;
  // On stderr: --print's stdout stays a TOML file.
  const Result printed = stdout_of("check " + config("frozen.toml", "") + " --print");
  EXPECT_EQ(printed.code, 0) << printed.out;
  EXPECT_EQ(printed.out.find("without weights"), std::string::npos) << printed.out;
  // Every layer trained: nothing to say.
  const Result free = sluice("check " + config("free.toml", "freeze = \"none\"\n"));
  EXPECT_EQ(free.code, 0) << free.out;
  EXPECT_EQ(free.out.find("without weights"), std::string::npos) << free.out;
}
#endif

}  // namespace

// A run folder is a history: every `sluice run` that takes it (fresh, resumed,
// resumed with nothing left to do) records its command line, times, version,
// resolved config and profile in OUTPUT_DIR/invocations/NNN/, and no later one
// writes over an earlier one's; the top-level config.toml and profile.json stay the
// latest training's. A resume whose images (size, scaling) or label differ from the
// checkpoint's is refused by `sluice check` (exit 2) at the resume key. Tiny runs:
// 16 synthetic faces at 32x32, VGG11 with channels / 32.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;
using cli_test::read_text;
using cli_test::Result;
using cli_test::value_position;

Result sluice(const std::string& args) {
  return cli_test::run_command("timeout 300 " + std::string(SLUICE_BINARY) + " " + args);
}

class RunHistoryCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!SLUICE_WITH_TORCH) return;
    dir_ = fs::temp_directory_path() / ("sluice_run_history_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 60 --seed 2");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!SLUICE_WITH_TORCH) GTEST_SKIP() << "needs the training stages (built without LibTorch)";
  }

  struct Settings {
    std::string index;  // the index stage's use and label keys
    int epochs = 1;
    int width = 32;
    std::string rescale = "0.00392156862745098";
    std::string resume;
  };
  static std::string binary_label() {
    return "use = \"celeba.index\"\nroot = \"" + (dir_ / "celeba").string() +
           "\"\nlabel = \"Male\"\n";
  }
  static std::string hair_colour_label() {
    return "use = \"csv.index\"\nfile = \"" + (dir_ / "celeba" / "hair_colour.csv").string() +
           "\"\nlabel_column = \"hair_colour\"\nsplit_column = \"split\"\n";
  }

  // Writes the config `name`.toml training into `run`; returns its text.
  static std::string write_config(const fs::path& file, const fs::path& run, const Settings& s) {
    std::string t =
        "[pipeline]\nname = \"history\"\nseed = 7\nthreads = 2\n\n[stages.index]\n" + s.index +
        "split = [\"train\", \"validation\"]\nepochs = " + std::to_string(s.epochs) +
        "\nlimit = 16\n\n[stages.decode]\nuse = \"image.decode\"\ninput = \"index\"\n"
        "\n[stages.augment]\nuse = \"image.augment\"\ninput = \"decode\"\nwidth = " +
        std::to_string(s.width) + "\nheight = 32\nnormalize = \"none\"\nrescale = " + s.rescale +
        "\n\n[stages.batch]\nuse = \"image.batch\"\ninput = \"augment\"\n"
        "batch_size = 8\n\n[stages.train]\nuse = \"train.vgg\"\ninput = \"batch\"\n"
        "arch = \"vgg11\"\nwidth_divisor = 32\nhead = \"gap\"\nfreeze = \"none\"\n"
        "device = \"cpu\"\npatience = 0\noutput_dir = \"" +
        run.string() + "\"\n";
    if (!s.resume.empty()) t += "resume = \"" + s.resume + "\"\n";
    std::ofstream(file) << t;
    return t;
  }

  static fs::path dir_;
};

fs::path RunHistoryCli::dir_;

nlohmann::json invocation(const fs::path& record) {
  return nlohmann::json::parse(read_text(record / "invocation.json"));
}

TEST_F(RunHistoryCli, EveryInvocationKeepsItsOwnRecordAndNothingToDoKeepsTheLatest) {
  const fs::path run = dir_ / "history";
  const fs::path records = run / "invocations";
  Settings s;
  s.index = binary_label();
  const fs::path fresh = dir_ / "fresh.toml";
  write_config(fresh, run, s);
  Result r = sluice("run " + fresh.string());
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::is_directory(records / "001")) << r.out;
  auto first = invocation(records / "001");
  EXPECT_EQ(first["invocation"], 1);
  EXPECT_EQ(first["what"], "fresh");
  ASSERT_EQ(first["command"].size(), 3u) << first.dump();
  EXPECT_EQ(first["command"][1], "run");
  EXPECT_EQ(first["command"][2], fresh.string());
  EXPECT_EQ(first["status"], "completed");
  EXPECT_FALSE(first["version"].get<std::string>().empty());
  EXPECT_EQ(first["working_directory"], fs::current_path().string());
  EXPECT_EQ(first["started"].get<std::string>().size(), 20u) << first.dump();  // ISO 8601, UTC
  EXPECT_TRUE(first.contains("finished"));
  EXPECT_NE(read_text(records / "001" / "config.toml").find("epochs = 1"), std::string::npos);
  EXPECT_EQ(read_text(run / "config.toml"), read_text(records / "001" / "config.toml"));
  EXPECT_EQ(read_text(run / "profile.json"), read_text(records / "001" / "profile.json"));
  const std::string first_json = read_text(records / "001" / "invocation.json");
  const std::string first_config = read_text(records / "001" / "config.toml");
  const std::string first_profile = read_text(records / "001" / "profile.json");

  // A resume that trains a second epoch: record 002, the top-level files are its own.
  s.epochs = 2;
  s.resume = (run / "last.pt").string();
  const fs::path resume = dir_ / "resume.toml";
  write_config(resume, run, s);
  r = sluice("run " + resume.string());
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::is_directory(records / "002")) << r.out;
  EXPECT_EQ(invocation(records / "002")["what"], "resume");
  EXPECT_NE(read_text(records / "002" / "config.toml").find("epochs = 2"), std::string::npos);
  EXPECT_EQ(read_text(run / "config.toml"), read_text(records / "002" / "config.toml"));
  const std::string trained_profile = read_text(run / "profile.json");
  EXPECT_EQ(trained_profile, read_text(records / "002" / "profile.json"));

  // The same resume again: nothing to do. Its record is 003; the run's config and
  // profile stay those of the run that trained.
  r = sluice("run " + resume.string());
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_NE(r.out.find("nothing to do"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::is_directory(records / "003")) << r.out;
  const auto idle = invocation(records / "003");
  EXPECT_EQ(idle["what"], "nothing to do");
  EXPECT_TRUE(idle.contains("status")) << idle.dump();
  EXPECT_TRUE(fs::exists(records / "003" / "profile.json"));
  EXPECT_EQ(read_text(run / "profile.json"), trained_profile);
  EXPECT_EQ(read_text(run / "config.toml"), read_text(records / "002" / "config.toml"));

  // No invocation wrote over an earlier one's record.
  EXPECT_EQ(read_text(records / "001" / "invocation.json"), first_json);
  EXPECT_EQ(read_text(records / "001" / "config.toml"), first_config);
  EXPECT_EQ(read_text(records / "001" / "profile.json"), first_profile);
  EXPECT_FALSE(fs::exists(records / "004"));
}

// A checkpoint trained on the 3-class hair colour label, 32x32, pixels / 255: a resume
// on other images or another label is a config error at the resume key.
TEST_F(RunHistoryCli, ResumeWithAnotherSizeScalingOrLabelIsRefusedAtTheKey) {
  const fs::path run = dir_ / "hair";
  Settings s;
  s.index = hair_colour_label();
  const fs::path first = dir_ / "hair.toml";
  write_config(first, run, s);
  Result r = sluice("run " + first.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string checkpoint = (run / "last.pt").string();
  ASSERT_TRUE(fs::exists(checkpoint));

  s.resume = checkpoint;
  s.epochs = 2;
  const fs::path file = dir_ / "hair-resume.toml";
  struct Case {
    std::string what;
    Settings settings;
    std::string message;
  };
  Settings wider = s, halved = s, binary = s;
  wider.width = 48;
  halved.rescale = "0.5";
  binary.index = binary_label();
  const std::string trained = "resume: " + checkpoint + " was trained on ";
  for (const Case& c : {Case{"size", wider,
                             trained + "32x32 images (width x height) but its input images are "
                                       "48x32 (set by stage 'augment')"},
                        Case{"scaling", halved,
                             trained + "pixels scaled uint8->rescale 1/255 but its input "
                                       "images are scaled uint8->rescale 1/2"},
                        Case{"label", binary, trained + "a categorical"}}) {
    const std::string text = write_config(file, run, c.settings);
    r = sluice("check " + file.string());
    EXPECT_EQ(r.code, 2) << c.what << "\n" << r.out;
    const std::string where = value_position(file.string(), text, "resume") + ": error: ";
    EXPECT_NE(r.out.find(where), std::string::npos) << c.what << ": want " << where << "\n"
                                                    << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.what << "\n" << r.out;
    if (c.what == "label") {
      EXPECT_NE(r.out.find("but its input label is binary"), std::string::npos) << r.out;
    }
    // The run refuses it before it starts, and leaves the run folder as it was.
    r = sluice("run " + file.string());
    EXPECT_EQ(r.code, 2) << c.what << "\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(run / "invocations" / "002"));
  // What it was trained on resumes.
  write_config(file, run, s);
  r = sluice("check " + file.string());
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace

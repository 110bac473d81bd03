// image.cache across processes: a second `sluice run` reads the first run's
// disk cache (hits in its first epoch, no decode), a changed resize reads none
// of it, the counters are in the --profile JSON, and `sluice check` refuses a
// bad budget with exit 2 at the key.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run_command.h"

namespace {

namespace fs = std::filesystem;

using cli_test::Result;

Result sluice(const std::string& args) {
  return cli_test::run_command(std::string(SLUICE_BINARY) + " " + args);
}

class CacheCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sluice_cache_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const Result r = sluice("synth --out " + (dir_ / "celeba").string() + " --count 30 --seed 2");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // index (train, 1 epoch) -> image.cache (disk only) -> augment -> batch -> discard.
  static fs::path write_config(const std::string& name, const std::string& cache_extra) {
    const fs::path file = dir_ / (name + ".toml");
    std::ofstream(file) << "[stages.index]\nuse = \"celeba.index\"\nroot = \""
                        << (dir_ / "celeba").string()
                        << "\"\nsplit = \"train\"\n\n[stages.cache]\nuse = \"image.cache\"\n"
                           "input = \"index\"\nbudget = \"0\"\ndir = \""
                        << (dir_ / "cache").string() << "\"\n"
                        << cache_extra
                        << "\n[stages.augment]\nuse = \"image.augment\"\ninput = \"cache\"\n"
                           "width = 32\nheight = 32\nflip = true\n\n[stages.batch]\n"
                           "use = \"image.batch\"\ninput = \"augment\"\nbatch_size = 8\n\n"
                           "[stages.sink]\nuse = \"util.discard\"\ninput = \"batch\"\n";
    return file;
  }

  // Runs `file` in a process of its own; the counters of its --profile JSON.
  static nlohmann::json run_counters(const fs::path& file, const std::string& extra = "") {
    const fs::path profile = dir_ / "profile.json";
    fs::remove(profile);
    const Result r =
        sluice("run " + file.string() + " --profile " + profile.string() + " --threads 2" + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return nlohmann::json::parse(cli_test::read_text(profile))["counters"];
  }

  static fs::path dir_;
};
fs::path CacheCli::dir_;

TEST_F(CacheCli, ASecondRunReadsTheDiskCacheAndAChangedResizeDoesNot) {
  const fs::path file = write_config("disk", "width = 64\nheight = 80\n");
  const nlohmann::json first = run_counters(file);
  const int64_t images = first["cache.misses"].get<int64_t>();
  ASSERT_GT(images, 15);
  EXPECT_EQ(first["cache.hits"].get<int64_t>(), 0);
  EXPECT_EQ(first["cache.disk_writes"].get<int64_t>(), images);

  const nlohmann::json second = run_counters(file);  // a new process: memory is empty
  EXPECT_EQ(second["cache.misses"].get<int64_t>(), 0);
  EXPECT_EQ(second["cache.hits"].get<int64_t>(), images);
  EXPECT_EQ(second["cache.disk_hits"].get<int64_t>(), images);
  EXPECT_EQ(second["cache.disk_bad"].get<int64_t>(), 0);

  // Another size: other pixels, so none of the entries above may be read.
  const nlohmann::json resized = run_counters(file, " --set cache.width=48");
  EXPECT_EQ(resized["cache.disk_hits"].get<int64_t>(), 0);
  EXPECT_EQ(resized["cache.misses"].get<int64_t>(), images);
  size_t folders = 0;
  for (const auto& e : fs::directory_iterator(dir_ / "cache")) folders += e.is_directory();
  EXPECT_EQ(folders, 2u);  // one per fingerprint
}

TEST_F(CacheCli, CheckRefusesABadBudgetWithExitTwoAtTheKey) {
  const fs::path file = write_config("bad", "dir_budget = \"lots\"\n");
  const Result r = sluice("check " + file.string());
  EXPECT_EQ(r.code, 2) << r.out;
  // dir_budget is on line 11 of the file; its value starts at column 14.
  EXPECT_NE(r.out.find(file.string() + ":11:14: error: stage 'cache' (image.cache): dir_budget: "
                                       "expected a byte size"),
            std::string::npos)
      << r.out;
}

}  // namespace

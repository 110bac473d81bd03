// The sluice command with plugins: --plugin, SLUICE_PLUGIN_PATH and a
// config's pipeline.plugins (relative to the config file), and how a refused
// plugin is reported (exit code 2, with the config position).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "plugin_test_util.h"
#include "stages/data/synth_celeba.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using plugin_test::quote;
using plugin_test::run_command;
using ::testing::HasSubstr;

const std::string kSluice = quote(SLUICE_BINARY);

TEST(PluginCli, StagesListsPluginStagesWithTheirOrigin) {
  const std::string plugin = fs::weakly_canonical(SLUICE_EXAMPLE_PLUGIN).string();
  auto r = run_command(kSluice + " stages --plugin " + quote(SLUICE_EXAMPLE_PLUGIN));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("image.random_erasing  [transform: Image -> Image]  (from " +
                                  plugin + ")"));
  EXPECT_THAT(r.output, HasSubstr("stats.batch_csv  [sink: Batch ->]  (from " + plugin + ")"));

  r = run_command(kSluice + " stages image.random_erasing --plugin " +
                  quote(SLUICE_EXAMPLE_PLUGIN));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("origin:      " + plugin));
  EXPECT_THAT(r.output, HasSubstr("scale (list of floats, default [0.02, 0.33]"));
}

TEST(PluginCli, TheExampleConfigsValidate) {
  const fs::path dir = fs::path(SLUICE_EXAMPLE_CONFIG).parent_path();
  std::vector<std::string> configs = {"celeba-random-erasing.toml"};
  // The gender recipe trains: a build without LibTorch has no train.vgg.
  if (SLUICE_WITH_TORCH) configs.push_back("celeba-gender-random-erasing.toml");
  // Validation reads the dataset's index header: check against a synthetic one.
  plugin_test::ScratchDir data("example_configs");
  data::write_synthetic_celeba({data / "celeba", 20, 3, 90});
  const std::string root = quote("index.root=\"" + data / "celeba" + "\"");
  for (const std::string& config : configs) {
    auto r = run_command(kSluice + " check " + quote((dir / config).string()) + " --plugin " +
                         quote(SLUICE_EXAMPLE_PLUGIN) + " --set " + root);
    EXPECT_EQ(r.exit_code, 0) << config << ":\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("erase (image.random_erasing, auto) <- augment"));
    EXPECT_THAT(r.output, HasSubstr("stats (stats.batch_csv, serial) <- batch"));
    // The plugin's transform passes its input's spec through (same port types).
    EXPECT_THAT(r.output, HasSubstr("erase -> batch: Image{224x224x3 uint8->"));
  }
}

TEST(PluginCli, LoadsEverySharedLibraryOfThePluginPath) {
  const std::string dir = fs::path(SLUICE_EXAMPLE_PLUGIN).parent_path().string();
  auto r = run_command("SLUICE_PLUGIN_PATH=" + quote("/nonexistent:" + dir) + " " + kSluice +
                       " stages stats.batch_csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stats.batch_csv — Writes per-batch statistics"));
}

TEST(PluginCli, ARefusedPluginOnThePluginPathSaysWhereItWasFound) {
  auto r = run_command("SLUICE_PLUGIN_PATH=" + quote(SLUICE_TEST_PLUGIN_DIR) + " " + kSluice +
                       " stages");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("sluice stages: error: cannot load plugin"));
  EXPECT_THAT(r.output, HasSubstr("(found in SLUICE_PLUGIN_PATH)"));
}

TEST(PluginCli, ABadPluginOnTheCommandLineExitsWithCode2) {
  plugin_test::ScratchDir dir("plugin_cli_bad");
  plugin_test::write_file(dir / "libfake.so", "not a library");
  auto r = run_command(kSluice + " stages --plugin " + quote(dir / "libfake.so"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("not a shared library (dlopen: "));
}

TEST(PluginCli, ConfigPluginsAreRelativeToTheConfigAndRefusalsArePositioned) {
  plugin_test::ScratchDir dir("plugin_cli_config");
  fs::create_directories(dir.path() / "conf");
  fs::create_directories(dir.path() / "lib");
  fs::copy_file(SLUICE_EXAMPLE_PLUGIN, dir / "lib/libexample.so");
  const std::string graph = R"(
[stages.numbers]
use = "gen.range"
count = 10

[stages.sum]
use = "util.sum"
input = "numbers"
)";
  plugin_test::write_file(dir / "conf/good.toml",
                          "[pipeline]\nplugins = [\"../lib/libexample.so\"]\n" + graph);
  auto r = run_command(kSluice + " stages image.random_erasing --plugin " +
                       quote(dir / "lib/libexample.so"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // `check` validates with the config's plugins loaded (and the same file on
  // the command line too: loaded once).
  r = run_command(kSluice + " check " + quote(dir / "conf/good.toml") + " --plugin " +
                  quote(dir / "lib/libexample.so"));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  plugin_test::write_file(dir / "conf/bad.toml",
                          "[pipeline]\nplugins = [\"../lib/libmissing.so\"]\n" + graph);
  r = run_command(kSluice + " check " + quote(dir / "conf/bad.toml"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(dir / "conf/bad.toml" + ":2:"));
  EXPECT_THAT(r.output, HasSubstr("error: cannot load plugin '" + dir / "lib/libmissing.so" +
                                  "': no such file"));
}

}  // namespace
}  // namespace sluice

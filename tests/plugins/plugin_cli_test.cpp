// The sluice command with plugins: --plugin, SLUICE_PLUGIN_PATH and a
// config's pipeline.plugins (relative to the config file), and how a refused
// plugin is reported (exit code 2, with the config position).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/port_type.h"
#include "plugin_test_util.h"
#include "stages/data/synth_celeba.h"
#include "vision/payloads.h"

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
  EXPECT_THAT(r.output, HasSubstr("C++ types:   " + cpp_type_name(typeid(Image)) + " -> " +
                                  cpp_type_name(typeid(Image))));
  EXPECT_THAT(r.output, HasSubstr("scale (list of floats, default [0.02, 0.33]"));
}

// `sluice check` also checks that the data and files a config names exist: point
// the example configs at a synthetic CelebA, no weights and a fresh run folder.
std::string example_overrides(const plugin_test::ScratchDir& scratch) {
  data::write_synthetic_celeba({scratch / "celeba", 12, 3, 90});
  return " --set " + quote("index.root=\"" + scratch / "celeba" + "\"") + " --set " +
         quote("train.weights=\"\"") + " --set " +
         quote("train.output_dir=\"" + scratch / "run" + "\"");
}

TEST(PluginCli, TheExampleConfigsValidate) {
  const fs::path dir = fs::path(SLUICE_EXAMPLE_CONFIG).parent_path();
  std::vector<std::string> configs = {"celeba-random-erasing.toml"};
  // The gender recipe trains: a build without LibTorch has no train.vgg.
  if (SLUICE_WITH_TORCH) configs.push_back("celeba-gender-random-erasing.toml");
  plugin_test::ScratchDir scratch("plugin_cli_examples");
  const std::string overrides = example_overrides(scratch);
  for (const std::string& config : configs) {
    const bool trains = config == "celeba-gender-random-erasing.toml";
    auto r = run_command(
        kSluice + " check " + quote((dir / config).string()) + " --plugin " +
        quote(SLUICE_EXAMPLE_PLUGIN) +
        (trains ? overrides : " --set " + quote("index.root=\"" + scratch / "celeba" + "\"")));
    EXPECT_EQ(r.exit_code, 0) << config << ":\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("erase (image.random_erasing, auto) <- augment"));
    EXPECT_THAT(r.output, HasSubstr("stats (stats.batch_csv, serial) <- batch"));
    // The plugin's transform passes its input's spec through (same port types).
    EXPECT_THAT(r.output, HasSubstr("erase -> batch: Image{224x224x3 uint8->"));
  }
}

TEST(PluginCli, ThePrintedConfigNamesThePluginsItNeeds) {
  // Loaded with --plugin or from SLUICE_PLUGIN_PATH, the plugin must be in the
  // printed [pipeline] plugins, so that the file checks (and runs) on its own.
  plugin_test::ScratchDir scratch("plugin_cli_print");
  data::write_synthetic_celeba({scratch / "celeba", 12, 3, 90});
  const std::string overrides = " --set " + quote("index.root=\"" + scratch / "celeba" + "\"");
  const std::string config =
      (fs::path(SLUICE_EXAMPLE_CONFIG).parent_path() / "celeba-random-erasing.toml").string();
  const std::string plugin = fs::weakly_canonical(SLUICE_EXAMPLE_PLUGIN).string();
  const std::string plugin_dir = fs::path(SLUICE_EXAMPLE_PLUGIN).parent_path().string();
  for (const std::string& how : {" --plugin " + quote(SLUICE_EXAMPLE_PLUGIN), std::string()}) {
    const std::string env = how.empty() ? "SLUICE_PLUGIN_PATH=" + quote(plugin_dir) + " " : "";
    auto printed = run_command("{ " + env + kSluice + " check " + quote(config) + how + overrides +
                               " --print 2>/dev/null; }");
    ASSERT_EQ(printed.exit_code, 0) << printed.output;
    EXPECT_THAT(printed.output, HasSubstr("plugins = [ '" + plugin + "' ]"));
    plugin_test::write_file(scratch / "printed.toml", printed.output);
    auto alone = run_command(kSluice + " check " + quote(scratch / "printed.toml"));
    EXPECT_EQ(alone.exit_code, 0) << alone.output;
    EXPECT_THAT(alone.output, HasSubstr("erase (image.random_erasing, auto) <- augment"));
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

// A config decoding a synthetic CelebA into `sink` (line 12: the edge into it).
std::string decode_into(const plugin_test::ScratchDir& dir, const std::string& sink,
                        const std::string& sink_params) {
  data::write_synthetic_celeba({dir / "celeba", 12, 3, 90});
  const std::string config = dir / "typed.toml";
  plugin_test::write_file(config,
                          "[stages.index]\n"
                          "use = \"celeba.index\"\n"
                          "root = \"" +
                              dir / "celeba" +
                              "\"\n"
                              "label = \"Male\"\n"
                              "\n"
                              "[stages.decode]\n"
                              "use = \"image.decode\"\n"
                              "input = \"index\"\n"
                              "\n"
                              "[stages.sink]\n"
                              "use = \"" +
                              sink +
                              "\"\n"
                              "input = \"decode\"\n" +
                              sink_params);
  return config;
}

TEST(PluginCli, CheckRefusesImagesWiredIntoABatchSinkNamingBothTypes) {
  plugin_test::ScratchDir dir("plugin_cli_typed_batch");
  const std::string config = decode_into(dir, "stats.batch_csv", "path = \"stats.csv\"\n");
  auto r = run_command(kSluice + " check " + quote(config) + " --plugin " +
                       quote(SLUICE_EXAMPLE_PLUGIN));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config +
                                  ":12:9: error: port type mismatch: input 'decode' "
                                  "(image.decode) emits Image (" +
                                  cpp_type_name(typeid(Image)) +
                                  ") from its output port, but stage 'sink' (stats.batch_csv) "
                                  "takes Batch (" +
                                  cpp_type_name(typeid(Batch)) + ") on its input port"));
}

TEST(PluginCli, CheckRefusesAPluginWhosePayloadIsAnotherTypeOfTheSameName) {
  // The plugin loads (its SDK version is right), but its "Image" is not sluice's.
  plugin_test::ScratchDir dir("plugin_cli_typed_other");
  const std::string config = decode_into(dir, "other.count_images", "");
  const std::string plugin = std::string(SLUICE_TEST_PLUGIN_DIR) + "/libplugin_payload.so";
  auto r = run_command(kSluice + " check " + quote(config) + " --plugin " + quote(plugin));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(config +
                                  ":12:9: error: port type mismatch: input 'decode' "
                                  "(image.decode) emits Image (" +
                                  cpp_type_name(typeid(Image)) +
                                  ") from its output port, but stage 'sink' "
                                  "(other.count_images) takes Image (other::Image) on its "
                                  "input port"));
}

}  // namespace
}  // namespace sluice

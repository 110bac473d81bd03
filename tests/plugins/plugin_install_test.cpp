// The user's path, end to end: install this build into a temporary prefix,
// configure and build examples/plugins there with find_package(sluice), and
// run the installed `sluice` on the example config with the new plugin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "plugin_test_util.h"
#include "stages/data/synth_celeba.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using plugin_test::quote;
using plugin_test::run_command;
using ::testing::HasSubstr;

TEST(PluginInstall, OutOfTreePluginBuildsAgainstAnInstalledSluiceAndRuns) {
  plugin_test::ScratchDir dir("plugin_install");
  const std::string cmake = quote(SLUICE_CMAKE_COMMAND);
  const std::string prefix = dir / "prefix";

  auto r =
      run_command(cmake + " --install " + quote(SLUICE_BUILD_DIR) + " --prefix " + quote(prefix));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f :
       {"bin/sluice", "lib/libsluice_pipeline.so", "lib/libsluice_vision.so",
        "lib/cmake/sluice/sluiceConfig.cmake", "include/sluice/pipeline/stage.h",
        "include/sluice/pipeline/plugin_api.h", "include/sluice/pipeline/port_type.h",
        "include/sluice/vision/payloads.h", "include/sluice/pipeline/testing/stage_harness.h"}) {
    EXPECT_TRUE(fs::exists(dir.path() / "prefix" / f)) << f;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "prefix/include/sluice/pipeline/trace.h"));  // internal
  // The payload types moved out of the core; the built-in stages are the host's.
  EXPECT_FALSE(fs::exists(dir.path() / "prefix/include/sluice/pipeline/payloads.h"));
  EXPECT_FALSE(fs::exists(dir.path() / "prefix/include/sluice/stages/builtin.h"));
  EXPECT_THAT(plugin_test::read_file(dir / "prefix/include/sluice/pipeline/registry.h"),
              ::testing::Not(HasSubstr("register_builtin_stages")));

  // The example's folder, copied away from the source tree, as a user's plugin.
  fs::copy(fs::path(SLUICE_SOURCE_DIR) / "examples/plugins", dir.path() / "src",
           fs::copy_options::recursive);
  std::string configure = cmake + " -S " + quote(dir / "src") + " -B " + quote(dir / "build") +
                          " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + quote(prefix);
  if (!run_command("command -v ccache").output.empty()) {
    configure += " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache";
  }
  r = run_command(configure);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(cmake + " --build " + quote(dir / "build") + " -j2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string plugin = dir / "build/libsluice_example_plugins.so";
  ASSERT_TRUE(fs::exists(plugin));

  data::write_synthetic_celeba({dir / "celeba", 40, 5, 90});
  const std::string csv = dir / "stats.csv";
  r = run_command("env -u SLUICE_PLUGIN_PATH " + quote(prefix + "/bin/sluice") + " run " +
                  quote(dir / "src/celeba-random-erasing.toml") + " --plugin " + quote(plugin) +
                  " --set " + quote("index.root=\"" + dir / "celeba" + "\"") + " --set " +
                  quote("stats.path=\"" + csv + "\"") +
                  " --set augment.width=48 --set augment.height=48 --set batch.batch_size=8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("completed"));
  EXPECT_THAT(r.output, HasSubstr("image.random_erasing"));
  EXPECT_THAT(r.output, HasSubstr("erase.erased = "));

  std::istringstream lines(plugin_test::read_file(csv));
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) ++rows;
  EXPECT_GE(rows, 2) << plugin_test::read_file(csv);

  // The plugin's folder on SLUICE_PLUGIN_PATH works as well as --plugin.
  r = run_command("SLUICE_PLUGIN_PATH=" + quote(dir / "build") + " " +
                  quote(prefix + "/bin/sluice") + " stages");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(from " + fs::weakly_canonical(plugin).string() + ")"));
}

}  // namespace
}  // namespace sluice

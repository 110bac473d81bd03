// load_plugin: the example plugin loads with its path as origin, and each kind
// of bad library is refused with a message that says what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "pipeline/plugin.h"
#include "pipeline/plugin_api.h"
#include "plugin_test_util.h"
#include "stages/builtin.h"
#include "vision/payloads.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string test_plugin(const std::string& name) {
  return std::string(SLUICE_TEST_PLUGIN_DIR) + "/libplugin_" + name + ".so";
}

std::string canonical(const std::string& path) { return fs::weakly_canonical(path).string(); }

// The message of the PluginError that loading `path` into `registry` throws.
std::string refusal(const std::string& path, Registry& registry) {
  try {
    load_plugin(path, registry);
  } catch (const PluginError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loading " << path << " did not throw PluginError";
  return {};
}

Registry builtins() {
  Registry r;
  register_builtin_stages(r);
  return r;
}

TEST(PluginLoader, ExamplePluginAddsItsStagesWithItsPathAsOrigin) {
  Registry registry = builtins();
  LoadedPlugin p = load_plugin(SLUICE_EXAMPLE_PLUGIN, registry);
  EXPECT_EQ(p.name, "example_stages");
  EXPECT_EQ(p.path, canonical(SLUICE_EXAMPLE_PLUGIN));
  EXPECT_EQ(p.stages, (std::vector<std::string>{"image.random_erasing", "stats.batch_csv"}));
  EXPECT_FALSE(p.already_loaded);
  const StageEntry* e = registry.find("image.random_erasing");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->origin, p.path);
  EXPECT_EQ(e->spec.input.name, "Image");
  EXPECT_TRUE(e->spec.input.same_as(port_type<Image>()));  // the host's C++ type
  EXPECT_EQ(registry.find("image.decode")->origin, "built-in");
  EXPECT_EQ(registry.origin(), "built-in");  // restored after loading
}

TEST(PluginLoader, LoadingTheSameFileTwiceIsANoOp) {
  Registry registry = builtins();
  const size_t before = registry.entries().size();
  load_plugin(SLUICE_EXAMPLE_PLUGIN, registry);
  // Another spelling of the same path: same canonical origin.
  const fs::path p(SLUICE_EXAMPLE_PLUGIN);
  LoadedPlugin again = load_plugin((p.parent_path() / "." / p.filename()).string(), registry);
  EXPECT_TRUE(again.already_loaded);
  EXPECT_EQ(registry.entries().size(), before + 2);
}

TEST(PluginLoader, RefusesATextFileRenamedSo) {
  plugin_test::ScratchDir dir("plugin_text");
  const std::string path = dir / "libnotes.so";
  plugin_test::write_file(path, std::string(100, '#') + "\nthese are my notes, not a library\n");
  Registry registry;
  const std::string msg = refusal(path, registry);
  EXPECT_THAT(msg, HasSubstr("cannot load plugin '" + canonical(path) + "'"));
  EXPECT_THAT(msg, HasSubstr("not a shared library"));
  // dlerror()'s own words follow.
  EXPECT_THAT(msg, HasSubstr("(dlopen: " + canonical(path) + ": invalid ELF header)"));
}

TEST(PluginLoader, RefusesAMissingFile) {
  Registry registry;
  EXPECT_THAT(refusal("/nonexistent/libnothing.so", registry),
              HasSubstr("cannot load plugin '/nonexistent/libnothing.so': no such file"));
}

TEST(PluginLoader, RefusesALibraryWithoutTheEntryPoint) {
  Registry registry;
  const std::string msg = refusal(test_plugin("no_entry"), registry);
  EXPECT_THAT(msg, HasSubstr("not a sluice plugin: no entry point sluice_plugin_entry_v1"));
  EXPECT_THAT(msg, HasSubstr("SLUICE_PLUGIN"));
}

TEST(PluginLoader, RefusesAPluginBuiltForAnotherSdkVersionNamingBoth) {
  Registry registry;
  const std::string msg = refusal(test_plugin("wrong_version"), registry);
  EXPECT_THAT(msg, HasSubstr("plugin 'from_the_future' was built for sluice SDK version " +
                             std::to_string(kSdkVersion + 1)));
  EXPECT_THAT(msg, HasSubstr("this sluice has SDK version " + std::to_string(kSdkVersion)));
  EXPECT_TRUE(registry.entries().empty());
}

TEST(PluginLoader, NamesTheSdkVersionsWhenANewerPluginHasUnresolvedSymbols) {
  Registry registry;
  const std::string msg = refusal(test_plugin("future_symbols"), registry);
  EXPECT_THAT(msg, HasSubstr("plugin 'from_the_future' was built for sluice SDK version " +
                             std::to_string(kSdkVersion + 1)));
  EXPECT_THAT(msg, HasSubstr("undefined symbol"));
}

TEST(PluginLoader, RefusesADuplicateStageNameNamingBothOriginsAndAddsNothing) {
  Registry registry = builtins();
  const size_t before = registry.entries().size();
  const std::string path = canonical(test_plugin("duplicate"));
  const std::string msg = refusal(test_plugin("duplicate"), registry);
  EXPECT_THAT(msg,
              HasSubstr("stage 'image.decode' is registered twice: by built-in and by " + path));
  EXPECT_EQ(registry.entries().size(), before);
  EXPECT_EQ(registry.find("dup.unique"), nullptr);
  EXPECT_EQ(registry.find("image.decode")->origin, "built-in");
}

TEST(PluginLoader, RefusesAStageNameTakenByAnotherPlugin) {
  Registry registry;
  registry.set_origin("/opt/other/libother.so");
  registry.add(StageSpec("dup.unique").transform<AnyPayload, AnyPayload>(),
               [](const Params&) -> std::unique_ptr<Stage> { return nullptr; });
  registry.set_origin("built-in");
  EXPECT_THAT(
      refusal(test_plugin("duplicate"), registry),
      HasSubstr("stage 'dup.unique' is registered twice: by /opt/other/libother.so and by " +
                canonical(test_plugin("duplicate"))));
}

TEST(PluginLoader, RefusesAPluginWhoseRegistrationThrows) {
  Registry registry;
  EXPECT_THAT(refusal(test_plugin("throws"), registry),
              HasSubstr("plugin 'throws' failed to register its stages: model file 'weights.bin' "
                        "not found"));
}

TEST(PluginLoader, PluginPathListsSharedLibrariesOfEachDirectoryInOrder) {
  plugin_test::ScratchDir dir("plugin_path");
  fs::create_directories(dir.path() / "a");
  fs::create_directories(dir.path() / "b");
  for (const char* f : {"a/libz.so", "a/liba.so", "a/readme.txt", "b/libm.so"}) {
    plugin_test::write_file(dir / f, "");
  }
  const std::string search = dir / "b" + "::" + dir / "missing" + ":" + dir / "a";
  EXPECT_EQ(plugin_files_in(search),
            (std::vector<std::string>{dir / "b/libm.so", dir / "a/liba.so", dir / "a/libz.so"}));
  EXPECT_TRUE(plugin_files_in("").empty());
}

}  // namespace
}  // namespace sluice

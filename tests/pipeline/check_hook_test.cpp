// StageSpec::check: a stage's own parameter rules run by validate(), reported
// like every other config error, at the offending key.
#include <gtest/gtest.h>

#include "pipeline/config.h"
#include "pipeline/validate.h"
#include "tests/pipeline/test_stages.h"

namespace sluice {
namespace {

// A source whose [lo, hi] must be ordered and whose `mode = "file"` needs `path`.
Registry registry_with_checked_stage(int* calls = nullptr) {
  Registry r = testing::test_registry();
  r.add<testing::Counting>(
      StageSpec("test.checked")
          .source<int64_t>()
          .param(ParamSpec::integer("count", 3, "items"))
          .param(ParamSpec::integer("epochs", 1, "epochs"))
          .param(ParamSpec::integer("sleep_us", 0, "delay"))
          .param(ParamSpec::number("lo", 0.0, "low end"))
          .param(ParamSpec::number("hi", 1.0, "high end"))
          .param(ParamSpec::string("mode", "none", "none or file").one_of({"none", "file"}))
          .param(ParamSpec::string("path", "", "with mode = file"))
          .check([calls](const ParamCheck& c) {
            if (calls) ++*calls;
            if (c.params().get_float("lo") > c.params().get_float("hi")) {
              c.error("lo", "lo must not exceed hi");
            }
          })
          .check([](const ParamCheck& c) {
            if (c.params().get_string("mode") == "file" && !c.given("path")) {
              c.error("path", "mode = \"file\" needs path (in " + c.config_dir() + ")");
            }
            if (c.params().get_string("path") == "boom") throw std::runtime_error("kaboom");
          }));
  return r;
}

std::vector<Diagnostic> errors_of(const Registry& registry, const std::string& toml,
                                  const std::vector<std::string>& overrides = {}) {
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config_string(toml, "test.toml", overrides, errors);
  validate(config, registry, errors);
  return errors;
}

TEST(CheckHook, ErrorIsReportedAtTheValueOfTheKey) {
  const auto errors = errors_of(registry_with_checked_stage(),
                                "[stages.src]\nuse = \"test.checked\"\nlo = 2.5\nhi = 1\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.file, "test.toml");
  EXPECT_EQ(errors[0].where.line, 3);
  EXPECT_EQ(errors[0].where.column, 6);
  EXPECT_EQ(errors[0].message, "stage 'src' (test.checked): lo must not exceed hi");
}

TEST(CheckHook, KeyNotGivenIsReportedAtTheStageHeader) {
  const auto errors = errors_of(registry_with_checked_stage(),
                                "[stages.src]\nuse = \"test.checked\"\nmode = \"file\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 1);
  EXPECT_EQ(errors[0].where.column, 1);
  EXPECT_EQ(errors[0].message, "stage 'src' (test.checked): mode = \"file\" needs path (in .)");
}

TEST(CheckHook, AnOverrideIsReportedAtTheSet) {
  const auto errors = errors_of(registry_with_checked_stage(),
                                "[stages.src]\nuse = \"test.checked\"\n", {"src.lo=5"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.file, "--set src.lo=5");
}

TEST(CheckHook, RunsOnlyWhenEveryParameterPassedItsSpec) {
  int calls = 0;
  const Registry r = registry_with_checked_stage(&calls);
  auto errors = errors_of(r, "[stages.src]\nuse = \"test.checked\"\nlo = \"x\"\nhi = -1\n");
  ASSERT_EQ(errors.size(), 1u);  // the type error alone
  EXPECT_NE(errors[0].message.find("expects float"), std::string::npos);
  EXPECT_EQ(calls, 0);
  errors = errors_of(r, "[stages.src]\nuse = \"test.checked\"\n");
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(calls, 1);
}

TEST(CheckHook, AThrowingHookIsAnErrorOfTheStage) {
  const auto errors = errors_of(registry_with_checked_stage(),
                                "[stages.src]\nuse = \"test.checked\"\npath = \"boom\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 1);
  EXPECT_NE(errors[0].message.find("kaboom"), std::string::npos) << errors[0].message;
}

TEST(CheckHook, LoadingThrowsWithTheHooksErrors) {
  try {
    load_pipeline_string("[stages.src]\nuse = \"test.checked\"\nlo = 3\n", "t.toml", {},
                         registry_with_checked_stage());
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(format_diagnostic(e.diagnostics()[0]),
              "t.toml:3:6: error: stage 'src' (test.checked): lo must not exceed hi");
  }
}

}  // namespace
}  // namespace sluice

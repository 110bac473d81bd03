// Config loading and validation: every error class with its exact position,
// all errors reported at once, includes and --set overrides.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "pipeline/config.h"
#include "pipeline/config_writer.h"
#include "pipeline/validate.h"
#include "tests/pipeline/test_stages.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// Raw strings below start with a newline for readability; drop it so that
// line 1 is the first line of the config.
std::string text(const char* s) { return std::string(s[0] == '\n' ? s + 1 : s); }

std::vector<Diagnostic> errors_of(const std::string& toml,
                                  const std::vector<std::string>& overrides = {}) {
  Registry registry = testing::test_registry();
  std::vector<Diagnostic> errors;
  GraphConfig config = load_config_string(toml, "test.toml", overrides, errors);
  if (!config.stages.empty()) validate(config, registry, errors);
  return errors;
}

void expect_one(const std::vector<Diagnostic>& errors, int line, int column,
                const std::string& fragment) {
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? "no error" : format_diagnostic(errors[0]));
  EXPECT_EQ(errors[0].where.line, line) << format_diagnostic(errors[0]);
  EXPECT_EQ(errors[0].where.column, column) << format_diagnostic(errors[0]);
  EXPECT_NE(errors[0].message.find(fragment), std::string::npos) << format_diagnostic(errors[0]);
}

const char* kValid = R"(
[stages.numbers]
use = "test.count"
count = 20

[stages.add]
use = "test.jitter"
input = "numbers"

[stages.out]
use = "test.record"
input = "add"
)";

TEST(Config, ValidGraphHasNoErrors) { EXPECT_TRUE(errors_of(text(kValid)).empty()); }

TEST(Config, UnknownStageTypeReportsLineColumnAndSuggestion) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.cuont"
)"));
  expect_one(errors, 2, 7, "unknown stage type 'test.cuont'; did you mean 'test.count'?");
}

TEST(Config, UnknownParameterReportsKeyPositionAndSuggestion) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"
  cuont = 3
)"));
  expect_one(errors, 3, 3, "unknown parameter 'cuont'; did you mean 'count'?");
}

TEST(Config, WrongTypeReportsValuePosition) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"
count = "ten"
)"));
  expect_one(errors, 3, 9, "parameter 'count' expects integer, got string");
}

TEST(Config, OutOfRangeValueReportsBounds) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"
count = -4
)"));
  expect_one(errors, 3, 9, "parameter 'count' must be >= 0, got -4");
}

// NaN and infinities reached stages (a NaN zoom crashed the warp): every float
// and float-list parameter refuses them at the value's position, range or not.
TEST(Config, NonFiniteFloatsAreRefusedAtTheirPosition) {
  const std::string head = "[stages.k]\nuse = \"test.kinds\"\ninput = \"n\"\n";
  const std::string tail = "[stages.n]\nuse = \"test.count\"\n";
  const std::pair<const char*, const char*> cases[] = {{"nan", "nan"},  {"+nan", "nan"},
                                                       {"-nan", "nan"}, {"inf", "inf"},
                                                       {"+inf", "inf"}, {"-inf", "-inf"}};
  for (const auto& [toml, shown] : cases) {
    const std::string got = std::string("got ") + shown;
    expect_one(errors_of(head + "ratio = " + toml + "\n" + tail), 4, 9,
               "parameter 'ratio' must be a finite number, " + got);
    expect_one(errors_of(head + "floats = [0.5, " + toml + "]\n" + tail), 4, 10,
               "parameter 'floats' element 2 must be a finite number, " + got);
  }
  expect_one(errors_of(head + tail, {"k.floats=[nan]"}), 1, 10,
             "parameter 'floats' element 1 must be a finite number, got nan");
  expect_one(errors_of(head + tail, {"k.ratio=-inf"}), 1, 9,
             "parameter 'ratio' must be a finite number, got -inf");
  EXPECT_TRUE(errors_of(head + "ratio = 1e308\nfloats = [-1e308, 0]\n" + tail).empty());
}

TEST(Config, PortTypeMismatchNamesBothStagesPortsAndTypes) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.text]
use = "test.to_string"
input = "numbers"

[stages.add]
use = "test.jitter"
input = "text"
)"));
  expect_one(errors, 10, 9,
             "port type mismatch: input 'text' (test.to_string) emits String (std::string) from "
             "its output port, but stage 'add' (test.jitter) takes Int (int64_t) on its input "
             "port");
}

TEST(Config, CycleIsReported) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.a]
use = "test.jitter"
input = ["numbers", "b"]

[stages.b]
use = "test.jitter"
input = "a"
)"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("cycle: "), std::string::npos) << errors[0].message;
  // Reported at the input that closes the cycle.
  EXPECT_TRUE((errors[0].where.line == 6 && errors[0].where.column == 21) ||
              (errors[0].where.line == 10 && errors[0].where.column == 9))
      << format_diagnostic(errors[0]);
}

TEST(Config, DanglingInputSuggestsExistingStage) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.add]
use = "test.jitter"
input = "numbrs"
)"));
  expect_one(errors, 6, 9,
             "input 'numbrs' is dangling: no stage has that id; did you mean 'numbers'?");
}

TEST(Config, TransformWithoutInputIsDangling) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.add]
use = "test.jitter"
)"));
  expect_one(errors, 4, 1, "has a dangling input");
}

TEST(Config, MissingIncludeReportsTheIncludeString) {
  auto errors = errors_of(text(R"(
[pipeline]
include = ["graphs/nope.toml"]
)"));
  ASSERT_GE(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 2);
  EXPECT_EQ(errors[0].where.column, 12);
  EXPECT_NE(errors[0].message.find("included file 'graphs/nope.toml' does not exist"),
            std::string::npos)
      << errors[0].message;
}

TEST(Config, IncludeOfADirectoryOrDeviceSaysWhatItIs) {
  const fs::path dir = fs::temp_directory_path() / ("sluice_cfg_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto errors = errors_of("[pipeline]\ninclude = [\"" + dir.string() + "\", \"/dev/null\"]\n");
  fs::remove_all(dir);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].message, "included file '" + dir.string() +
                                   "' cannot be read: the config file is a directory, not a "
                                   "regular file");
  EXPECT_EQ(errors[1].message,
            "included file '/dev/null' cannot be read: the config file is a character device, "
            "not a regular file");
  std::vector<Diagnostic> top;
  load_config(fs::temp_directory_path().string(), {}, top);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].message,
            "cannot read config: the config file is a directory, not a regular file");
}

TEST(Config, SyntaxErrorHasPosition) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count
)"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.line, 2);
  EXPECT_EQ(format_diagnostic(errors[0]).rfind("test.toml:2:", 0), 0u)
      << format_diagnostic(errors[0]);
}

TEST(Config, ReportsEveryErrorAtOnce) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"
count = "x"
colour = 1

[stages.add]
use = "test.jittr"
input = "numbers"

[stages.out]
use = "test.record"
input = "ad"
)"));
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].where.line, 3);
  EXPECT_EQ(errors[1].where.line, 4);
  EXPECT_EQ(errors[2].where.line, 7);
  EXPECT_EQ(errors[3].where.line, 12);
  EXPECT_EQ(format_diagnostic(errors[3]).rfind("test.toml:12:9: error: ", 0), 0u)
      << format_diagnostic(errors[3]);
}

TEST(Config, NonThreadSafeStageRejectsConcurrency) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.stop]
use = "test.stop_after"
input = "numbers"
concurrency = 4
)"));
  expect_one(errors, 7, 15, "is not thread-safe");
}

TEST(Config, SetOverridesParameterAndPipelineKeys) {
  Registry registry = testing::test_registry();
  ValidatedGraph g =
      load_pipeline_string(text(kValid), "test.toml",
                           {"numbers.count=7", "pipeline.seed=11", "add.concurrency=2"}, registry);
  EXPECT_EQ(g.find("numbers")->params.get_int("count"), 7);
  EXPECT_EQ(g.settings.seed, 11);
  EXPECT_EQ(g.find("add")->concurrency.limit, 2u);
}

TEST(Config, PipelineChainIsABoolean) {
  expect_one(errors_of(text(R"(
[pipeline]
chain = 1
)") + text(kValid)),
             2, 9, "pipeline.chain must be true or false, not integer");
  Registry registry = testing::test_registry();
  EXPECT_TRUE(load_pipeline_string(text(kValid), "test.toml", {}, registry).settings.chain);
  EXPECT_FALSE(load_pipeline_string(text(kValid), "test.toml", {"pipeline.chain=false"}, registry)
                   .settings.chain);
}

// pipeline.output names the stage a host program (the Python module) reads
// from: a stage that is not in the graph is refused where the key's value is.
TEST(Config, PipelineOutputMustNameAStage) {
  expect_one(errors_of(text(R"(
[pipeline]
output = "ad"
)") + text(kValid)),
             2, 10, "pipeline.output names no stage 'ad'; did you mean 'add'");
  EXPECT_TRUE(errors_of(text(kValid), {"pipeline.output=add"}).empty());
  Registry registry = testing::test_registry();
  EXPECT_EQ(load_pipeline_string(text(kValid), "test.toml", {"pipeline.output=out"}, registry)
                .settings.output,
            "out");
}

// One item in flight cannot be honoured (the source holds its next item), so the
// config refuses it as --max-in-flight does, instead of running with 2.
TEST(Config, PipelineLimitsAreCheckedWithTheirRange) {
  expect_one(errors_of(text(R"(
[pipeline]
max_in_flight = 1
)") + text(kValid)),
             2, 17, "pipeline.max_in_flight must be in [2, 1048576]");
  expect_one(errors_of(text(kValid), {"pipeline.threads=-1"}), 1, 18,
             "pipeline.threads must be in [0, 4096]");
  expect_one(errors_of(text(kValid), {"pipeline.threads=5000"}), 1, 18,
             "pipeline.threads must be in [0, 4096]");
  Registry registry = testing::test_registry();
  EXPECT_EQ(load_pipeline_string(text(kValid), "test.toml", {"pipeline.max_in_flight=2"}, registry)
                .settings.max_in_flight,
            2);
}

TEST(ResolvedConfig, LoadsBackAsTheSameGraph) {
  Registry registry = testing::test_registry();
  const std::string toml = text(R"(
[pipeline]
name = "it's \"quoted\""
description = """two
lines"""
threads = 3
seed = 9
chain = false
[stages.numbers]
use = "test.count"
count = 20
[stages.left]
use = "test.kinds"
input = "numbers"
concurrency = 3
ratio = 1e-5
label = "tab\there"
floats = [0.0039215686274509803, -2.5, 3]
names = ["x y", "z"]
[stages.right]
use = "test.jitter"
input = "numbers"
[stages.out]
use = "test.record"
input = ["left", "right"]
)");
  const ValidatedGraph g = load_pipeline_string(toml, "a.toml", {"numbers.count=7"}, registry);
  const std::string resolved = resolved_config_toml(g);
  const ValidatedGraph back = load_pipeline_string(resolved, "resolved.toml", {}, registry);
  auto body = [](const std::string& r) { return r.substr(r.find('\n')); };  // past the comment
  EXPECT_EQ(body(resolved_config_toml(back)), body(resolved));
  EXPECT_EQ(back.settings.name, "it's \"quoted\"");
  EXPECT_EQ(back.settings.description, "two\nlines");
  EXPECT_EQ(back.settings.threads, 3);
  EXPECT_EQ(back.settings.seed, 9);
  EXPECT_FALSE(back.settings.chain);
  ASSERT_EQ(back.stages.size(), g.stages.size());
  for (size_t i = 0; i < g.stages.size(); ++i) {
    EXPECT_EQ(back.stages[i].id, g.stages[i].id);
    EXPECT_EQ(back.stages[i].entry, g.stages[i].entry);
    EXPECT_EQ(back.stages[i].inputs, g.stages[i].inputs) << g.stages[i].id;
    EXPECT_EQ(back.stages[i].concurrency.limit, g.stages[i].concurrency.limit) << g.stages[i].id;
    EXPECT_EQ(back.stages[i].params.values(), g.stages[i].params.values()) << g.stages[i].id;
  }
  // Overrides applied, defaults written out, the unset optional left out.
  EXPECT_EQ(back.find("numbers")->params.get_int("count"), 7);
  EXPECT_NE(resolved.find("ints = []"), std::string::npos) << resolved;
  EXPECT_NE(resolved.find("flag = false"), std::string::npos) << resolved;
  EXPECT_EQ(resolved.find("maybe"), std::string::npos) << resolved;
  EXPECT_EQ(back.find("left")->params.get_floats("floats")[0], 0.0039215686274509803);
}

TEST(ResolvedConfig, ListsThePluginsItsStagesCameFrom) {
  // Stages of a plugin have its absolute path as origin, however it was loaded
  // (--plugin, SLUICE_PLUGIN_PATH): the resolved file must name it to load alone.
  Registry registry = testing::test_registry();
  registry.set_origin("/opt/plugins/libextra.so");
  registry.add<testing::Counting>(StageSpec("extra.count")
                                      .source<int64_t>()
                                      .param(ParamSpec::integer("count", 3, "items"))
                                      .param(ParamSpec::integer("epochs", 1, "epochs"))
                                      .param(ParamSpec::integer("sleep_us", 0, "delay")));
  const ValidatedGraph g = load_pipeline_string(
      "[stages.a]\nuse = \"extra.count\"\n[stages.b]\nuse = \"extra.count\"\n"
      "[stages.out]\nuse = \"test.record\"\ninput = [\"a\", \"b\"]\n",
      "a.toml", {}, registry);
  const std::string resolved = resolved_config_toml(g);
  EXPECT_NE(resolved.find("plugins = [ '/opt/plugins/libextra.so' ]"), std::string::npos)
      << resolved;
}

TEST(Config, SetWithUnknownKeyIsReportedAgainstTheOverride) {
  auto errors = errors_of(text(kValid), {"numbers.cont=7"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].where.file, "--set numbers.cont=7");
  EXPECT_EQ(errors[0].where.column, 9);
  EXPECT_NE(errors[0].message.find("did you mean 'count'"), std::string::npos);
}

TEST(Config, SetOnUnknownStageSuggests) {
  auto errors = errors_of(text(kValid), {"numbrs.count=7"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("no stage 'numbrs' in this pipeline; did you mean 'numbers'?"),
            std::string::npos);
}

// A bare --set word is taken as a string; bytes that are not UTF-8 cannot be a TOML
// string, and the resolved config used to write them back as other characters.
TEST(Config, SetRejectsAValueThatIsNotUtf8) {
  expect_one(errors_of(text(kValid), {"pipeline.name=caf\xE9 \xE2\xE2"}), 1, 15, "not valid UTF-8");
  expect_one(errors_of(text(kValid), {"pipeline.name=\xF4\x90\x80\x80"}), 1, 15,
             "not valid UTF-8");  // above U+10FFFF
  expect_one(errors_of(text(kValid), {"pipeline.name=\xC0\xAF"}), 1, 15,
             "not valid UTF-8");  // overlong '/'
  Registry registry = testing::test_registry();
  const ValidatedGraph g = load_pipeline_string(
      text(kValid), "t.toml", {"pipeline.name=caf\xC3\xA9 \xF0\x9F\x98\x80"}, registry);
  EXPECT_EQ(g.settings.name, "caf\xC3\xA9 \xF0\x9F\x98\x80");
  const ValidatedGraph back = load_pipeline_string(resolved_config_toml(g), "t.toml", {}, registry);
  EXPECT_EQ(back.settings.name, g.settings.name);
}

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice_config_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "graphs");
    fs::create_directories(dir_ / "configs");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& body) { std::ofstream(dir_ / rel) << body; }
  fs::path dir_;
};

TEST_F(ConfigFiles, IncludeThenOverride) {
  write("graphs/base.toml", text(kValid));
  write("configs/run.toml", text(R"(
[pipeline]
name = "run"
include = ["../graphs/base.toml"]
threads = 2

[stages.numbers]
count = 3
)"));
  Registry registry = testing::test_registry();
  ValidatedGraph g = load_pipeline((dir_ / "configs/run.toml").string(), {}, registry);
  EXPECT_EQ(g.name, "run");
  EXPECT_EQ(g.settings.threads, 2);
  EXPECT_EQ(g.find("numbers")->params.get_int("count"), 3);
  EXPECT_EQ(g.stages.size(), 3u);
  // --set wins over the config file.
  g = load_pipeline((dir_ / "configs/run.toml").string(), {"numbers.count=9"}, registry);
  EXPECT_EQ(g.find("numbers")->params.get_int("count"), 9);
}

TEST_F(ConfigFiles, ErrorsInIncludedFileNameThatFile) {
  write("graphs/base.toml", text(R"(
[stages.numbers]
use = "test.count"
count = true
)"));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]
)"));
  std::vector<Diagnostic> errors;
  Registry registry = testing::test_registry();
  GraphConfig c = load_config((dir_ / "configs/run.toml").string(), {}, errors);
  validate(c, registry, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].where.file.find("graphs/base.toml"), std::string::npos)
      << errors[0].where.file;
  EXPECT_EQ(errors[0].where.line, 3);
  EXPECT_EQ(errors[0].where.column, 9);
}

TEST_F(ConfigFiles, OverrideOfMisspeltStageIdIsReported) {
  write("graphs/base.toml", text(kValid));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]

[stages.numbrs]
count = 3
)"));
  Registry registry = testing::test_registry();
  try {
    load_pipeline((dir_ / "configs/run.toml").string(), {}, registry);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].where.line, 4);
    EXPECT_NE(e.diagnostics()[0].message.find("did you mean 'numbers'"), std::string::npos)
        << e.diagnostics()[0].message;
  }
}

// A config that includes a graph and gives one of its stages another type:
// the stage starts from the new type's defaults, wiring kept.
const char* kRepeatGraph = R"(
[stages.numbers]
use = "test.count"
count = 4

[stages.work]
use = "test.repeat"
input = "numbers"
copies = 3
filter_odd = true

[stages.out]
use = "test.record"
input = "work"
)";

TEST_F(ConfigFiles, ChangingUseDropsTheOldTypesParameters) {
  write("graphs/base.toml", text(kRepeatGraph));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]

[stages.work]
use = "test.jitter"
max_us = 7
)"));
  Registry registry = testing::test_registry();
  const ValidatedGraph g = load_pipeline((dir_ / "configs/run.toml").string(), {}, registry);
  const ValidatedStage* work = g.find("work");
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->entry->spec.name, "test.jitter");
  EXPECT_EQ(work->params.get_int("max_us"), 7);
  ASSERT_EQ(work->inputs.size(), 1u);
  EXPECT_EQ(g.stages[work->inputs[0]].id, "numbers");
}

TEST_F(ConfigFiles, ChangingUseFromTheCommandLineDropsTheOldTypesParameters) {
  write("graphs/base.toml", text(kRepeatGraph));
  Registry registry = testing::test_registry();
  const std::string path = (dir_ / "graphs/base.toml").string();
  ValidatedGraph g = load_pipeline(path, {"work.use=test.jitter"}, registry);
  EXPECT_EQ(g.find("work")->params.get_int("max_us"), 50);  // the default
  // A parameter set after the change is kept; the same type keeps everything.
  g = load_pipeline(path, {"work.use=test.jitter", "work.max_us=3"}, registry);
  EXPECT_EQ(g.find("work")->params.get_int("max_us"), 3);
  g = load_pipeline(path, {"work.use=test.repeat"}, registry);
  EXPECT_EQ(g.find("work")->params.get_int("copies"), 3);
}

TEST_F(ConfigFiles, ChangingUseSaysAtDebugLevelWhichKeysWereDropped) {
  write("graphs/base.toml", text(kRepeatGraph));
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
  std::vector<Diagnostic> errors;
  load_config((dir_ / "graphs/base.toml").string(), {"work.use=test.jitter"}, errors);
  spdlog::set_default_logger(previous);
  EXPECT_TRUE(errors.empty());
  const std::string text = log.str();
  EXPECT_NE(text.find("[debug]"), std::string::npos) << text;
  EXPECT_NE(text.find("'test.repeat' to 'test.jitter'"), std::string::npos) << text;
  EXPECT_NE(text.find("copies, filter_odd"), std::string::npos) << text;
}

TEST_F(ConfigFiles, AnEmptyTableUnsetsAnInheritedKey) {
  write("graphs/base.toml", text(kRepeatGraph));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]

[stages.work]
copies = {}
concurrency = {}
)"));
  Registry registry = testing::test_registry();
  const std::string path = (dir_ / "configs/run.toml").string();
  ValidatedGraph g = load_pipeline(path, {}, registry);
  EXPECT_EQ(g.find("work")->params.get_int("copies"), 2);  // the default again
  EXPECT_TRUE(g.find("work")->params.get_bool("filter_odd"));
  g = load_pipeline(path, {"work.filter_odd={}", "numbers.count={}"}, registry);
  EXPECT_FALSE(g.find("work")->params.get_bool("filter_odd"));
  EXPECT_EQ(g.find("numbers")->params.get_int("count"), 10);
}

TEST_F(ConfigFiles, UnsettingAKeyThatIsNotSetIsAnErrorAtTheKey) {
  write("graphs/base.toml", text(kRepeatGraph));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]

[stages.work]
copeis = {}
)"));
  std::vector<Diagnostic> errors;
  load_config((dir_ / "configs/run.toml").string(), {}, errors);
  expect_one(errors, 5, 1, "stage 'work' has no 'copeis' to unset; did you mean 'copies'?");
  errors.clear();
  load_config((dir_ / "configs/run.toml").string(), {"work.use={}"}, errors);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[1].message.find("'use' cannot be unset"), std::string::npos)
      << errors[1].message;
}

TEST_F(ConfigFiles, ErrorsInAnIncludeNameTheIncludingLine) {
  write("graphs/inner.toml", text(R"(
[stages.numbers]
use = "test.count"
count = true
)"));
  write("graphs/mid.toml", text(R"(
[pipeline]
include = ["inner.toml"]
)"));
  write("configs/run.toml", text(R"(
[pipeline]
name = "run"
include = ["../graphs/mid.toml"]
)"));
  std::vector<Diagnostic> errors;
  Registry registry = testing::test_registry();
  GraphConfig c = load_config((dir_ / "configs/run.toml").string(), {}, errors);
  validate(c, registry, errors);
  ASSERT_EQ(errors.size(), 1u);
  const std::string text = format_diagnostic(errors[0]);
  EXPECT_NE(text.find("inner.toml:3:9: error:"), std::string::npos) << text;
  EXPECT_NE(text.find("(included from "), std::string::npos) << text;
  EXPECT_NE(text.find("graphs/mid.toml:2:12, from "), std::string::npos) << text;
  EXPECT_NE(text.find("configs/run.toml:3:12)"), std::string::npos) << text;
}

TEST_F(ConfigFiles, LoadErrorsInAnIncludeNameTheIncludingLine) {
  write("graphs/base.toml", text(R"(
[pipeline]
thread = 2
)"));
  write("configs/run.toml", text(R"(
[pipeline]
include = ["../graphs/base.toml"]
)"));
  std::vector<Diagnostic> errors;
  load_config((dir_ / "configs/run.toml").string(), {}, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("included from "), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("configs/run.toml:2:12)"), std::string::npos)
      << errors[0].message;
}

TEST(Config, AParameterOfAnotherStageNamesThatStage) {
  // Keras users put `epochs` under the trainer; sluice's source has it.
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.work]
use = "test.repeat"
input = "numbers"
epochs = 3

[stages.out]
use = "test.record"
input = "work"
)"));
  expect_one(errors, 7, 1,
             "unknown parameter 'epochs'; 'epochs' is a parameter of stage 'numbers': set "
             "numbers.epochs");
  EXPECT_EQ(errors[0].message.find("did you mean"), std::string::npos) << errors[0].message;
}

TEST(Config, AKerasNameWithoutACounterpartSaysSo) {
  auto errors = errors_of(text(R"(
[stages.numbers]
use = "test.count"

[stages.out]
use = "test.record"
input = "numbers"
zoom_range = 0.2
)"));
  expect_one(errors, 7, 1,
             "unknown parameter 'zoom_range'; Keras's zoom_range is 'zoom' in sluice, which "
             "test.record does not support yet");
}

TEST(Registry, DuplicateNamesBothOrigins) {
  Registry r = testing::test_registry();
  r.set_origin("libother.so");
  try {
    r.add<testing::Jitter>(StageSpec("test.jitter").transform<int64_t, int64_t>());
    FAIL() << "expected DuplicateStageError";
  } catch (const DuplicateStageError& e) {
    EXPECT_NE(std::string(e.what()).find("by tests and by libother.so"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice

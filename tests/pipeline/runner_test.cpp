// The runner on oneTBB: ordering, back-pressure, 1->N, fan-out/fan-in,
// control markers, failures, stop requests, signals, profiler and trace.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/run_control.h"
#include "pipeline/runner.h"
#include "pipeline/testing/stage_harness.h"
#include "tests/pipeline/test_stages.h"

namespace sluice {
namespace {

using testing::observed;
using testing::reset_observed;

RunReport run_text(const std::string& toml, RunOptions opts = {},
                   const std::vector<std::string>& overrides = {}) {
  reset_observed();
  Registry registry = testing::test_registry();
  ValidatedGraph g = load_pipeline_string(toml, "test.toml", overrides, registry);
  return run_graph(g, opts);
}

std::vector<int64_t> recorded_ints() {
  std::vector<int64_t> v;
  for (const auto& p : observed().packets)
    if (!p.is_control) v.push_back(payload_as<int64_t>(p.value));
  return v;
}

const char* kChain = R"(
[stages.numbers]
use = "test.count"
count = 2000

[stages.work]
use = "test.jitter"
input = "numbers"
max_us = 40

[stages.out]
use = "test.record"
input = "work"
)";

class OrderUnderThreads : public ::testing::TestWithParam<int> {};

TEST_P(OrderUnderThreads, OrderedSinkSeesSourceOrder) {
  RunOptions opts;
  opts.threads = GetParam();
  RunReport r = run_text(kChain, opts);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  auto got = recorded_ints();
  ASSERT_EQ(got.size(), 2000u);
  for (int64_t i = 0; i < 2000; ++i) ASSERT_EQ(got[i], i + 1) << "at position " << i;
  EXPECT_EQ(observed().finished, 1);
}

INSTANTIATE_TEST_SUITE_P(Threads, OrderUnderThreads, ::testing::Values(1, 2, 4));

TEST(Runner, OneToManyAndFilteringKeepOrder) {
  RunOptions opts;
  opts.threads = 4;
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 500
[stages.rep]
use = "test.repeat"
input = "numbers"
copies = 3
filter_odd = true
[stages.work]
use = "test.jitter"
input = "rep"
max_us = 20
[stages.out]
use = "test.record"
input = "work"
)", opts);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  std::vector<int64_t> want;
  for (int64_t v = 0; v < 500; v += 2)
    for (int64_t k = 0; k < 3; ++k) want.push_back(v * 100 + k + 1);
  EXPECT_EQ(recorded_ints(), want);
  // Profiler counts equal what passed through each stage.
  ASSERT_EQ(r.stages.size(), 4u);
  EXPECT_EQ(r.stages[0].items_out, 500u);
  EXPECT_EQ(r.stages[1].items_in, 500u);
  EXPECT_EQ(r.stages[1].items_out, 750u);
  EXPECT_EQ(r.stages[2].items_in, 750u);
  EXPECT_EQ(r.stages[2].items_out, 750u);
  EXPECT_EQ(r.stages[3].items_in, 750u);
  EXPECT_GT(r.stages[2].busy_s, 0.0);
  int bottlenecks = 0;
  for (const auto& s : r.stages) bottlenecks += s.bottleneck;
  EXPECT_EQ(bottlenecks, 1);
}

// Three `auto` transforms in a row, then an ordered sink: the three share a node.
const char* kChainable = R"(
[stages.numbers]
use = "test.count"
count = 600
[stages.rep]
use = "test.repeat"
input = "numbers"
copies = 2
filter_odd = true
[stages.work]
use = "test.jitter"
input = "rep"
max_us = 5
[stages.pass]
use = "test.throw"
input = "work"
at = -1
[stages.out]
use = "test.record"
input = "pass"
)";

TEST(Runner, ChainedStagesGiveTheSameStreamAndPerStageCounts) {
  RunOptions opts;
  opts.threads = 4;
  RunReport chained = run_text(kChainable, opts);
  ASSERT_EQ(chained.status, RunStatus::kCompleted) << chained.error;
  const std::vector<int64_t> got = recorded_ints();
  EXPECT_EQ(observed().finished, 1);
  opts.chain = false;
  RunReport unchained = run_text(kChainable, opts);
  ASSERT_EQ(unchained.status, RunStatus::kCompleted) << unchained.error;
  EXPECT_EQ(got, recorded_ints());
  ASSERT_EQ(got.size(), 600u);
  EXPECT_EQ(got.front(), 1);  // 0 * 100 + 0 + 1

  using Chains = std::vector<std::vector<std::string>>;
  EXPECT_EQ(chained.chains, (Chains{{"rep", "work", "pass"}}));
  EXPECT_TRUE(unchained.chains.empty());
  for (const RunReport* r : {&chained, &unchained}) {
    ASSERT_EQ(r->stages.size(), 5u);
    EXPECT_EQ(r->stages[1].items_in, 600u);
    EXPECT_EQ(r->stages[1].items_out, 600u);  // 300 even inputs x 2 copies
    for (size_t i : {2, 3}) {
      EXPECT_EQ(r->stages[i].items_in, 600u) << r->stages[i].id;
      EXPECT_EQ(r->stages[i].items_out, 600u) << r->stages[i].id;
      EXPECT_GT(r->stages[i].busy_s, 0.0) << r->stages[i].id;
    }
    EXPECT_EQ(r->stages[4].items_in, 600u);
  }
  // The profile says which stages shared a node.
  std::ostringstream table;
  print_profile_table(table, chained);
  EXPECT_NE(table.str().find("chained in one node: rep -> work -> pass"), std::string::npos)
      << table.str();
  EXPECT_EQ(nlohmann::json::parse(profile_json(chained))["chains"][0][2], "pass");
}

TEST(Runner, OnlyOneToOneAutoWiringIsChained) {
  // a feeds two stages (fan-out): nothing chains to it. b is serial, d has an
  // explicit concurrency: neither chains. c -> e and f -> g -> h do; the
  // ordered sink does not.
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 50
[stages.a]
use = "test.jitter"
input = "numbers"
max_us = 0
[stages.b]
use = "test.jitter"
input = "a"
max_us = 0
concurrency = "serial"
[stages.c]
use = "test.jitter"
input = "a"
max_us = 0
[stages.d]
use = "test.jitter"
input = "b"
max_us = 0
concurrency = 2
[stages.e]
use = "test.jitter"
input = "c"
max_us = 0
[stages.f]
use = "test.repeat"
input = ["d", "e"]
copies = 1
[stages.g]
use = "test.jitter"
input = "f"
max_us = 0
[stages.h]
use = "test.throw"
input = "g"
at = -1
[stages.out]
use = "test.record"
input = "h"
)");
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  using Chains = std::vector<std::vector<std::string>>;
  EXPECT_EQ(r.chains, (Chains{{"c", "e"}, {"f", "g", "h"}}));
  EXPECT_EQ(recorded_ints().size(), 100u);
}

TEST(Runner, FailureInsideAChainNamesTheStage) {
  RunOptions opts;
  opts.threads = 2;
  RunReport r = run_text(kChainable, opts, {"pass.at=3601", "numbers.count=100000"});
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.chains.size(), 1u);
  EXPECT_EQ(r.failed_stage, "pass");
  EXPECT_NE(r.error.find("stage 'pass' failed on item #36 (Int 3601): boom at 3601"),
            std::string::npos)
      << r.error;
}

TEST(Runner, ControlMarkersArriveAfterTheirEpochsItems) {
  RunOptions opts;
  opts.threads = 4;
  RunReport r = run_text(kChain, opts, {"numbers.count=300", "numbers.epochs=3"});
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  const auto& packets = observed().packets;
  ASSERT_EQ(packets.size(), 903u);
  for (int e = 0; e < 3; ++e) {
    const Packet& marker = packets[(e + 1) * 301 - 1];
    ASSERT_TRUE(marker.is_control);
    EXPECT_EQ(marker.as_control().kind, ControlKind::kEndOfEpoch);
    EXPECT_EQ(marker.as_control().epoch, e);
  }
}

TEST(Runner, FanOutAndFanIn) {
  RunOptions opts;
  opts.threads = 2;
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 400
[stages.left]
use = "test.jitter"
input = "numbers"
max_us = 10
[stages.right]
use = "test.repeat"
input = "numbers"
copies = 1
[stages.out]
use = "test.record"
input = ["left", "right"]
)", opts);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  auto got = recorded_ints();
  ASSERT_EQ(got.size(), 800u);
  std::sort(got.begin(), got.end());
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 400; ++i) want.push_back(i + 1);
  for (int64_t i = 0; i < 400; ++i) want.push_back(i * 100);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(observed().finished, 1);  // one end of stream after both inputs ended
}

TEST(Runner, SlowSinkKeepsItemsInFlightWithinTheBound) {
  RunOptions opts;
  opts.threads = 4;
  opts.max_in_flight = 8;
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 300
[stages.fast]
use = "test.jitter"
input = "numbers"
max_us = 0
[stages.track]
use = "test.tracked"
input = "fast"
[stages.out]
use = "test.record"
input = "track"
sleep_us = 500
)", opts);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  EXPECT_EQ(recorded_ints().size(), 300u);
  EXPECT_LE(r.peak_in_flight, 8u);
  EXPECT_GE(r.peak_in_flight, 4u);  // the bound is actually used
  EXPECT_LE(observed().peak.load(), 8);
  // The source spent most of the run blocked on back-pressure.
  EXPECT_GT(r.stages[0].wait_s, 0.5 * r.wall_s);
}

TEST(Runner, ExceptionCancelsAndNamesStageAndItem) {
  RunOptions opts;
  opts.threads = 2;
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 100000
[stages.explode]
use = "test.throw"
input = "numbers"
at = 37
[stages.out]
use = "test.record"
input = "explode"
)", opts);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.failed_stage, "explode");
  EXPECT_NE(r.error.find("stage 'explode' failed on item #37 (Int 37): boom at 37"), std::string::npos)
      << r.error;
  EXPECT_LT(recorded_ints().size(), 100000u);  // cancelled, not run to the end
  EXPECT_EQ(observed().finished, 0);
}

TEST(Runner, StopRequestDrainsAndFinishes) {
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 1000000
[stages.stop]
use = "test.stop_after"
input = "numbers"
at = 100
[stages.out]
use = "test.record"
input = "stop"
)");
  EXPECT_EQ(r.status, RunStatus::kStopped);
  auto got = recorded_ints();
  EXPECT_GE(got.size(), 101u);
  EXPECT_LT(got.size(), 1000u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<int64_t>(i));
  EXPECT_EQ(observed().finished, 1);
}

// A serial stage's outputs reach an ordered sink in the order its bodies ran, with
// threads to spare: oneTBB may start a serial node's next body before passing the
// current output on, and the runner must put the two back in order.
TEST(Runner, SerialStageOutputsReachAnOrderedSinkInOrder) {
  RunOptions opts;
  opts.threads = 4;
  RunReport r = run_text(R"(
[stages.numbers]
use = "test.count"
count = 200000
[stages.pass]
use = "test.stop_after"
input = "numbers"
at = -1
[stages.out]
use = "test.record"
input = "pass"
)", opts);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  const auto got = recorded_ints();
  ASSERT_EQ(got.size(), 200000u);
  size_t swapped = 0;
  for (size_t i = 0; i < got.size(); ++i) swapped += got[i] != static_cast<int64_t>(i);
  EXPECT_EQ(swapped, 0u) << "items out of place";
}

TEST(Runner, SigintStopsSourcesAndLetsSinksFinish) {
  RunOptions opts;
  opts.threads = 2;
  opts.handle_signals = true;
  auto start = std::chrono::steady_clock::now();
  auto result = std::async(std::launch::async, [&] {
    return run_text(R"(
[stages.numbers]
use = "test.count"
count = 100000000
sleep_us = 100
[stages.out]
use = "test.record"
input = "numbers"
)", opts);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::raise(SIGINT);
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "run hung";
  RunReport r = result.get();
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_EQ(observed().finished, 1);
  EXPECT_GT(recorded_ints().size(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  reset_signals();
}

// A stage stuck inside one call (here a 10-minute sleep) never looks at a stop
// flag, so the drain after the first signal cannot end: the second signal ends
// the process from its handler, with status 128 + SIGTERM.
TEST(RunnerDeathTest, SecondSignalEndsTheProcessWhateverAStageIsBlockedOn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto stuck_run = [] {
    RunOptions opts;
    opts.threads = 2;
    opts.handle_signals = true;
    std::thread run([opts] {
      run_text(R"(
[stages.numbers]
use = "test.count"
count = 100000000
[stages.out]
use = "test.record"
input = "numbers"
sleep_us = 600000000
)",
               opts);
    });
    run.detach();
    struct sigaction now {};
    while (sigaction(SIGTERM, nullptr, &now) == 0 && now.sa_handler == SIG_DFL) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the sink is asleep
    std::raise(SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::raise(SIGTERM);
    std::this_thread::sleep_for(std::chrono::seconds(5));
    std::_Exit(0);  // still alive: the second signal did not end the process
  };
  EXPECT_EXIT(stuck_run(), ::testing::ExitedWithCode(128 + SIGTERM), "second SIGTERM");
}

// Payloads that count how many of them exist, to see that a failed or
// cancelled run frees every item it held (in its bodies and in the graph's
// buffers), not only those that reached a sink.
std::atomic<int64_t> g_live_payloads{0};
struct LivePayload {
  LivePayload() { ++g_live_payloads; }
  LivePayload(const LivePayload&) { ++g_live_payloads; }
  ~LivePayload() { --g_live_payloads; }
};

class LiveSource : public Source {
 public:
  explicit LiveSource(const Params& p) : fail_at_(p.get_int("fail_at")) {}
  bool produce(Emitter& out) override {
    if (n_++ == fail_at_) throw std::runtime_error("source boom");
    out.emit(LivePayload{});
    out.emit(LivePayload{});
    return true;
  }

 private:
  int64_t fail_at_;
  int64_t n_ = 0;
};

class FailNth : public Transform {
 public:
  explicit FailNth(const Params& p) : at_(p.get_int("at")) {}
  void process(std::any& in, Emitter& out) override {
    if (seen_.fetch_add(1) == at_) throw std::runtime_error("transform boom");
    out.forward(Packet::data(std::move(in)));
  }

 private:
  int64_t at_;
  std::atomic<int64_t> seen_{0};
};

class SlowDiscard : public Sink {
 public:
  explicit SlowDiscard(const Params&) {}
  void consume(std::any&) override { std::this_thread::sleep_for(std::chrono::microseconds(200)); }
};

RunReport run_live(const std::string& toml) {
  Registry registry = testing::test_registry();
  registry.add<LiveSource>(StageSpec("live.source")
                               .source<AnyPayload>()
                               .param(ParamSpec::integer("fail_at", -1, "call that throws")));
  registry.add<FailNth>(StageSpec("live.fail")
                            .transform<AnyPayload, AnyPayload>()
                            .parallel()
                            .param(ParamSpec::integer("at", -1, "item that throws")));
  registry.add<SlowDiscard>(StageSpec("live.sink").sink<AnyPayload>().ordered());
  g_live_payloads = 0;
  RunOptions opts;
  opts.threads = 4;
  opts.max_in_flight = 64;
  return run_graph(load_pipeline_string(toml, "test.toml", {}, registry), opts);
}

TEST(Runner, FailedRunsFreeEveryItemTheyHeld) {
  const char* kStages[] = {
      // A transform throws with items queued in front of the slow ordered sink.
      "[stages.src]\nuse = \"live.source\"\n[stages.a]\nuse = \"live.fail\"\ninput = \"src\"\n"
      "at = 300\n[stages.out]\nuse = \"live.sink\"\ninput = \"a\"\n",
      // The same inside a chain of two `auto` transforms.
      "[stages.src]\nuse = \"live.source\"\n[stages.a]\nuse = \"test.tracked\"\ninput = \"src\"\n"
      "[stages.b]\nuse = \"live.fail\"\ninput = \"a\"\nat = 300\n"
      "[stages.out]\nuse = \"live.sink\"\ninput = \"b\"\n",
      // The source throws.
      "[stages.src]\nuse = \"live.source\"\nfail_at = 200\n[stages.a]\nuse = \"live.fail\"\n"
      "input = \"src\"\n[stages.out]\nuse = \"live.sink\"\ninput = \"a\"\n",
  };
  for (const char* toml : kStages) {
    RunReport r = run_live(toml);
    EXPECT_EQ(r.status, RunStatus::kFailed) << toml;
    EXPECT_NE(r.error.find("boom"), std::string::npos) << r.error;
    EXPECT_EQ(g_live_payloads.load(), 0) << "items leaked by a failed run of\n" << toml;
  }
}

TEST(Runner, TraceFileIsChromeTraceJson) {
  auto path = std::filesystem::temp_directory_path() / "sluice_trace_test.json";
  RunOptions opts;
  opts.threads = 2;
  opts.trace_path = path.string();
  RunReport r = run_text(kChain, opts, {"numbers.count=50"});
  ASSERT_EQ(r.status, RunStatus::kCompleted);
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.contains("traceEvents"));
  std::map<std::string, int> spans;
  for (const auto& e : j["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    ASSERT_TRUE(e.contains("pid"));
    ASSERT_TRUE(e.contains("tid"));
    if (e["ph"] == "X") {
      ASSERT_TRUE(e["ts"].is_number());
      ASSERT_TRUE(e["dur"].is_number());
      EXPECT_GE(e["dur"].get<double>(), 0.0);
      spans[e["name"].get<std::string>()]++;
    }
  }
  EXPECT_EQ(spans["work"], 50);
  EXPECT_EQ(spans["out"], 50);
  EXPECT_GE(spans["numbers"], 50);
  std::filesystem::remove(path);
}

TEST(Runner, ProfileJsonHasEveryStage) {
  RunReport r = run_text(kChain, {}, {"numbers.count=10"});
  nlohmann::json j = nlohmann::json::parse(profile_json(r));
  ASSERT_EQ(j["stages"].size(), 3u);
  EXPECT_EQ(j["stages"][1]["id"], "work");
  EXPECT_EQ(j["stages"][1]["items_in"], 10);
  EXPECT_EQ(j["status"], "completed");
}

TEST(RunControl, TheEarliestRequestedStartEpochWins) {
  RunControl control;
  EXPECT_EQ(control.start_epoch(), 0);  // nobody asked
  control.request_start_epoch(5);
  EXPECT_EQ(control.start_epoch(), 5);
  control.request_start_epoch(7);
  EXPECT_EQ(control.start_epoch(), 5);
  control.request_start_epoch(3);
  EXPECT_EQ(control.start_epoch(), 3);
  control.request_start_epoch(-2);
  EXPECT_EQ(control.start_epoch(), 0);
}

TEST(StageHarness, RunsOneStageFromInlineToml) {
  StageHarness h(testing::test_registry(), R"(use = "test.repeat"
copies = 2)");
  HarnessOutput out = h.run({int64_t{1}, int64_t{2}});
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  auto p = out.payloads();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(payload_as<int64_t>(p[0]), 100);
  EXPECT_EQ(payload_as<int64_t>(p[3]), 201);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

StageProfile profiled(const std::string& id, uint64_t in, uint64_t out, double busy_s,
                      double utilisation) {
  StageProfile s;
  s.id = id;
  s.type = "test";
  s.concurrency = "serial";
  s.items_in = in;
  s.items_out = out;
  s.busy_s = busy_s;
  s.utilisation = utilisation;
  return s;
}

// A stage that no item passed through limited nothing: a resumed run whose epochs
// are all done must not mark its idle index as the bottleneck.
TEST(Profiler, AStageWithoutItemsIsNeverTheBottleneck) {
  std::vector<StageProfile> idle = {profiled("index", 0, 0, 0.002, 0.4),
                                    profiled("train", 0, 0, 0.0, 0.0)};
  mark_bottleneck(idle);
  EXPECT_FALSE(idle[0].bottleneck);
  EXPECT_FALSE(idle[1].bottleneck);
  std::vector<StageProfile> busy = {profiled("index", 0, 0, 0.5, 0.9),
                                    profiled("decode", 10, 10, 0.2, 0.3)};
  mark_bottleneck(busy);
  EXPECT_FALSE(busy[0].bottleneck);
  EXPECT_TRUE(busy[1].bottleneck);
}

// The detailed table shows the mean wait of one item, not the sum over items
// (which exceeds the wall time when items wait at the same time), and says so.
TEST(Profiler, TheTableShowsTheMeanWaitPerItem) {
  RunReport r;
  r.wall_s = 0.94;
  r.stages = {profiled("decode", 100, 100, 0.5, 0.5)};
  r.stages[0].wait_s = 10.2;  // 100 items x 102 ms
  std::ostringstream table;
  print_profile_table(table, r, /*detailed=*/true);
  const std::string text = table.str();
  EXPECT_NE(text.find("wait/item"), std::string::npos) << text;
  EXPECT_EQ(text.find("wait s"), std::string::npos) << text;
  EXPECT_NE(text.find("102.00ms"), std::string::npos) << text;
  EXPECT_EQ(text.find("10.200"), std::string::npos) << text;
  EXPECT_NE(text.find("wait/item: mean time an item waited"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(profile_json(r));
  EXPECT_DOUBLE_EQ(j["stages"][0]["wait_s"].get<double>(), 10.2);
  EXPECT_NEAR(j["stages"][0]["wait_per_item_us"].get<double>(), 102000.0, 1e-6);
}

// Sources announce what each epoch emits of a split; a trainer reads the sum.
TEST(RunControl, TheEarliestRequestedStartPositionWins) {
  RunControl control;
  EXPECT_FALSE(control.start_position().mid_epoch());  // nobody asked
  control.request_start_position(DataPosition{3, "train", 40});
  EXPECT_EQ(control.start_position().consumed, 40);
  control.request_start_position(DataPosition{3, "train", 64});  // later: ignored
  EXPECT_EQ(control.start_position().consumed, 40);
  control.request_start_epoch(3);  // the start of that epoch comes first
  EXPECT_EQ(control.start_epoch(), 3);
  EXPECT_FALSE(control.start_position().mid_epoch());
  control.request_start_position(DataPosition{1, "train", 8});
  EXPECT_EQ(control.start_position().epoch, 1);
  EXPECT_EQ(control.start_position().split, "train");
  EXPECT_EQ(control.resumed_items(), -1);  // no source said what it skipped
  control.add_resumed_items(4);
  control.add_resumed_items(4);
  EXPECT_EQ(control.resumed_items(), 8);
}

TEST(RunControl, SplitItemsAreSummedOverSourcesAndUnknownIsMinusOne) {
  RunControl control;
  EXPECT_EQ(control.split_items("train"), -1);
  control.add_split_items("train", 300);
  control.add_split_items("train", 20);
  control.add_split_items("validation", 64);
  EXPECT_EQ(control.split_items("train"), 320);
  EXPECT_EQ(control.split_items("validation"), 64);
  EXPECT_EQ(control.split_items("test"), -1);
}

}  // namespace
}  // namespace sluice

// The profiler's timeline: per-stage counters sampled while a graph runs, in
// bounded memory, into the profile JSON; the run monitor and live metrics that
// the dashboard reads.
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/live_metrics.h"
#include "pipeline/run_monitor.h"
#include "pipeline/runner.h"
#include "pipeline/timeline.h"
#include "stages/generic/generic_stages.h"

namespace sluice {
namespace {

// About `items` ms of sleeping work over 2 threads, in `epochs` passes.
std::string sleepy_pipeline(int items, int epochs) {
  return "[pipeline]\nthreads = 2\n"
         "[stages.numbers]\nuse = \"gen.range\"\ncount = " +
         std::to_string(items / epochs) + "\nepochs = " + std::to_string(epochs) +
         "\n[stages.nap]\nuse = \"work.sleep\"\ninput = \"numbers\"\nmillis = 2\n"
         "[stages.total]\nuse = \"util.sum\"\ninput = \"nap\"\n";
}

RunReport run_toml(const std::string& toml, const RunOptions& options) {
  Registry registry;
  register_generic_stages(registry);
  ValidatedGraph g = load_pipeline_string(toml, "timeline.toml", {}, registry);
  return run_graph(g, options);
}

template <class T>
void expect_non_decreasing(const std::vector<T>& v, const std::string& what) {
  for (size_t i = 1; i < v.size(); ++i) {
    ASSERT_LE(v[i - 1], v[i]) << what << " decreases at sample " << i;
  }
}

TEST(Timeline, MergesPairsAndDoublesTheIntervalWhenFull) {
  Timeline t({"a"}, 0.25, 8);
  for (int i = 1; i <= 100; ++i) {
    t.add(0.25 * i, i % 7, 1, {StageSample{0, static_cast<uint64_t>(i), 0.1 * i, 0.01 * i}});
    ASSERT_LE(t.size(), 8u);
  }
  EXPECT_GE(t.size(), 4u);
  EXPECT_GT(t.interval_s(), 0.25);
  // The latest cumulative values survive every merge.
  EXPECT_EQ(t.stage(0, t.size() - 1).items_out, 100u);
  EXPECT_DOUBLE_EQ(t.t_s().back(), 25.0);
  expect_non_decreasing(t.t_s(), "t_s");
  // A merged sample keeps the larger in-flight count of its pair.
  Timeline peaks({"a"}, 1.0, 2);
  peaks.add(1, 9, 0, {StageSample{}});
  peaks.add(2, 1, 0, {StageSample{}});
  peaks.add(3, 2, 0, {StageSample{}});
  ASSERT_EQ(peaks.size(), 2u);
  EXPECT_EQ(peaks.in_flight()[0], 9);
  EXPECT_DOUBLE_EQ(peaks.interval_s(), 2.0);
}

TEST(Timeline, ARunGivesMonotoneCumulativeCountsAndTheCurrentEpoch) {
  RunOptions options;
  options.timeline_interval_s = 0.05;
  const RunReport r = run_toml(sleepy_pipeline(600, 3), options);  // ~0.6 s
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  const Timeline& t = r.timeline;
  ASSERT_GE(t.size(), 5u) << "a run of " << r.wall_s << " s sampled every 50 ms";
  ASSERT_EQ(t.stage_ids(), (std::vector<std::string>{"numbers", "nap", "total"}));
  for (size_t k = 0; k < t.stage_ids().size(); ++k) {
    std::vector<uint64_t> out;
    std::vector<double> busy, wait;
    for (size_t i = 0; i < t.size(); ++i) {
      out.push_back(std::max(t.stage(k, i).items_in, t.stage(k, i).items_out));
      busy.push_back(t.stage(k, i).busy_s);
      wait.push_back(t.stage(k, i).wait_s);
    }
    expect_non_decreasing(out, t.stage_ids()[k] + " items");
    expect_non_decreasing(busy, t.stage_ids()[k] + " busy_s");
    expect_non_decreasing(wait, t.stage_ids()[k] + " wait_s");
  }
  // Counts grow during the run, and the last sample has the final totals.
  EXPECT_LT(t.stage(1, 0).items_out, 600u);
  EXPECT_EQ(t.stage(1, t.size() - 1).items_out, 600u);
  EXPECT_EQ(t.stage(2, t.size() - 1).items_in, 600u);
  expect_non_decreasing(t.t_s(), "t_s");
  expect_non_decreasing(t.epoch(), "epoch");
  EXPECT_EQ(t.epoch().front(), 1);
  EXPECT_EQ(t.epoch().back(), 3);
  for (int64_t n : t.in_flight()) EXPECT_GE(n, 0);
}

TEST(Timeline, TheLengthBoundHoldsOverALongRun) {
  RunOptions options;
  options.timeline_interval_s = 0.01;
  options.timeline_max_samples = 6;
  const RunReport r = run_toml(sleepy_pipeline(400, 1), options);  // ~0.4 s: ~40 ticks
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  EXPECT_LE(r.timeline.size(), 6u);
  EXPECT_GE(r.timeline.size(), 3u);
  EXPECT_GE(r.timeline.interval_s(), 0.04);
  EXPECT_EQ(r.timeline.stage(1, r.timeline.size() - 1).items_out, 400u);
}

TEST(Timeline, TheProfileJsonCarriesItInTheAgreedShape) {
  RunOptions options;
  options.timeline_interval_s = 0.05;
  const RunReport r = run_toml(sleepy_pipeline(300, 1), options);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  const auto j = nlohmann::json::parse(profile_json(r));
  const auto& t = j.at("timeline");
  EXPECT_DOUBLE_EQ(t.at("interval_s").get<double>(), 0.05);
  const size_t n = t.at("t_s").size();
  ASSERT_GE(n, 3u);
  EXPECT_EQ(t.at("in_flight").size(), n);
  EXPECT_EQ(t.at("epoch").size(), n);
  ASSERT_EQ(t.at("stages").size(), 3u);
  for (const char* id : {"numbers", "nap", "total"}) {
    const auto& s = t.at("stages").at(id);
    for (const char* key : {"items_out", "busy_s", "wait_s"}) {
      EXPECT_EQ(s.at(key).size(), n) << id << "." << key;
    }
  }
  EXPECT_EQ(t["stages"]["nap"]["items_out"].back().get<uint64_t>(), 300u);
  // The rest of the profile is unchanged by it.
  EXPECT_EQ(j.at("stages").size(), 3u);
  EXPECT_EQ(j.at("status"), "completed");
}

TEST(RunMonitor, ShowsTheRunWhileItGoesOnAndItsEndAfter) {
  RunMonitor monitor;
  RunOptions options;
  options.timeline_interval_s = 0.05;
  options.monitor = &monitor;
  EXPECT_EQ(monitor.state(), "starting");
  auto done =
      std::async(std::launch::async, [&] { return run_toml(sleepy_pipeline(800, 2), options); });
  uint64_t first = 0, later = 0;
  for (int i = 0; i < 200 && later == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto j = nlohmann::json::parse(monitor.status_json());
    if (j.at("state") != "running") continue;
    const uint64_t n = j.at("stages").at(1).at("items_out").get<uint64_t>();
    if (first == 0) {
      first = n;
    } else if (n > first) {
      later = n;
      EXPECT_EQ(j.at("progress").at("epochs"), 2);
      EXPECT_GE(j.at("progress").at("epoch").get<int>(), 1);
      EXPECT_EQ(j.at("timeline").at("t_s").size(),
                j.at("timeline").at("stages").at("nap").at("items_out").size());
    }
  }
  const RunReport r = done.get();
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  EXPECT_GT(first, 0u) << "no running state with counts was seen";
  EXPECT_GT(later, first) << "counts did not increase while the run went on";
  const auto end = nlohmann::json::parse(monitor.status_json());
  EXPECT_EQ(end.at("state"), "completed");
  EXPECT_EQ(end.at("stages").at(1).at("items_out"), 800);
}

TEST(LiveMetrics, StepsStayBoundedAndEpochsKeepIntegers) {
  LiveMetrics live;
  for (int64_t s = 1; s <= 10000; ++s) live.add_step(s, {{"loss", 1.0 / s}});
  EXPECT_LE(live.step_count(), LiveMetrics::kMaxSteps);
  EXPECT_GE(live.step_count(), LiveMetrics::kMaxSteps / 2);
  live.add_epoch({{"epoch", 1}, {"loss", 0.5}, {"val_auc", std::nan("")}});
  live.set_progress("epoch 2 train", 3, 10, 2);
  const auto j = nlohmann::json::parse(live.to_json());
  const auto& steps = j.at("steps").at("step");
  EXPECT_EQ(steps.size(), j.at("steps").at("loss").size());
  expect_non_decreasing(steps.get<std::vector<int64_t>>(), "step");
  EXPECT_TRUE(j.at("epochs").at(0).at("epoch").is_number_integer());
  EXPECT_TRUE(j.at("epochs").at(0).at("val_auc").is_null());
  EXPECT_EQ(j.at("progress").at("total"), 10);
}

}  // namespace
}  // namespace sluice

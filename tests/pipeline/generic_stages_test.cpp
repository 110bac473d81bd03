// The generic stages' integer arithmetic: a result outside int64 fails the run
// with the stage and the item named, instead of wrapping (undefined behaviour).
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include <regex>

#include "pipeline/runner.h"
#include "pipeline/validate.h"
#include "stages/generic/generic_stages.h"

namespace sluice {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

RunReport run_numbers(int64_t start, int64_t count, int64_t factor, int64_t offset) {
  Registry registry;
  register_generic_stages(registry);
  const std::string toml =
      "[stages.n]\nuse = \"gen.range\"\nstart = " + std::to_string(start) +
      "\ncount = " + std::to_string(count) +
      "\n[stages.s]\nuse = \"math.scale\"\ninput = \"n\"\nfactor = " + std::to_string(factor) +
      "\noffset = " + std::to_string(offset) + "\n[stages.t]\nuse = \"util.sum\"\ninput = \"s\"\n";
  RunOptions opts;
  opts.threads = 2;
  return run_graph(load_pipeline_string(toml, "test.toml", {}, registry), opts);
}

TEST(GenericStages, RangeThatWouldPassInt64MaxFailsToStart) {
  RunReport r = run_numbers(kMax, 2, 1, 0);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.failed_stage, "n");
  EXPECT_NE(r.error.find("stage 'n' failed to start: the last integer, start + count - 1 = " +
                         std::to_string(kMax) + " + 1, overflows a 64-bit integer"),
            std::string::npos)
      << r.error;
  // The largest range that fits runs, and its sum is checked too.
  RunReport fits = run_numbers(kMax, 1, 1, 0);
  EXPECT_EQ(fits.status, RunStatus::kCompleted) << fits.error;
  EXPECT_EQ(fits.counters.at("t.sum"), kMax);
}

TEST(GenericStages, ScaleOverflowNamesStageAndItem) {
  RunReport r = run_numbers(0, 10, int64_t{1} << 62, 0);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.failed_stage, "s");
  // Every item from 2 on overflows; which one fails first depends on the threads.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.error, m,
      std::regex(
          R"(item #(\d) \(Int (\d)\): (\d) \* 4611686018427387904 \+ 0 overflows a 64-bit integer)")))
      << r.error;
  EXPECT_GE(std::stoi(m[1].str()), 2) << r.error;
  EXPECT_EQ(m[1].str(), m[2].str());
  EXPECT_EQ(m[2].str(), m[3].str());
  RunReport off = run_numbers(0, 3, 1, kMin);
  EXPECT_EQ(off.status, RunStatus::kFailed);
  EXPECT_EQ(off.failed_stage, "t");  // 0 + kMin fits; the sum kMin + (1 + kMin) does not
}

TEST(GenericStages, SumOverflowNamesTheItems) {
  RunReport r = run_numbers(kMax - 2, 3, 1, 0);
  EXPECT_EQ(r.status, RunStatus::kFailed);
  EXPECT_EQ(r.failed_stage, "t");
  EXPECT_NE(r.error.find("the sum of 2 items (" + std::to_string(kMax - 2) + " + " +
                         std::to_string(kMax - 1) + ") overflows a 64-bit integer"),
            std::string::npos)
      << r.error;
  RunReport ok = run_numbers(-1000, 2001, 3, 1);
  EXPECT_EQ(ok.status, RunStatus::kCompleted) << ok.error;
  EXPECT_EQ(ok.counters.at("t.sum"), 2001);  // sum of 3x + 1 over [-1000, 1000]
}

}  // namespace
}  // namespace sluice

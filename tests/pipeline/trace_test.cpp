// The Chrome trace writer: a full recorder says it was cut (in the file and
// through dropped()), a failed write throws and leaves no file behind, and a
// million spans write in well under the time a run takes (timed, not asserted).
#include "pipeline/trace.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sluice {
namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".json");
}

// `n` spans spread over the slots, 1000 ticks apart.
void fill(TraceRecorder& t, size_t n, int slots) {
  t.set_origin(0);
  for (size_t i = 0; i < n; ++i) {
    t.record(static_cast<int>(i % 3), static_cast<int>(i % static_cast<size_t>(slots)), 1000 * i,
             1000 * i + 400);
  }
}

TEST(Trace, CutTraceSaysSoInTheFileAndTheCounts) {
  const fs::path path = temp_file("sluice_trace_cut");
  TraceRecorder t({"src", "stage \"two\"", "sink"}, 4, /*max_events=*/100);
  fill(t, 150, 3);  // slots 0-2 own 25 spans each; the rest is dropped
  EXPECT_EQ(t.recorded(), 75u);
  EXPECT_EQ(t.dropped(), 75u);
  t.write(path.string());
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  size_t spans = 0;
  for (const auto& e : j.at("traceEvents")) {
    if (e.at("ph") == "X") {
      ++spans;
      EXPECT_GE(e.at("dur").get<double>(), 0.0);
    }
  }
  EXPECT_EQ(spans, 75u);
  const nlohmann::json& meta = j.at("otherData");
  EXPECT_EQ(meta.at("spans_recorded"), 75);
  EXPECT_EQ(meta.at("spans_not_recorded"), 75);
  EXPECT_EQ(meta.at("truncated"), true);
  EXPECT_NE(
      meta.at("note").get<std::string>().find("trace truncated at 75 spans; 75 more not recorded"),
      std::string::npos);
  bool named = false;
  for (const auto& e : j.at("traceEvents")) named = named || e.value("name", "") == "stage \"two\"";
  EXPECT_TRUE(named) << "stage names are JSON-escaped";
  fs::remove(path);
}

TEST(Trace, FailedWriteThrowsAndLeavesNothing) {
  TraceRecorder t({"a", "b", "c"}, 2);
  fill(t, 10, 2);
  try {
    t.write("/nonexistent/dir/t.json");
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'/nonexistent/dir/t.json'"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists("/nonexistent/dir/t.json"));
  EXPECT_THROW(t.write(fs::temp_directory_path().string()), std::runtime_error);  // a folder
}

TEST(Trace, WritesAMillionSpans) {
  const fs::path path = temp_file("sluice_trace_million");
  TraceRecorder t({"index", "decode", "augment"}, 8, 1'000'000);
  fill(t, 1'000'000, 8);
  ASSERT_EQ(t.dropped(), 0u);
  const auto t0 = std::chrono::steady_clock::now();
  t.write(path.string());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ timing   ] 1,000,000 spans written in %.2f s (%.0f MB)\n", secs,
              static_cast<double>(fs::file_size(path)) / 1e6);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  size_t spans = 0;
  for (size_t at = text.find("\"ph\":\"X\""); at != std::string::npos;
       at = text.find("\"ph\":\"X\"", at + 1)) {
    ++spans;
  }
  EXPECT_EQ(spans, 1'000'000u);
  fs::remove(path);
}

}  // namespace
}  // namespace sluice

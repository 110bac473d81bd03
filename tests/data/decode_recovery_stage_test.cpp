// image.decode over a dataset with one bad JPEG ahead of good ones: the bad
// file is skipped and counted, and every good one after it still decodes (one
// bad header used to leave the thread's TurboJPEG handle failing the next file).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "pipeline/registry.h"
#include "pipeline/testing/stage_harness.h"
#include "stages/builtin.h"
#include "vision/payloads.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

std::vector<uint8_t> small_jpeg(int seed) {
  cv::Mat bgr(30, 40, CV_8UC3);
  for (size_t i = 0; i < bgr.total() * 3; ++i)
    bgr.data[i] = static_cast<uint8_t>(i * 13 + seed * 29);
  std::vector<uchar> bytes;
  EXPECT_TRUE(cv::imencode(".jpg", bgr, bytes));
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// The frame header (SOF0) claims 0 x 0 pixels.
std::vector<uint8_t> zero_size_jpeg() {
  std::vector<uint8_t> j = small_jpeg(0);
  for (size_t i = 0; i + 9 < j.size(); ++i) {
    if (j[i] == 0xFF && j[i + 1] == 0xC0) {
      std::fill(j.begin() + static_cast<long>(i) + 5, j.begin() + static_cast<long>(i) + 9, 0);
      break;
    }
  }
  return j;
}

TEST(DecodeStage, OneBadJpegThenGoodOnesEmitsEveryGoodImage) {
  const fs::path dir =
      fs::temp_directory_path() / ("sluice_decode_recovery_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string p = (dir / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return p;
  };
  constexpr int kGood = 50;
  std::vector<std::any> samples;
  Sample bad;
  bad.path = write("bad.jpg", zero_size_jpeg());
  samples.emplace_back(bad);
  for (int i = 0; i < kGood; ++i) {
    Sample s;
    s.index = i + 1;
    s.path = write("good" + std::to_string(i) + ".jpg", small_jpeg(i + 1));
    samples.emplace_back(s);
  }
  Registry reg;
  register_builtin_stages(reg);
  RunOptions one_thread;  // every file on the same decoder thread
  one_thread.threads = 1;
  StageHarness h(reg, "use = \"image.decode\"", one_thread);
  const HarnessOutput out = h.run(samples);
  fs::remove_all(dir);
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  EXPECT_EQ(out.payloads().size(), static_cast<size_t>(kGood));
  EXPECT_EQ(out.report.counters.at("under_test.skipped.corrupt"), 1);
}

// Junk bytes before the first DHT marker: libjpeg warns ("3 extraneous bytes
// before marker 0xc4") and decodes it, as PIL does.
std::vector<uint8_t> junk_before_marker(std::vector<uint8_t> jpeg) {
  for (size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) {
      jpeg.insert(jpeg.begin() + static_cast<long>(i), {0x12, 0x34, 0x56});
      break;
    }
  }
  return jpeg;
}

TEST(DecodeStage, AJpegWithALibjpegWarningIsKeptAndCounted) {
  const fs::path dir =
      fs::temp_directory_path() / ("sluice_decode_warning_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::any> samples;
  for (int i = 0; i < 4; ++i) {
    Sample s;
    s.index = i;
    s.path = (dir / ("w" + std::to_string(i) + ".jpg")).string();
    const auto bytes = i % 2 ? junk_before_marker(small_jpeg(i)) : small_jpeg(i);
    std::ofstream(s.path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    samples.emplace_back(s);
  }
  Registry reg;
  register_builtin_stages(reg);
  StageHarness h(reg, "use = \"image.decode\"\npolicy = \"fail\"");
  const HarnessOutput out = h.run(samples);
  fs::remove_all(dir);
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  EXPECT_EQ(out.payloads().size(), 4u);
  EXPECT_EQ(out.report.counters.at("under_test.decoded_with_warnings"), 2);
}

// The malformed JPEGs of ../shared/data/jpeg-corpus/crashtest (skipped when
// absent) under policy = "skip": the run completes, each one decoded or counted.
TEST(DecodeStage, TheCrashCorpusEndsNoRun) {
  const fs::path root = fs::path(SLUICE_SOURCE_DIR) / ".." / "shared" / "data" / "jpeg-corpus";
  if (!fs::is_directory(root / "crashtest")) GTEST_SKIP() << root << " is absent";
  std::vector<std::any> samples;
  for (const auto& e : fs::directory_iterator(root / "crashtest")) {
    if (e.path().extension() != ".jpg") continue;
    Sample s;
    s.index = static_cast<int64_t>(samples.size());
    s.path = e.path().string();
    samples.emplace_back(s);
  }
  ASSERT_GT(samples.size(), 100u);
  Registry reg;
  register_builtin_stages(reg);
  StageHarness h(reg, "use = \"image.decode\"");
  const HarnessOutput out = h.run(samples);
  ASSERT_EQ(out.report.status, RunStatus::kCompleted) << out.report.error;
  int64_t skipped = 0;
  for (const auto& [name, value] : out.report.counters) {
    if (name.rfind("under_test.skipped.", 0) == 0) skipped += value;
  }
  EXPECT_EQ(static_cast<int64_t>(out.payloads().size()) + skipped,
            static_cast<int64_t>(samples.size()));
}

}  // namespace
}  // namespace sluice

// The example plugin, loaded from its library: image.random_erasing under the
// stage harness, and both stages inside the CelebA graph of its config.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "pipeline/plugin.h"
#include "pipeline/runner.h"
#include "pipeline/testing/stage_harness.h"
#include "pipeline/validate.h"
#include "plugin_test_util.h"
#include "stages/builtin.h"
#include "stages/data/synth_celeba.h"
#include "vision/payloads.h"

namespace sluice {
namespace {

Registry with_example_plugin() {
  Registry r;
  register_builtin_stages(r);
  load_plugin(SLUICE_EXAMPLE_PLUGIN, r);
  return r;
}

Image gray_image(int64_t index, int width, int height, uint8_t level) {
  Image img;
  img.sample.index = index;
  img.width = width;
  img.height = height;
  img.channels = 3;
  img.pixels = ByteBuffer(new uint8_t[img.bytes()]);
  std::memset(img.pixels.get(), level, img.bytes());
  return img;
}

struct Box {
  int top = -1, left = -1, bottom = -1, right = -1;  // inclusive; top < 0: nothing erased
  int64_t changed = 0;
};

// The bounding box of pixels that are no longer `level`.
Box changed_box(const Image& img, uint8_t level) {
  Box b;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.pixels.get() + (static_cast<size_t>(y) * img.width + x) * 3;
      if (p[0] == level && p[1] == level && p[2] == level) continue;
      ++b.changed;
      if (b.top < 0 || y < b.top) b.top = y;
      if (y > b.bottom) b.bottom = y;
      if (b.left < 0 || x < b.left) b.left = x;
      if (x > b.right) b.right = x;
    }
  }
  return b;
}

TEST(RandomErasing, ErasesOneRectangleWithinScaleAndRatio) {
  Registry registry = with_example_plugin();
  StageHarness h(registry, R"(use = "image.random_erasing"
                              p = 1.0
                              scale = [0.1, 0.2]
                              ratio = [0.5, 2.0]
                              value = [10, 20, 30])");
  std::vector<std::any> in;
  for (int64_t i = 0; i < 50; ++i) in.emplace_back(gray_image(i, 120, 90, 200));
  HarnessOutput out = h.run(in);
  ASSERT_EQ(out.payloads().size(), 50u);
  EXPECT_EQ(out.report.counters.at("under_test.erased"), 50);
  for (const std::any& a : out.payloads()) {
    const Image& img = payload_as<Image>(a);
    const Box b = changed_box(img, 200);
    ASSERT_GE(b.top, 0) << "image " << img.sample.index << " was not erased";
    const int h_px = b.bottom - b.top + 1, w_px = b.right - b.left + 1;
    EXPECT_EQ(b.changed, int64_t{h_px} * w_px) << "not one filled rectangle";
    const double area = static_cast<double>(h_px) * w_px / (120.0 * 90.0);
    // Rounding h and w moves the area a little off the drawn fraction.
    EXPECT_GT(area, 0.1 * 0.8);
    EXPECT_LT(area, 0.2 * 1.2);
    const double ratio = static_cast<double>(h_px) / w_px;
    EXPECT_GT(ratio, 0.5 * 0.8);
    EXPECT_LT(ratio, 2.0 * 1.25);
    const uint8_t* p = img.pixels.get() + (static_cast<size_t>(b.top) * 120 + b.left) * 3;
    EXPECT_EQ(p[0], 10);
    EXPECT_EQ(p[1], 20);
    EXPECT_EQ(p[2], 30);
  }
}

TEST(RandomErasing, DependsOnlyOnSeedEpochAndIndex) {
  Registry registry = with_example_plugin();
  auto erase_all = [&](int threads, int64_t seed) {
    RunOptions o;
    o.threads = threads;
    o.seed = seed;
    StageHarness h(registry, R"(use = "image.random_erasing"
                                p = 0.5
                                fill = "random")",
                   o);
    std::vector<std::any> in;
    for (int64_t i = 0; i < 40; ++i) in.emplace_back(gray_image(i, 64, 48, 128));
    std::vector<std::string> bytes;
    HarnessOutput out = h.run(in);
    for (const std::any& a : out.payloads()) {
      const Image& img = payload_as<Image>(a);
      bytes.emplace_back(reinterpret_cast<const char*>(img.pixels.get()), img.bytes());
    }
    std::sort(bytes.begin(), bytes.end());
    return std::make_pair(bytes, out.report.counters.at("under_test.erased"));
  };
  const auto one = erase_all(1, 7);
  const auto four = erase_all(4, 7);
  EXPECT_EQ(one, four);
  EXPECT_GT(one.second, 5);  // p = 0.5 of 40
  EXPECT_LT(one.second, 35);
  EXPECT_NE(one.first, erase_all(1, 8).first);
}

TEST(RandomErasing, LeavesImagesAloneWithProbabilityZeroAndSharedBuffersUntouched) {
  Registry registry = with_example_plugin();
  Image img = gray_image(3, 32, 32, 77);
  ByteBuffer original = img.pixels;  // a second holder: the stage must copy
  StageHarness keep(registry, "use = \"image.random_erasing\"\np = 0.0");
  EXPECT_EQ(changed_box(payload_as<Image>(keep.run({img}).payloads().at(0)), 77).changed, 0);
  StageHarness erase(registry, "use = \"image.random_erasing\"\np = 1.0");
  const Image out = payload_as<Image>(erase.run({img}).payloads().at(0));
  EXPECT_GT(changed_box(out, 77).changed, 0);
  EXPECT_EQ(changed_box(img, 77).changed, 0);
}

TEST(RandomErasing, ValidationReportsAReversedRangeAtItsKey) {
  // The plugin's StageSpec::check hook runs inside the host's validate().
  Registry registry = with_example_plugin();
  StageHarness h(registry, "use = \"image.random_erasing\"\nratio = [3.0, 0.5]");
  try {
    h.run(std::vector<std::any>{});
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    const Diagnostic& d = e.diagnostics()[0];
    EXPECT_EQ(d.message,
              "stage 'under_test' (image.random_erasing): ratio must be given as "
              "[min, max]");
    EXPECT_EQ(d.where.column, 9) << "at the value of ratio";
  }
}

TEST(ExamplePlugin, RunsInTheCelebaGraphOfItsConfig) {
  plugin_test::ScratchDir dir("example_plugin");
  data::write_synthetic_celeba({dir / "celeba", 60, 3, 90});
  Registry registry = with_example_plugin();
  const std::string csv = dir / "stats.csv";
  ValidatedGraph g =
      load_pipeline(SLUICE_EXAMPLE_CONFIG,
                    {"index.root=\"" + dir / "celeba" + "\"", "stats.path=\"" + csv + "\"",
                     "augment.width=64", "augment.height=64", "batch.batch_size=8"},
                    registry);
  RunOptions o;
  o.threads = 2;
  RunReport r = run_graph(g, o);
  ASSERT_EQ(r.status, RunStatus::kCompleted) << r.error;
  int64_t train = 0, validation = 0;  // the config reads these two splits
  for (int64_t i = 0; i < 60; ++i) {
    const int part = data::synthetic_partition(i, 60);
    train += part == 0;
    validation += part == 1;
  }
  ASSERT_GT(validation, 0);
  EXPECT_EQ(r.counters.at("erase.erased") + r.counters.at("erase.kept"), train + validation);
  EXPECT_GT(r.counters.at("erase.erased"), 0);

  std::istringstream lines(plugin_test::read_file(csv));
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line,
            "epoch,split,batch,size,height,width,mean_pixel,mean_r,mean_g,mean_b,positives,"
            "positive_fraction");
  std::vector<std::string> rows;
  while (std::getline(lines, line)) rows.push_back(line);
  const size_t train_batches = static_cast<size_t>((train + 7) / 8);
  ASSERT_EQ(rows.size(), train_batches + static_cast<size_t>((validation + 7) / 8));
  EXPECT_EQ(rows[0].rfind("1,train,0,8,64,64,", 0), 0u) << rows[0];
  EXPECT_EQ(rows[train_batches].rfind("1,validation,0,", 0), 0u) << rows[train_batches];
}

TEST(ExamplePlugin, FillValuesNotMatchingTheChannelsAreAConfigError) {
  plugin_test::ScratchDir dir("example_plugin_spec");
  data::write_synthetic_celeba({dir / "celeba", 20, 3, 90});
  Registry registry = with_example_plugin();
  try {
    load_pipeline(SLUICE_EXAMPLE_CONFIG,
                  {"index.root=\"" + dir / "celeba" + "\"", "erase.value=[1, 2]"}, registry);
    FAIL() << "two fill values for RGB images were accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    const Diagnostic& d = e.diagnostics()[0];
    EXPECT_EQ(d.where.file, "--set erase.value=[1, 2]");
    EXPECT_EQ(d.message,
              "stage 'erase' (image.random_erasing): gives 2 fill values but the input images "
              "have 3 channels (give one, or one per channel)");
  }
  EXPECT_NO_THROW(load_pipeline(SLUICE_EXAMPLE_CONFIG,
                                {"index.root=\"" + dir / "celeba" + "\"", "erase.value=[1, 2, 3]"},
                                registry));
}

}  // namespace
}  // namespace sluice

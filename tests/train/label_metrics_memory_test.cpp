// Categorical metrics at many classes: memory linear in the classes (a sparse
// confusion matrix, per-class counts), a report and table of bounded size, and
// class names escaped before they reach a terminal.
#include <gtest/gtest.h>
#include <malloc.h>

#include <string>
#include <vector>

#include "stages/train/label_metrics.h"

namespace sluice::train {
namespace {

// Heap bytes in use (arenas and mmapped blocks).
size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// 4000 classes: a dense confusion matrix would take 128 MB (8 bytes a cell) and
// as much again in each report; the counts take a few kilobytes a class at most.
TEST(CategoricalMetrics, MemoryGrowsLinearlyInClassesNotQuadratically) {
  constexpr size_t kClasses = 4000;
  std::vector<std::string> names;
  for (size_t c = 0; c < kClasses; ++c) names.push_back("class" + std::to_string(c));
  const size_t before = heap_in_use();
  CategoricalMetrics m(names);
  std::vector<float> probabilities(3 * kClasses, 0.0f);
  probabilities[0 * kClasses + 7] = 1.0f;     // truth 7: right
  probabilities[1 * kClasses + 9] = 1.0f;     // truth 8: taken for 9
  probabilities[2 * kClasses + 3999] = 1.0f;  // truth 3999: right
  m.add_batch(probabilities, {7, 8, 3999});
  const CategoricalReport r = m.report();
  const nlohmann::json j = r.to_json();
  const std::string table = r.to_table();
  const size_t used = heap_in_use() - before;
  EXPECT_LT(used, size_t{16} << 20) << used << " bytes for " << kClasses << " classes";
  EXPECT_EQ(r.confused(8, 9), 1);
  EXPECT_EQ(r.confused(7, 7), 1);
  EXPECT_DOUBLE_EQ(r.top1, 2.0 / 3.0);
  EXPECT_EQ(r.classes[8].support, 1);
  EXPECT_DOUBLE_EQ(r.classes[9].precision, 0.0);
  ASSERT_TRUE(j["confusion"].contains("cells"));
  EXPECT_EQ(j["confusion"]["cells"].size(), 3u);
  EXPECT_EQ(j["confusion"]["cells"][1], nlohmann::json({8, 9, 1}));
  EXPECT_NE(table.find("class8 -> class9: 1"), std::string::npos) << table.substr(0, 2000);
  EXPECT_LT(table.size(), size_t{1} << 20);
}

TEST(CategoricalMetrics, ClassNamesAreEscapedInTheTable) {
  CategoricalMetrics m({"ok", "bad\x1b[2J\n", "c"});
  m.add_batch({0.1f, 0.8f, 0.1f}, {1});
  const std::string table = m.report().to_table();
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_NE(table.find("bad\\x1b[2J\\n"), std::string::npos) << table;
}

}  // namespace
}  // namespace sluice::train

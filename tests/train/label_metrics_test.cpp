// Metrics per label kind (stages/train/label_metrics.h) on hand-made predictions
// whose scores are known: top-1/top-5, per-class precision and recall and the
// confusion matrix of a categorical label; per-attribute accuracy, F1 and AUC and
// their means for a multi-label one; the reduction to an epoch record's values.
#include "stages/train/label_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sluice::train {
namespace {

// Three images, three classes: a right, b wrong (its truth second), c right.
TEST(CategoricalMetrics, TopKPerClassScoresAndConfusion) {
  CategoricalMetrics m({"cat", "dog", "fox"});
  m.add_batch({0.7f, 0.2f, 0.1f,   // truth cat: right
               0.6f, 0.3f, 0.1f,   // truth dog: predicted cat, dog second
               0.1f, 0.1f, 0.8f},  // truth fox: right
              {0, 1, 2});
  m.add_loss(3.0, 3);
  const CategoricalReport r = m.report();
  EXPECT_EQ(r.count, 3);
  EXPECT_DOUBLE_EQ(r.loss, 1.0);
  EXPECT_DOUBLE_EQ(r.top1, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);  // every truth is among the 3 (< 5) classes
  ASSERT_EQ(r.classes.size(), 3u);
  EXPECT_DOUBLE_EQ(r.classes[0].precision, 0.5);  // cat predicted twice, once right
  EXPECT_DOUBLE_EQ(r.classes[0].recall, 1.0);
  EXPECT_DOUBLE_EQ(r.classes[1].recall, 0.0);
  EXPECT_DOUBLE_EQ(r.classes[1].f1, 0.0);
  EXPECT_EQ(r.confused(1, 0), 1);  // a dog taken for a cat
  EXPECT_EQ(r.confused(2, 2), 1);
  EXPECT_EQ(r.confused(0, 1), 0);
  // Macro means over the classes present.
  EXPECT_NEAR(r.macro_recall, (1.0 + 0.0 + 1.0) / 3.0, 1e-12);
  const std::string table = r.to_table();
  EXPECT_NE(table.find("top-5"), std::string::npos) << table;
  EXPECT_NE(table.find("fox"), std::string::npos) << table;
  EXPECT_EQ(r.to_json()["confusion"]["rows"][1][0], 1);
}

TEST(CategoricalMetrics, TopFiveCountsTheFiveMostProbable) {
  CategoricalMetrics m({"0", "1", "2", "3", "4", "5", "6"});
  // Truth 6 ranks sixth: not in the top 5. Truth 4 ranks fifth: in it.
  m.add_batch({0.30f, 0.25f, 0.2f, 0.1f, 0.08f, 0.0f, 0.07f,  //
               0.30f, 0.25f, 0.2f, 0.1f, 0.08f, 0.0f, 0.07f},
              {6, 4});
  const auto r = m.report();
  EXPECT_DOUBLE_EQ(r.top1, 0.0);
  EXPECT_DOUBLE_EQ(r.top5, 0.5);
}

TEST(CategoricalMetrics, RefusesAClassIdBeyondTheClasses) {
  CategoricalMetrics m({"a", "b"});
  EXPECT_THROW(m.add_batch({0.5f, 0.5f}, {2}), std::invalid_argument);
}

// Two attributes, four images.
TEST(MultiLabelMetrics, PerAttributeScoresAndMeans) {
  MultiLabelMetrics m({"Smiling", "Eyeglasses"});
  m.add_batch({0.9f, 0.1f,   // smiling, no glasses: both right
               0.2f, 0.8f,   // not smiling, glasses: both right
               0.7f, 0.6f,   // truth not smiling, no glasses: both wrong
               0.4f, 0.3f},  // truth smiling, no glasses: Smiling wrong
              {1, 0, 0, 1, 0, 0, 1, 0});
  const MultiLabelReport r = m.report();
  EXPECT_EQ(r.count, 4);
  ASSERT_EQ(r.attributes.size(), 2u);
  EXPECT_DOUBLE_EQ(r.attributes[0].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.attributes[1].accuracy, 0.75);
  EXPECT_EQ(r.attributes[1].positives, 1);
  EXPECT_DOUBLE_EQ(r.attributes[1].recall, 1.0);
  EXPECT_DOUBLE_EQ(r.attributes[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(r.attributes[1].roc_auc, 1.0);  // 0.8 above all three negatives
  // Positives 0.9 and 0.4 against negatives 0.2 and 0.7: 3 of 4 pairs ordered.
  EXPECT_DOUBLE_EQ(r.attributes[0].roc_auc, 0.75);
  EXPECT_DOUBLE_EQ(r.mean_accuracy, 0.625);
  EXPECT_DOUBLE_EQ(r.mean_auc, 0.875);
  const std::string table = r.to_table();
  EXPECT_NE(table.find("Eyeglasses"), std::string::npos) << table;
  EXPECT_NE(table.find("mean"), std::string::npos) << table;
  EXPECT_EQ(r.to_json()["attributes"][1]["attribute"], "Eyeglasses");
}

TEST(LabelMetrics, ReducesEachKindToTheEpochRecordsScores) {
  LabelMetrics categorical(LabelSpec::Kind::kCategorical, {"a", "b", "c"});
  categorical.add_batch({0.8f, 0.1f, 0.1f, 0.1f, 0.1f, 0.8f}, {0, 1}, nullptr, {});
  const auto c = categorical.scores();
  EXPECT_EQ(c.count, 2);
  EXPECT_DOUBLE_EQ(c.accuracy, 0.5);  // top-1
  EXPECT_TRUE(std::isnan(c.auc));
  EXPECT_EQ(categorical.to_json()["kind"], "categorical");

  LabelMetrics multi(LabelSpec::Kind::kMultiLabel, {"x", "y"});
  multi.add_batch({0.9f, 0.1f, 0.1f, 0.9f}, {1, 0, 0, 0}, nullptr, {});
  EXPECT_DOUBLE_EQ(multi.scores().accuracy, 0.75);  // mean of 1.0 and 0.5

  LabelMetrics binary(LabelSpec::Kind::kUnknown, {});  // unknown scores as binary
  binary.add_batch({0.9f, 0.2f}, {1, 1}, nullptr, {});
  EXPECT_DOUBLE_EQ(binary.scores().accuracy, 0.5);
  EXPECT_EQ(binary.to_json()["kind"], "binary");
}

}  // namespace
}  // namespace sluice::train

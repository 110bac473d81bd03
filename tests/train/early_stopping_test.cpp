#include "stages/train/early_stopping.h"

#include <gtest/gtest.h>

#include <vector>

using sluice::train::EarlyStopping;
using sluice::train::MonitorMode;

namespace {

// Feeds a scripted sequence; returns the epoch (1-based) at which stop fired, or -1.
int64_t stop_epoch(EarlyStopping& es, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (es.update(static_cast<int64_t>(i + 1), values[i]).stop) return static_cast<int64_t>(i + 1);
  }
  return -1;
}

}  // namespace

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  EarlyStopping es("val_loss", MonitorMode::kMin, 2, 0.0);
  // best at epoch 3 (0.5); epochs 4 and 5 do not improve -> stop at 5.
  EXPECT_EQ(stop_epoch(es, {0.9, 0.7, 0.5, 0.55, 0.51, 0.3}), 5);
  EXPECT_EQ(es.state().best_epoch, 3);
  EXPECT_DOUBLE_EQ(es.state().best, 0.5);
  EXPECT_EQ(es.state().stopped_epoch, 5);
}

TEST(EarlyStopping, MinDeltaIgnoresTinyImprovements) {
  EarlyStopping es("val_loss", MonitorMode::kMin, 2, 0.01);
  EXPECT_EQ(stop_epoch(es, {1.0, 0.995, 0.992, 0.5}), 3);
}

TEST(EarlyStopping, ImprovementResetsPatience) {
  EarlyStopping es("val_loss", MonitorMode::kMin, 2, 0.0);
  EXPECT_EQ(stop_epoch(es, {1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.9, 0.1}), 7);
}

TEST(EarlyStopping, AutoModeMaximisesAccuracy) {
  EarlyStopping es("val_accuracy", MonitorMode::kAuto, 2, 0.0);
  EXPECT_FALSE(es.minimize());
  EXPECT_EQ(stop_epoch(es, {0.6, 0.7, 0.65, 0.69, 0.9}), 4);
  EXPECT_TRUE(EarlyStopping("val_loss", MonitorMode::kAuto, 2, 0).minimize());
}

TEST(EarlyStopping, ImprovedFlagMarksBestEpochs) {
  EarlyStopping es("val_loss", MonitorMode::kMin, 0, 0.0);
  std::vector<bool> improved;
  for (double v : {3.0, 2.0, 2.5, 1.0}) improved.push_back(es.update(0, v).improved);
  EXPECT_EQ(improved, (std::vector<bool>{true, true, false, true}));
}

TEST(EarlyStopping, RestoredStateDecidesLikeAnUnbrokenRun) {
  const std::vector<double> values = {0.9, 0.8, 0.85, 0.86, 0.7};
  EarlyStopping whole("val_loss", MonitorMode::kMin, 2, 0.0);
  const int64_t expected = stop_epoch(whole, values);
  EarlyStopping first("val_loss", MonitorMode::kMin, 2, 0.0);
  first.update(1, values[0]);
  first.update(2, values[1]);
  first.update(3, values[2]);
  EarlyStopping resumed("val_loss", MonitorMode::kMin, 2, 0.0);
  resumed.restore(first.state());
  EXPECT_EQ(resumed.update(4, values[3]).stop, expected == 4);
  EXPECT_EQ(expected, 4);
}

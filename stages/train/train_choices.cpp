#include "stages/train/train_choices.h"

namespace sluice::train {

const ChoiceList<Head>& head_choices() {
  static const ChoiceList<Head> kChoices(
      "head",
      {{"imagenet", Head::kImagenet}, {"replace_last", Head::kReplaceLast}, {"gap", Head::kGap}});
  return kChoices;
}

const ChoiceList<Freeze>& freeze_choices() {
  static const ChoiceList<Freeze> kChoices(
      "freeze",
      {{"features", Freeze::kFeatures}, {"none", Freeze::kNone}, {"until", Freeze::kUntil}});
  return kChoices;
}

const ChoiceList<OptimizerKind>& optimizer_choices() {
  static const ChoiceList<OptimizerKind> kChoices(
      "optimizer", {{"adam", OptimizerKind::kAdam}, {"sgd", OptimizerKind::kSgd}});
  return kChoices;
}

const ChoiceList<MonitorMode>& monitor_mode_choices() {
  static const ChoiceList<MonitorMode> kChoices(
      "mode",
      {{"auto", MonitorMode::kAuto}, {"min", MonitorMode::kMin}, {"max", MonitorMode::kMax}});
  return kChoices;
}

}  // namespace sluice::train

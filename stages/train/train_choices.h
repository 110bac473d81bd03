// The string choices of the Torch stages' parameters (head, freeze, optimizer,
// mode), each declared once as a ChoiceList: the ParamSpecs list its names, and
// the stages, checkpoints and `sluice predict` parse with the same table.
#pragma once

#include "pipeline/choice_list.h"
#include "stages/train/early_stopping.h"
#include "stages/train/vgg_config.h"

namespace sluice::train {

enum class OptimizerKind { kAdam, kSgd };

const ChoiceList<Head>& head_choices();                 // imagenet, replace_last, gap
const ChoiceList<Freeze>& freeze_choices();             // features, none, until
const ChoiceList<OptimizerKind>& optimizer_choices();   // adam, sgd
const ChoiceList<MonitorMode>& monitor_mode_choices();  // auto, min, max

}  // namespace sluice::train

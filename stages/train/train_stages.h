// The Torch stage family: train.model, train.vgg, eval.classifier, predict.csv.
#pragma once

namespace sluice {
class Registry;
}

namespace sluice::train {

void register_train_stages(Registry& registry);
// Parts of the family, registered by register_train_stages.
void register_train_vgg(Registry& registry);  // train.vgg and train.model
void register_eval_stages(Registry& registry);

}  // namespace sluice::train

namespace sluice {
using train::register_train_stages;
}

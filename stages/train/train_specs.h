// What the Torch stages accept (pipeline/element_spec.h), checked by `sluice
// check` before any model is built:
//   train.vgg        a Batch of any label kind (binary, categorical with two
//                    classes or more, multi-label), from one source of epochs;
//                    pos_weight sized for the label's sigmoid outputs; a
//                    resumed checkpoint's label, image size and pixel scaling;
//   eval.classifier  a Batch whose label is the one the checkpoint was trained on
//                    (kind and names; unknown passes), of the size the checkpoint
//                    was trained on, its pixels scaled as in training or not at
//                    all (the stage then applies the checkpoint's);
//   predict.csv      the same, whatever the label.
// The checkpoint is read (read_checkpoint_info) only when the file exists.
#pragma once

#include "pipeline/element_spec.h"
#include "pipeline/params.h"

namespace sluice::train {

void train_vgg_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx);
void eval_classifier_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx);
void predict_csv_accepts(const Params& p, const ElementSpec& input, SpecContext& ctx);

}  // namespace sluice::train

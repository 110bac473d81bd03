// Validation of a data-parallel run (stages/train/distributed.h): each rank scores its
// shard of the validation split and keeps the predictions as rows of floats (the
// image's outputs, its label values, its attribute values) until the epoch ends; then
// every rank gathers every rank's rows and scores the whole split, so all compute the
// same metrics, whatever the label kind: binary (1 output, 1 label, attributes),
// categorical (N class probabilities, the class id) or multi-label (one probability
// and one 0/1 label per attribute). No Torch here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stages/train/distributed.h"
#include "stages/train/label_metrics.h"
#include "vision/payloads.h"

namespace sluice::train {

class DistributedValidation {
 public:
  // `probs`: the batch's predictions, images x outputs; `loss_sum`: its summed loss.
  void add(const std::vector<float>& probs, const Batch& batch, double loss_sum);
  void clear();
  // Gathers every rank's rows (a collective: every rank calls it, also one without
  // validation batches) and adds them, with the summed loss, to `metrics`.
  void gather_into(Distributed& dist, LabelMetrics& metrics);

 private:
  std::vector<float> rows_;
  int64_t outputs_ = 0, labels_ = 0, attrs_ = 0;  // per image; 0 before the first batch
  double loss_sum_ = 0.0;
  int64_t count_ = 0;
  std::shared_ptr<const std::vector<std::string>> attr_names_;
};

}  // namespace sluice::train

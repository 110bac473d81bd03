// Dynamic loss scaling for fp16 training, as torch.cuda.amp.GradScaler (LibTorch has
// no C++ one): the loss is multiplied by `scale` before the backward pass so small
// fp16 gradients do not flush to zero; before the optimizer step the gradients are
// divided by it again and checked. A step whose gradients hold an inf or NaN is
// skipped and the scale halves; after `growth_interval` good steps in a row it doubles.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace sluice::train {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  torch::Tensor scale(const torch::Tensor& loss) const { return loss * scale_; }
  // Divides the gradients of `params` by the scale in place; true when any of them
  // is not finite (the optimizer step must then be skipped).
  bool unscale(const std::vector<torch::Tensor>& params) const;
  // After a step: halves the scale when `found_inf`, else counts towards growth.
  void update(bool found_inf);

  double current_scale() const { return scale_; }
  int64_t growth_tracker() const { return good_steps_; }
  int64_t skipped_steps() const { return skipped_; }
  void restore(double scale, int64_t good_steps);

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t good_steps_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace sluice::train

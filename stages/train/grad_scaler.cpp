#include "stages/train/grad_scaler.h"

#include <ATen/ATen.h>

namespace sluice::train {

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale) {}

bool GradScaler::unscale(const std::vector<torch::Tensor>& params) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> cuda_grads;
  bool found_inf = false;
  const double inverse = 1.0 / scale_;
  for (const auto& p : params) {
    auto g = p.grad();
    if (!g.defined()) continue;
    if (g.is_cuda()) {
      cuda_grads.push_back(g);
      continue;
    }
    // CPU: the fused kernel is CUDA-only in LibTorch 1.13.
    g.mul_(inverse);
    if (!found_inf && !torch::isfinite(g).all().item<bool>()) found_inf = true;
  }
  if (!cuda_grads.empty()) {
    auto flag = torch::zeros({1}, cuda_grads.front().options().dtype(torch::kFloat));
    auto inv = torch::full({1}, inverse, flag.options());
    at::_amp_foreach_non_finite_check_and_unscale_(cuda_grads, flag, inv);
    if (flag.item<float>() != 0.0f) found_inf = true;
  }
  return found_inf;
}

void GradScaler::update(bool found_inf) {
  if (found_inf) {
    scale_ *= options_.backoff_factor;
    good_steps_ = 0;
    ++skipped_;
    return;
  }
  if (++good_steps_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    good_steps_ = 0;
  }
}

void GradScaler::restore(double scale, int64_t good_steps) {
  scale_ = scale;
  good_steps_ = good_steps;
}

}  // namespace sluice::train

// torch 1.13's AdamW step, gradient clipping and GradScaler update, as libtorch tensor ops.
#include "ti_adamw.hpp"

#include <cmath>

namespace mdh {

void adamw_step(torch::Tensor &param, const torch::Tensor &grad, adamw_state &st, double lr, const adamw_opts &o) {
  torch::NoGradGuard no_grad;
  if (!st.exp_avg.defined()) st.exp_avg = torch::zeros_like(param);
  if (!st.exp_avg_sq.defined()) st.exp_avg_sq = torch::zeros_like(param);
  st.step += 1;
  // torch keeps `step` in a float32 tensor and reads it back as a Python float.
  const double step = static_cast<double>(static_cast<float>(st.step));
  param.mul_(1 - lr * o.weight_decay);
  st.exp_avg.mul_(o.beta1).add_(grad, 1 - o.beta1);
  st.exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
  const double bias_correction1 = 1 - std::pow(o.beta1, step);
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  torch::Tensor denom = (st.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(o.eps);
  param.addcdiv_(st.exp_avg, denom, -step_size);
}

torch::Tensor grad_l2_norm(const torch::Tensor &grad) {
  torch::NoGradGuard no_grad;
  return torch::norm(torch::stack({torch::norm(grad.detach(), 2.0)}), 2.0);
}

void clip_grad_value(torch::Tensor &grad, double clip) {
  torch::NoGradGuard no_grad;
  grad.clamp_(-clip, clip);
}

void clip_grad_norm(torch::Tensor &grad, const torch::Tensor &norm, double max_norm) {
  torch::NoGradGuard no_grad;
  // Python's `max_norm / t` is t.reciprocal() * max_norm (Tensor.__rdiv__).
  torch::Tensor clip_coef = (norm + 1e-6).reciprocal() * max_norm;
  // torch 1.13 multiplies by clamp(coef, max=1); a factor of exactly 1 changes nothing.
  if (clip_coef.item<double>() < 1.0) grad.mul_(torch::clamp(clip_coef, c10::nullopt, 1.0));
}

void loss_scaler::update(bool found_inf) {
  // GradScaler holds the scale in float32.
  if (found_inf) {
    scale = static_cast<float>(scale * kBackoff);
    growth_tracker = 0;
    return;
  }
  if (++growth_tracker == kInterval) {
    const float grown = static_cast<float>(scale * kGrowth);
    if (std::isfinite(grown)) scale = grown;
    growth_tracker = 0;
  }
}

}  // namespace mdh

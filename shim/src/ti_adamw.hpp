// The optimizer side of textual inversion on one float32 parameter tensor: torch 1.13's AdamW,
// gradient clipping (clip_grad_value_ / clip_grad_norm_) and GradScaler's dynamic loss scale.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace mdh {

struct adamw_opts {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

struct adamw_state {
  torch::Tensor exp_avg, exp_avg_sq;  // like the parameter
  int64_t step = 0;
};

// torch.optim.AdamW (amsgrad=False, maximize=False, foreach=False) _single_tensor_adamw, with the
// same operations in the same order, so CPU results match the reference bit for bit.
void adamw_step(torch::Tensor &param, const torch::Tensor &grad, adamw_state &st, double lr, const adamw_opts &o);

// The L2 norm of `grad` as clip_grad_norm_ computes it (norm of the per-tensor norms), float32.
torch::Tensor grad_l2_norm(const torch::Tensor &grad);
// clip_grad_value_: clamp in place to [-clip, clip].
void clip_grad_value(torch::Tensor &grad, double clip);
// clip_grad_norm_(max_norm): scales `grad` in place by max_norm / (norm + 1e-6) when that is
// below 1. `norm` is grad_l2_norm(grad).
void clip_grad_norm(torch::Tensor &grad, const torch::Tensor &norm, double max_norm);

// torch.cuda.amp.GradScaler's defaults: init 2^16, x2 after 2000 good steps, x0.5 on inf.
struct loss_scaler {
  double scale = 65536.0;
  int64_t growth_tracker = 0;
  static constexpr double kGrowth = 2.0, kBackoff = 0.5;
  static constexpr int64_t kInterval = 2000;
  // GradScaler.update after a step that found (or did not find) a non-finite gradient.
  void update(bool found_inf);
};

}  // namespace mdh

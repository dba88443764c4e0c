// EulerDiscreteScheduler and EulerAncestralDiscreteScheduler (diffusers 0.21.4): first-order
// steps in sigma; the ancestral one splits each step into a deterministic part to sigma_down
// and fresh noise of sigma_up (the noise tensor is supplied by the caller).
#include <cmath>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class euler_sampler : public sigma_sampler {
 public:
  explicit euler_sampler(const sched_params &p) : sigma_sampler(p, make_betas(p)) {}

  void set_timesteps(int n) override {
    base_schedule(n, true);
    set_init_noise_sigma();
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    // s_churn = 0: gamma = 0 and sigma_hat = sigma (no noise is added).
    float sigma = (float)sigmas_[i];
    auto x0 = pred_x0(mo, x, sigma, true);
    auto derivative = (x - x0) / sigma;
    float dt = (float)sigmas_[i + 1] - sigma;
    return x + derivative * dt;
  }
};

class euler_ancestral_sampler : public sigma_sampler {
 public:
  explicit euler_ancestral_sampler(const sched_params &p) : sigma_sampler(p, make_betas(p)) {}

  bool needs_noise() const override { return true; }

  void set_timesteps(int n) override {
    base_schedule(n, false);
    set_init_noise_sigma();
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &noise) override {
    advance(i);
    if (!noise.defined()) throw invalid_input("EulerAncestralDiscreteScheduler: step needs a noise tensor");
    float sigma = (float)sigmas_[i], to = (float)sigmas_[i + 1];
    auto x0 = pred_x0(mo, x, sigma, false);
    float up = std::sqrt(to * to * (sigma * sigma - to * to) / (sigma * sigma));
    float down = std::sqrt(to * to - up * up);
    auto derivative = (x - x0) / sigma;
    float dt = down - sigma;
    auto prev = x + derivative * dt;
    return prev + noise * up;
  }
};

}  // namespace

std::unique_ptr<sampler> make_euler(const sched_params &p) { return std::make_unique<euler_sampler>(p); }
std::unique_ptr<sampler> make_euler_ancestral(const sched_params &p) {
  return std::make_unique<euler_ancestral_sampler>(p);
}

}  // namespace mdh

// KDPM2DiscreteScheduler (diffusers 0.21.4): the DPM-Solver-2 midpoint method of k-diffusion.
// Each step evaluates the model at the log-midpoint sigma, so timesteps interleave
// [t0, ti1, t1, ti2, t2, ...] with ti from the midpoint sigmas (computed in float32 as there).
#include <cmath>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class kdpm2_sampler : public sigma_sampler {
 public:
  explicit kdpm2_sampler(const sched_params &p) : sigma_sampler(p, make_betas(p)) {}

  void set_timesteps(int n) override {
    base_schedule(n, false);
    std::vector<float> log_sigmas;
    for (double v : to_host(train_sigmas(acp_t_))) log_sigmas.push_back(std::log((float)v));
    std::vector<float> sf(sigmas_.begin(), sigmas_.end());
    auto sig = torch::tensor(sf, torch::kFloat32);
    // lerp of the logs with weight 0.5, as torch computes it (NaN / 0 at the ends, unused).
    auto si = sig.log().lerp(sig.roll(1).log(), 0.5).exp();
    auto cat2 = [](const torch::Tensor &v) {
      return torch::cat({v.slice(0, 0, 1), v.slice(0, 1).repeat_interleave(2), v.slice(0, -1)});
    };
    auto interp_host = to_host(si);
    sigmas_ = to_host(cat2(sig));
    interpol_ = to_host(cat2(si));
    std::vector<double> t{timesteps_.front()};
    for (size_t k = 1; k < timesteps_.size(); k++) {
      t.push_back((double)sigma_to_t_f32((float)interp_host[k], log_sigmas));
      t.push_back(timesteps_[k]);
    }
    timesteps_ = t;
    set_init_noise_sigma();
    sample_ = torch::Tensor();
  }

  torch::Tensor scale_model_input(const torch::Tensor &x, int i) override {
    check_index(i);
    // Evaluation i is a first-order one when i is even (the reference tracks it by state).
    float sigma = i % 2 == 0 ? (float)sigmas_[i] : (float)interpol_[i];
    return x / std::sqrt(sigma * sigma + 1.0f);
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    if (i == 0) sample_ = torch::Tensor();
    const bool first = !sample_.defined();
    float sigma = first ? (float)sigmas_[i] : (float)sigmas_[i - 1];
    float interpol = first ? (float)interpol_[i + 1] : (float)interpol_[i];
    float next = first ? (float)sigmas_[i + 1] : (float)sigmas_[i];
    auto x0 = pred_x0(mo, x, first ? sigma : interpol, false);
    if (first) {
      auto derivative = (x - x0) / sigma;
      float dt = interpol - sigma;
      sample_ = x;
      return x + derivative * dt;
    }
    auto derivative = (x - x0) / interpol;
    float dt = next - sigma;
    auto out = sample_ + derivative * dt;
    sample_ = torch::Tensor();
    return out;
  }

 private:
  std::vector<double> interpol_;
  torch::Tensor sample_;
};

}  // namespace

std::unique_ptr<sampler> make_kdpm2(const sched_params &p) { return std::make_unique<kdpm2_sampler>(p); }

}  // namespace mdh

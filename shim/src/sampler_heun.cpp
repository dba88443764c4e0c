// HeunDiscreteScheduler (diffusers 0.21.4): Heun's second-order method in sigma over an
// interleaved schedule [t0, t1, t1, ..., tn-1, tn-1]; even evaluations are Euler predictions,
// odd ones the trapezoidal corrections.
#include <cmath>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class heun_sampler : public sigma_sampler {
 public:
  explicit heun_sampler(const sched_params &p) : sigma_sampler(p, make_betas(p)) {}

  void set_timesteps(int n) override {
    base_schedule(n, true);
    std::vector<double> s{sigmas_.front()}, t{timesteps_.front()};
    for (size_t k = 1; k + 1 < sigmas_.size(); k++) s.push_back(sigmas_[k]), s.push_back(sigmas_[k]);
    s.push_back(sigmas_.back());
    for (size_t k = 1; k < timesteps_.size(); k++) t.push_back(timesteps_[k]), t.push_back(timesteps_[k]);
    sigmas_ = s;
    timesteps_ = t;
    set_init_noise_sigma();
    reset();
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    if (i == 0) reset();
    const bool first = !prev_derivative_.defined();
    float sigma = first ? (float)sigmas_[i] : (float)sigmas_[i - 1];
    float next = first ? (float)sigmas_[i + 1] : (float)sigmas_[i];
    auto x0 = pred_x0(mo, x, first ? sigma : next, true);
    if (p_.clip_sample) x0 = x0.clamp(-p_.clip_sample_range, p_.clip_sample_range);
    if (first) {
      auto derivative = (x - x0) / sigma;
      dt_ = next - sigma;
      prev_derivative_ = derivative;
      sample_ = x;
      return x + derivative * dt_;
    }
    auto derivative = (x - x0) / next;
    derivative = (prev_derivative_ + derivative) / 2;
    auto out = sample_ + derivative * dt_;
    reset();
    return out;
  }

 private:
  void reset() {
    prev_derivative_ = torch::Tensor();
    sample_ = torch::Tensor();
    dt_ = 0;
  }
  torch::Tensor prev_derivative_, sample_;
  float dt_ = 0;
};

}  // namespace

std::unique_ptr<sampler> make_heun(const sched_params &p) { return std::make_unique<heun_sampler>(p); }

}  // namespace mdh

// LMSDiscreteScheduler (diffusers 0.21.4): linear multistep of order 4 in sigma. The
// coefficients integrate Lagrange basis polynomials over [sigma_i, sigma_i+1]; the reference
// uses scipy.integrate.quad, here Gauss-Legendre, exact for these degree <= 3 polynomials.
#include <cmath>
#include <deque>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

constexpr int lms_order = 4;

class lms_sampler : public sigma_sampler {
 public:
  explicit lms_sampler(const sched_params &p) : sigma_sampler(p, make_betas(p)) {}

  void set_timesteps(int n) override {
    base_schedule(n, true);
    set_init_noise_sigma();
    derivatives_.clear();
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    if (i == 0) derivatives_.clear();
    float sigma = (float)sigmas_[i];
    auto x0 = pred_x0(mo, x, sigma, true);
    derivatives_.push_back((x - x0) / sigma);
    if ((int)derivatives_.size() > lms_order) derivatives_.pop_front();
    int order = std::min(i + 1, lms_order);
    torch::Tensor sum;
    for (int k = 0; k < order; k++) {
      double c = coefficient(order, i, k);
      auto term = c * derivatives_[derivatives_.size() - 1 - k];
      sum = sum.defined() ? sum + term : term;
    }
    return x + sum;
  }

 private:
  // Integral over [sigma_t, sigma_t+1] of the Lagrange basis polynomial of node t - cur.
  double coefficient(int order, int t, int cur) const {
    // 5-point Gauss-Legendre nodes and weights on [-1, 1]: exact up to degree 9.
    static const double xs[5] = {0.0, -0.5384693101056831, 0.5384693101056831, -0.9061798459386640,
                                 0.9061798459386640};
    static const double ws[5] = {0.5688888888888889, 0.4786286704993665, 0.4786286704993665, 0.2369268850561891,
                                 0.2369268850561891};
    double a = sigmas_[t], b = sigmas_[t + 1];
    double half = (b - a) / 2, mid = (a + b) / 2, acc = 0;
    for (int q = 0; q < 5; q++) {
      double tau = mid + half * xs[q], prod = 1.0;
      for (int k = 0; k < order; k++) {
        if (k == cur) continue;
        prod *= (tau - sigmas_[t - k]) / (sigmas_[t - cur] - sigmas_[t - k]);
      }
      acc += ws[q] * prod;
    }
    return acc * half;
  }

  std::deque<torch::Tensor> derivatives_;
};

}  // namespace

std::unique_ptr<sampler> make_lms(const sched_params &p) { return std::make_unique<lms_sampler>(p); }

}  // namespace mdh

// DPMSolverMultistepScheduler (diffusers 0.21.4): DPM-Solver(++) multistep of order 1-3 over
// integer timesteps, with the reference's lower-order warm-up and final steps (lower_order_final
// below 15 steps) and its last step to timestep 0 (not to a clean sample).
#include <algorithm>
#include <cmath>
#include <set>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class dpm_sampler : public sampler {
 public:
  explicit dpm_sampler(const sched_params &p) : sampler(p, make_betas(p)) {
    auto alpha = acp_t_.sqrt(), sigma = (1 - acp_t_).sqrt();
    alpha_ = to_host(alpha);
    sigma_ = to_host(sigma);
    lambda_ = to_host(alpha.log() - sigma.log());
  }

  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    check_steps(n);
    next_step_ = 0;
    const int N = p_.num_train_timesteps;
    // searchsorted(flip(lambda_t), lambda_min_clipped): entries below the clip.
    int clipped = 0;
    for (int k = N - 1; k >= 0; k--)
      if (lambda_[k] < p_.lambda_min_clipped) clipped++;
    const int last = N - clipped;
    std::vector<double> t;
    if (p_.timestep_spacing == "linspace") {
      auto l = np_linspace(0, last - 1, n + 1);
      for (int i = n; i >= 1; i--) t.push_back(std::nearbyint(l[i]));
    } else if (p_.timestep_spacing == "leading") {
      int ratio = last / (n + 1);
      for (int i = n; i >= 1; i--) t.push_back((double)i * ratio + p_.steps_offset);
    } else {
      for (double v : np_arange_down(last, (double)N / n)) t.push_back(std::nearbyint(v) - 1);
    }
    auto full = to_host(train_sigmas(acp_t_));
    sigmas_ = full;
    if (p_.use_karras_sigmas) {
      std::vector<double> log_sigmas;
      for (double v : full) log_sigmas.push_back((double)std::log((float)v));
      auto ks = karras_sigmas(full, n);
      t.clear();
      for (auto it = ks.rbegin(); it != ks.rend(); ++it) t.push_back(std::nearbyint(sigma_to_t(*it, log_sigmas)));
      sigmas_ = ks;
    }
    // Duplicates (possible at many steps) are dropped, keeping first occurrences in order.
    std::set<long> seen;
    timesteps_.clear();
    for (double v : t)
      if (seen.insert((long)v).second) timesteps_.push_back(v);
    for (double v : timesteps_)
      if (v < 0 || v >= N) throw invalid_input("DPMSolverMultistepScheduler: timestep outside the table");
    n_ = (int)timesteps_.size();
    outputs_.assign(p_.solver_order, torch::Tensor());
    lower_order_nums_ = 0;
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    const int L = (int)timesteps_.size();
    if (i == 0) {
      outputs_.assign(p_.solver_order, torch::Tensor());
      lower_order_nums_ = 0;
    }
    long t = (long)timesteps_[i];
    long prev = i == L - 1 ? 0 : (long)timesteps_[i + 1];
    bool low_final = i == L - 1 && p_.lower_order_final && L < 15;
    bool low_second = i == L - 2 && p_.lower_order_final && L < 15;
    auto m = convert(mo, t, x);
    for (int k = 0; k + 1 < p_.solver_order; k++) outputs_[k] = outputs_[k + 1];
    outputs_.back() = m;
    torch::Tensor out;
    const int order = p_.solver_order;
    if (order == 1 || lower_order_nums_ < 1 || low_final)
      out = first_order(m, t, prev, x);
    else if (order == 2 || lower_order_nums_ < 2 || low_second)
      out = second_order((long)timesteps_[i - 1], t, prev, x);
    else
      out = third_order((long)timesteps_[i - 2], (long)timesteps_[i - 1], t, prev, x);
    if (lower_order_nums_ < order) lower_order_nums_++;
    return out;
  }

 private:
  bool plus() const { return p_.algorithm_type == "dpmsolver++"; }

  // The solver's parameterisation: x0 for dpmsolver++, epsilon for dpmsolver.
  torch::Tensor convert(const torch::Tensor &mo, long t, const torch::Tensor &x) const {
    float a = (float)alpha_[t], s = (float)sigma_[t];
    const std::string &pt = p_.prediction_type;
    if (plus()) {
      if (pt == "epsilon") return (x - s * mo) / a;
      if (pt == "sample") return mo;
      return a * x - s * mo;
    }
    if (pt == "epsilon") return mo;
    if (pt == "sample") return (x - a * mo) / s;
    return a * mo + s * x;
  }

  torch::Tensor first_order(const torch::Tensor &m, long s, long t, const torch::Tensor &x) const {
    float h = (float)lambda_[t] - (float)lambda_[s];
    float at = (float)alpha_[t], as = (float)alpha_[s], st = (float)sigma_[t], ss = (float)sigma_[s];
    if (plus()) return (st / ss) * x - (at * (std::exp(-h) - 1.0f)) * m;
    return (at / as) * x - (st * (std::exp(h) - 1.0f)) * m;
  }

  torch::Tensor second_order(long s1, long s0, long t, const torch::Tensor &x) const {
    const auto &m0 = outputs_[outputs_.size() - 1], &m1 = outputs_[outputs_.size() - 2];
    float lt = (float)lambda_[t], l0 = (float)lambda_[s0], l1 = (float)lambda_[s1];
    float at = (float)alpha_[t], a0 = (float)alpha_[s0], st = (float)sigma_[t], s0v = (float)sigma_[s0];
    float h = lt - l0, h0 = l0 - l1, r0 = h0 / h;
    const auto &D0 = m0;
    auto D1 = (1.0f / r0) * (m0 - m1);
    if (plus()) {
      float e = std::exp(-h) - 1.0f;
      if (p_.solver_type == "midpoint") return (st / s0v) * x - (at * e) * D0 - 0.5f * (at * e) * D1;
      return (st / s0v) * x - (at * e) * D0 + (at * (e / h + 1.0f)) * D1;
    }
    float e = std::exp(h) - 1.0f;
    if (p_.solver_type == "midpoint") return (at / a0) * x - (st * e) * D0 - 0.5f * (st * e) * D1;
    return (at / a0) * x - (st * e) * D0 - (st * (e / h - 1.0f)) * D1;
  }

  torch::Tensor third_order(long s2, long s1, long s0, long t, const torch::Tensor &x) const {
    const size_t k = outputs_.size();
    const auto &m0 = outputs_[k - 1], &m1 = outputs_[k - 2], &m2 = outputs_[k - 3];
    float lt = (float)lambda_[t], l0 = (float)lambda_[s0], l1 = (float)lambda_[s1], l2 = (float)lambda_[s2];
    float at = (float)alpha_[t], a0 = (float)alpha_[s0], st = (float)sigma_[t], s0v = (float)sigma_[s0];
    float h = lt - l0, h0 = l0 - l1, h1 = l1 - l2;
    float r0 = h0 / h, r1 = h1 / h;
    const auto &D0 = m0;
    auto D1_0 = (1.0f / r0) * (m0 - m1), D1_1 = (1.0f / r1) * (m1 - m2);
    auto D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
    auto D2 = (1.0f / (r0 + r1)) * (D1_0 - D1_1);
    if (plus()) {
      float e = std::exp(-h) - 1.0f;
      return (st / s0v) * x - (at * e) * D0 + (at * (e / h + 1.0f)) * D1 -
             (at * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f)) * D2;
    }
    float e = std::exp(h) - 1.0f;
    return (at / a0) * x - (st * e) * D0 - (st * (e / h - 1.0f)) * D1 -
           (st * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f)) * D2;
  }

  std::vector<double> alpha_, sigma_, lambda_;
  std::vector<torch::Tensor> outputs_;
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<sampler> make_dpm_multistep(const sched_params &p) { return std::make_unique<dpm_sampler>(p); }

}  // namespace mdh

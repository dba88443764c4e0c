// DDIMScheduler (diffusers 0.21.4) with eta = 0: deterministic DDIM updates over integer
// timesteps ("leading" spacing by default), epsilon / v_prediction / sample parameterisations.
#include <cmath>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class ddim_sampler : public acp_sampler {
 public:
  using acp_sampler::acp_sampler;

  void set_timesteps(int n) override { timesteps_ = integer_schedule(n); }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    const int N = p_.num_train_timesteps;
    long t = (long)timesteps_[i];
    long prev = t - N / n_;
    if (t < 0 || t >= N) throw invalid_input("DDIMScheduler: timestep " + std::to_string(t) + " outside the table");
    // The coefficients are float32 scalars in the reference; keep them so.
    float at = (float)acp_[t];
    float atp = prev >= 0 ? (float)acp_[prev] : final_acp_;
    float bt = 1.0f - at;
    float sa = std::sqrt(at), sb = std::sqrt(bt);
    torch::Tensor x0, eps;
    if (p_.prediction_type == "epsilon") {
      x0 = (x - sb * mo) / sa;
      eps = mo;
    } else if (p_.prediction_type == "sample") {
      x0 = mo;
      eps = (x - sa * x0) / sb;
    } else {
      x0 = sa * x - sb * mo;
      eps = sa * mo + sb * x;
    }
    if (p_.clip_sample) x0 = x0.clamp(-p_.clip_sample_range, p_.clip_sample_range);
    torch::Tensor dir = std::sqrt(1.0f - atp) * eps;
    return std::sqrt(atp) * x0 + dir;
  }
};

}  // namespace

std::unique_ptr<sampler> make_ddim(const sched_params &p) { return std::make_unique<ddim_sampler>(p); }

}  // namespace mdh

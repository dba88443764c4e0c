// PNDMScheduler (diffusers 0.21.4): pseudo linear multistep (PLMS) with the reference's
// repeated second timestep when skip_prk_steps, or the Runge-Kutta warm-up (PRK) otherwise.
#include <cmath>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

class pndm_sampler : public acp_sampler {
 public:
  using acp_sampler::acp_sampler;

  void set_timesteps(int n) override {
    const auto desc = integer_schedule(n);
    std::vector<double> asc(desc.rbegin(), desc.rend());  // diffusers' _timesteps, ascending
    const int m = (int)asc.size();
    prk_.clear();
    std::vector<double> plms;
    if (p_.skip_prk_steps) {
      // [ts[:-1], ts[-2:-1], ts[-1:]][::-1]: the second timestep comes twice.
      std::vector<double> c(asc.begin(), asc.end() - 1);
      if (m >= 2) c.push_back(asc[m - 2]);
      c.push_back(asc[m - 1]);
      plms.assign(c.rbegin(), c.rend());
    } else {
      if (m < 4) throw invalid_input("PNDMScheduler: PRK warm-up needs at least 4 steps, got " + std::to_string(n));
      const int half = p_.num_train_timesteps / n / 2;
      std::vector<double> a;
      for (int k = m - 4; k < m; k++) {
        a.push_back(asc[k]);
        a.push_back(asc[k] + half);
      }
      a.pop_back();
      std::vector<double> r;
      for (double v : a) r.push_back(v), r.push_back(v);
      std::vector<double> mid(r.begin() + 1, r.end() - 1);
      prk_.assign(mid.rbegin(), mid.rend());
      for (int k = m - 4; k >= 0; k--) plms.push_back(asc[k]);
    }
    timesteps_ = prk_;
    timesteps_.insert(timesteps_.end(), plms.begin(), plms.end());
    ets_.clear();
    cur_sample_ = torch::Tensor();
    cur_mo_ = torch::Tensor();
  }

  torch::Tensor step(const torch::Tensor &mo, int i, const torch::Tensor &x, const torch::Tensor &) override {
    advance(i);
    if (i == 0) {
      ets_.clear();
      cur_sample_ = torch::Tensor();
      cur_mo_ = torch::Tensor();
    }
    if (i < (int)prk_.size() && !p_.skip_prk_steps) return step_prk(mo, i, x);
    return step_plms(mo, i, x);
  }

 private:
  torch::Tensor step_prk(const torch::Tensor &mo, int counter, const torch::Tensor &x) {
    const int N = p_.num_train_timesteps;
    long diff = counter % 2 ? 0 : N / n_ / 2;
    long t = (long)timesteps_[counter];
    long prev = t - diff;
    t = (long)prk_[counter / 4 * 4];
    torch::Tensor out = mo;
    if (counter % 4 == 0) {
      cur_mo_ = (1.0 / 6) * mo;
      ets_.push_back(mo);
      cur_sample_ = x;
    } else if ((counter - 1) % 4 == 0 || (counter - 2) % 4 == 0) {
      cur_mo_ = cur_mo_ + (1.0 / 3) * mo;
    } else {
      out = cur_mo_ + (1.0 / 6) * mo;
      cur_mo_ = torch::Tensor();
    }
    const torch::Tensor &s = cur_sample_.defined() ? cur_sample_ : x;
    return prev_sample(s, t, prev, out);
  }

  torch::Tensor step_plms(const torch::Tensor &mo_in, int counter, const torch::Tensor &x_in) {
    const int N = p_.num_train_timesteps;
    if (!p_.skip_prk_steps && ets_.size() < 3)
      throw invalid_input("PNDMScheduler: PLMS needs the PRK warm-up first");
    long t = (long)timesteps_[counter];
    long prev = t - N / n_;
    torch::Tensor mo = mo_in, x = x_in;
    if (counter != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(mo_in);
    } else {
      prev = t;
      t = t + N / n_;
    }
    const size_t k = ets_.size();
    if (k == 1 && counter == 0) {
      cur_sample_ = x_in;
    } else if (k == 1 && counter == 1) {
      mo = (mo_in + ets_[k - 1]) / 2;
      x = cur_sample_;
      cur_sample_ = torch::Tensor();
    } else if (k == 2) {
      mo = (3 * ets_[k - 1] - ets_[k - 2]) / 2;
    } else if (k == 3) {
      mo = (23 * ets_[k - 1] - 16 * ets_[k - 2] + 5 * ets_[k - 3]) / 12;
    } else {
      mo = (1.0 / 24) * (55 * ets_[k - 1] - 59 * ets_[k - 2] + 37 * ets_[k - 3] - 9 * ets_[k - 4]);
    }
    return prev_sample(x, t, prev, mo);
  }

  // PNDM's formula (9); coefficients are float32 scalars in the reference.
  torch::Tensor prev_sample(const torch::Tensor &x, long t, long prev, torch::Tensor mo) const {
    const int N = p_.num_train_timesteps;
    if (t < 0 || t >= N) throw invalid_input("PNDMScheduler: timestep " + std::to_string(t) + " outside the table");
    float at = (float)acp_[t];
    float atp = prev >= 0 ? (float)acp_[prev] : final_acp_;
    float bt = 1.0f - at, btp = 1.0f - atp;
    if (p_.prediction_type == "v_prediction") mo = std::sqrt(at) * mo + std::sqrt(bt) * x;
    float sample_coeff = std::sqrt(atp / at);
    float denom = at * std::sqrt(btp) + std::sqrt(at * bt * atp);
    return sample_coeff * x - (atp - at) * mo / denom;
  }

  std::vector<double> prk_;
  std::vector<torch::Tensor> ets_;
  torch::Tensor cur_sample_, cur_mo_;
};

}  // namespace

std::unique_ptr<sampler> make_pndm(const sched_params &p) { return std::make_unique<pndm_sampler>(p); }

}  // namespace mdh

// The samplers' internal C++ interface: diffusers 0.21.4 schedulers re-implemented on libtorch.
// Schedule tables stay on the host (doubles holding float32 values, as diffusers holds them);
// only the latent math runs on x's device, so a step never synchronises with the device.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

// A scheduler configuration resolved for one class: every key holds the model's value when its
// scheduler_config.json names it and the class's own default otherwise (diffusers from_config).
struct sched_params {
  std::string cls;  // diffusers class name, e.g. "EulerDiscreteScheduler"
  int num_train_timesteps = 1000;
  double beta_start = 0.0001, beta_end = 0.02;
  std::string beta_schedule = "linear";
  std::vector<double> trained_betas;  // empty: none
  std::string prediction_type = "epsilon";
  int steps_offset = 0;
  bool set_alpha_to_one = true;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  bool skip_prk_steps = false;
  std::string timestep_spacing = "linspace";
  bool use_karras_sigmas = false;
  std::string interpolation_type = "linear";
  bool rescale_betas_zero_snr = false;
  int solver_order = 2;
  std::string algorithm_type = "dpmsolver++";
  std::string solver_type = "midpoint";
  bool lower_order_final = true;
  double lambda_min_clipped = -INFINITY;
};

// Applies `cls`'s defaults, then the model config's present keys (validated; errors name the key).
sched_params resolve_params(const shim_scheduler_config &cfg, const std::string &cls);

// ---- schedule tables (sampler_schedule.cpp) ----

// betas [N] float32 on the CPU, exactly as diffusers computes them for p.cls.
torch::Tensor make_betas(const sched_params &p);
// cumprod(1 - betas) float32 [N].
torch::Tensor alphas_cumprod_of(const torch::Tensor &betas);
std::vector<double> to_host(const torch::Tensor &t);  // any dtype, flattened
// numpy.linspace(a, b, n) in double.
std::vector<double> np_linspace(double a, double b, int n);
// numpy.arange(start, 0, -step) for a float step.
std::vector<double> np_arange_down(double start, double step);
// numpy.interp(x, arange(len(fp)), fp).
double np_interp_index(double x, const std::vector<double> &fp);
// Karras et al. (2022) rho=7 sigmas from in_sigmas.front() to in_sigmas.back() ... as diffusers'
// _convert_to_karras: sigma_min = in.back(), sigma_max = in.front().
std::vector<double> karras_sigmas(const std::vector<double> &in_sigmas, int n);
// diffusers _sigma_to_t with a float64 sigma and float32 log_sigmas (ascending in t).
double sigma_to_t(double sigma, const std::vector<double> &log_sigmas);
// The same computed wholly in float32 (KDPM2 calls it with torch tensors).
float sigma_to_t_f32(float sigma, const std::vector<float> &log_sigmas);
// Float timesteps of the sigma-based schedulers (Euler, LMS, Heun, KDPM2), float32-rounded.
std::vector<double> spaced_float_timesteps(const sched_params &p, int n);
// Integer timesteps of DDIM and PNDM (descending; linspace values rounded half to even).
std::vector<double> spaced_integer_timesteps(const sched_params &p, int n);
// (1 - acp) / acp) ** 0.5 in float32, ascending in t.
torch::Tensor train_sigmas(const torch::Tensor &acp);

// ---- the sampler interface ----

class sampler {
 public:
  sampler(sched_params p, const torch::Tensor &betas);
  virtual ~sampler() = default;

  // Builds the inference schedule for n steps (1 <= n <= num_train_timesteps) and resets state.
  virtual void set_timesteps(int n) = 0;

  // What set_timesteps produced: one entry per model evaluation (as the scheduler holds them).
  const std::vector<double> &timesteps() const { return timesteps_; }
  // The scheduler's .sigmas (empty for DDIM/PNDM).
  const std::vector<double> &sigmas() const { return sigmas_; }
  double init_noise_sigma() const { return init_noise_sigma_; }
  int num_model_evals() const { return (int)timesteps_.size(); }
  // The timestep to feed the UNet at evaluation i.
  double timestep_value(int i) const;
  // Whether timesteps are integers (int64 in diffusers) or floats.
  virtual bool integer_timesteps() const { return false; }
  // Whether step() needs a N(0,1) noise tensor shaped like x.
  virtual bool needs_noise() const { return false; }
  const sched_params &params() const { return p_; }
  const std::vector<double> &alphas_cumprod() const { return acp_; }

  virtual torch::Tensor scale_model_input(const torch::Tensor &x, int i);
  // One update with the model output at evaluation i; i must run k, k+1, ... after set_timesteps
  // (multistep state lives in the sampler; i == 0 starts over). `noise` is undefined unless needs_noise().
  virtual torch::Tensor step(const torch::Tensor &model_output, int i, const torch::Tensor &x,
                             const torch::Tensor &noise) = 0;

 protected:
  void check_steps(int n) const;
  void check_index(int i) const;
  // Enforces in-order calls of step(); i == 0 starts over, the first call may start anywhere.
  void advance(int i);

  sched_params p_;
  torch::Tensor betas_, acp_t_;  // float32 CPU
  std::vector<double> acp_;
  std::vector<double> timesteps_, sigmas_;
  double init_noise_sigma_ = 1.0;
  int n_ = 0;         // num_inference_steps
  int next_step_ = 0;  // the step index step() expects next
};

// The sigma-based family (Euler, Euler ancestral, LMS, Heun, KDPM2): sigmas from the float
// timesteps by interpolation (or Karras), model input scaled by 1/sqrt(sigma^2 + 1).
class sigma_sampler : public sampler {
 public:
  using sampler::sampler;
  torch::Tensor scale_model_input(const torch::Tensor &x, int i) override;

 protected:
  // Fills timesteps_ (float32-rounded) and sigmas_ (n + 1 entries with the trailing 0).
  void base_schedule(int n, bool allow_karras);
  void set_init_noise_sigma();
  // x0 prediction for a sigma (epsilon, v_prediction, sample when allowed).
  torch::Tensor pred_x0(const torch::Tensor &mo, const torch::Tensor &x, double sigma, bool allow_sample) const;
};

// The alphas_cumprod family (DDIM, PNDM): integer timesteps, and for the last step the
// alphas_cumprod "before" t = 0 (final_alpha_cumprod: 1 with set_alpha_to_one, else acp[0]).
class acp_sampler : public sampler {
 public:
  explicit acp_sampler(const sched_params &p);
  bool integer_timesteps() const override { return true; }

 protected:
  // Checks n, resets the step state and returns the spaced integer timesteps, descending.
  std::vector<double> integer_schedule(int n);

  float final_acp_;
};

std::unique_ptr<sampler> make_ddim(const sched_params &p);
std::unique_ptr<sampler> make_pndm(const sched_params &p);
std::unique_ptr<sampler> make_euler(const sched_params &p);
std::unique_ptr<sampler> make_euler_ancestral(const sched_params &p);
std::unique_ptr<sampler> make_dpm_multistep(const sched_params &p);
std::unique_ptr<sampler> make_lms(const sched_params &p);
std::unique_ptr<sampler> make_heun(const sched_params &p);
std::unique_ptr<sampler> make_kdpm2(const sched_params &p);

// Like diffusers' OtherScheduler.from_config(model_cfg [, overrides]): name is one of ddim,
// pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, heun, kdpm2, or NULL/"" for the model's
// own class. Unknown names and unsupported config values throw invalid_input.
std::unique_ptr<sampler> make_sampler(const shim_scheduler_config &model_cfg, const char *name);

// The implementation behind a C handle (for the shim's own pipelines).
sampler &sampler_of(shim_sampler *s);

// DDPMScheduler.from_config(model_cfg)'s add_noise / get_velocity, for training: timesteps is an
// int64 tensor [B] on any device; x0 and noise are [B, ...].
class ddpm_noise {
 public:
  explicit ddpm_noise(const shim_scheduler_config &model_cfg);
  torch::Tensor add_noise(const torch::Tensor &x0, const torch::Tensor &noise, const torch::Tensor &t) const;
  torch::Tensor get_velocity(const torch::Tensor &x0, const torch::Tensor &noise, const torch::Tensor &t) const;
  int num_train_timesteps() const { return p_.num_train_timesteps; }
  const torch::Tensor &alphas_cumprod() const { return acp_; }  // float32 CPU
  const torch::Tensor &betas() const { return betas_; }

 private:
  // sqrt(acp[t]) and sqrt(1 - acp[t]) shaped to broadcast against x.
  std::pair<torch::Tensor, torch::Tensor> coeffs(const torch::Tensor &x, const torch::Tensor &t) const;
  sched_params p_;
  torch::Tensor betas_, acp_;
};

}  // namespace mdh

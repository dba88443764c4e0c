// Schedule tables shared by the samplers (betas, alphas_cumprod, timestep spacing, sigma tables,
// Karras sigmas) and the resolution of a model's scheduler config for a target class. Values
// follow diffusers 0.21.4 bit for bit where it computes in float32 (torch) or float64 (numpy).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

bool is_one_of(const std::string &v, std::initializer_list<const char *> allowed) {
  for (const char *a : allowed)
    if (v == a) return true;
  return false;
}

std::string joined(std::initializer_list<const char *> allowed) {
  std::string s;
  for (const char *a : allowed) s += (s.empty() ? "" : ", ") + std::string(a);
  return s;
}

void check_choice(const std::string &cls, const char *key, const std::string &v,
                  std::initializer_list<const char *> allowed) {
  if (!is_one_of(v, allowed))
    throw invalid_input("scheduler config: " + cls + " does not support " + key + " \"" + v + "\" (expected one of " +
                        joined(allowed) + ")");
}

double alpha_bar(double t, bool cosine) {
  if (cosine) {
    double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  }
  return std::exp(t * -12.0);
}

}  // namespace

sched_params resolve_params(const shim_scheduler_config &c, const std::string &cls) {
  sched_params p;
  p.cls = cls;
  // Class defaults (diffusers 0.21.4 __init__ signatures).
  if (cls == "DDIMScheduler") {
    p.clip_sample = true, p.set_alpha_to_one = true, p.timestep_spacing = "leading";
  } else if (cls == "PNDMScheduler") {
    p.set_alpha_to_one = false, p.skip_prk_steps = false, p.timestep_spacing = "leading";
  } else if (cls == "DDPMScheduler") {
    p.clip_sample = true, p.timestep_spacing = "leading";
  }
  if (c.num_train_timesteps >= 0) p.num_train_timesteps = c.num_train_timesteps;
  if (!std::isnan(c.beta_start)) p.beta_start = c.beta_start;
  if (!std::isnan(c.beta_end)) p.beta_end = c.beta_end;
  if (c.beta_schedule[0]) p.beta_schedule = c.beta_schedule;
  if (c.trained_betas) p.trained_betas.assign(c.trained_betas, c.trained_betas + c.n_trained_betas);
  if (c.prediction_type[0]) p.prediction_type = c.prediction_type;
  if (c.steps_offset >= 0) p.steps_offset = c.steps_offset;
  if (c.set_alpha_to_one >= 0) p.set_alpha_to_one = c.set_alpha_to_one;
  if (c.clip_sample >= 0) p.clip_sample = c.clip_sample;
  if (!std::isnan(c.clip_sample_range)) p.clip_sample_range = c.clip_sample_range;
  if (c.skip_prk_steps >= 0) p.skip_prk_steps = c.skip_prk_steps;
  if (c.timestep_spacing[0]) p.timestep_spacing = c.timestep_spacing;
  if (c.use_karras_sigmas >= 0) p.use_karras_sigmas = c.use_karras_sigmas;
  if (c.interpolation_type[0]) p.interpolation_type = c.interpolation_type;
  if (c.rescale_betas_zero_snr >= 0) p.rescale_betas_zero_snr = c.rescale_betas_zero_snr;
  if (c.solver_order >= 0) p.solver_order = c.solver_order;
  if (c.algorithm_type[0]) p.algorithm_type = c.algorithm_type;
  if (c.solver_type[0]) p.solver_type = c.solver_type;
  if (c.lower_order_final >= 0) p.lower_order_final = c.lower_order_final;
  if (!std::isnan(c.lambda_min_clipped)) p.lambda_min_clipped = c.lambda_min_clipped;

  // Keys a class does not take are ignored by from_config; the ones it takes are checked.
  if (cls != "DDIMScheduler") p.rescale_betas_zero_snr = false;
  if (cls != "EulerDiscreteScheduler" && cls != "LMSDiscreteScheduler" && cls != "HeunDiscreteScheduler" &&
      cls != "DPMSolverMultistepScheduler")
    p.use_karras_sigmas = false;

  if (p.num_train_timesteps < 1 || p.num_train_timesteps > 100000)
    throw invalid_input("scheduler config: num_train_timesteps must be in [1, 100000], got " +
                        std::to_string(p.num_train_timesteps));
  if (p.steps_offset < 0 || p.steps_offset >= p.num_train_timesteps)
    throw invalid_input("scheduler config: steps_offset must be in [0, num_train_timesteps)");
  if (!p.trained_betas.empty() && (int)p.trained_betas.size() != p.num_train_timesteps)
    throw invalid_input("scheduler config: trained_betas has " + std::to_string(p.trained_betas.size()) +
                        " values, expected num_train_timesteps = " + std::to_string(p.num_train_timesteps));
  if (p.trained_betas.empty()) {
    if (cls == "DDPMScheduler")
      check_choice(cls, "beta_schedule", p.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"});
    else if (cls == "HeunDiscreteScheduler")
      check_choice(cls, "beta_schedule", p.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2", "exp"});
    else
      check_choice(cls, "beta_schedule", p.beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2"});
  }
  if (cls == "PNDMScheduler" || cls == "EulerAncestralDiscreteScheduler" || cls == "KDPM2DiscreteScheduler")
    check_choice(cls, "prediction_type", p.prediction_type, {"epsilon", "v_prediction"});
  else
    check_choice(cls, "prediction_type", p.prediction_type, {"epsilon", "v_prediction", "sample"});
  check_choice(cls, "timestep_spacing", p.timestep_spacing, {"linspace", "leading", "trailing"});
  if (cls == "EulerDiscreteScheduler")
    check_choice(cls, "interpolation_type", p.interpolation_type, {"linear", "log_linear"});
  if (cls == "DPMSolverMultistepScheduler") {
    check_choice(cls, "algorithm_type", p.algorithm_type, {"dpmsolver++", "dpmsolver"});
    check_choice(cls, "solver_type", p.solver_type, {"midpoint", "heun"});
    if (p.solver_order < 1 || p.solver_order > 3)
      throw invalid_input("scheduler config: solver_order must be 1, 2 or 3, got " + std::to_string(p.solver_order));
    if (c.variance_type[0])
      throw invalid_input(std::string("scheduler config: variance_type \"") + c.variance_type +
                          "\" is not supported by DPMSolverMultistepScheduler (only null)");
  }
  if (c.thresholding == 1) throw invalid_input("scheduler config: thresholding true is not supported");
  if (!(p.clip_sample_range > 0)) throw invalid_input("scheduler config: clip_sample_range must be > 0");
  return p;
}

torch::Tensor make_betas(const sched_params &p) {
  const int n = p.num_train_timesteps;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  torch::Tensor betas;
  if (!p.trained_betas.empty()) {
    betas = torch::tensor(p.trained_betas, torch::kFloat64).to(torch::kFloat32);
  } else if (p.beta_schedule == "linear") {
    betas = torch::linspace(p.beta_start, p.beta_end, n, f32);
  } else if (p.beta_schedule == "scaled_linear") {
    betas = torch::linspace(std::sqrt(p.beta_start), std::sqrt(p.beta_end), n, f32).pow(2);
  } else if (p.beta_schedule == "squaredcos_cap_v2" || p.beta_schedule == "exp") {
    bool cosine = p.beta_schedule == "squaredcos_cap_v2";
    std::vector<double> b(n);
    for (int i = 0; i < n; i++) {
      double t1 = (double)i / n, t2 = (double)(i + 1) / n;
      b[i] = std::min(1 - alpha_bar(t2, cosine) / alpha_bar(t1, cosine), 0.999);
    }
    betas = torch::tensor(b, torch::kFloat64).to(torch::kFloat32);
  } else if (p.beta_schedule == "sigmoid") {
    betas = torch::sigmoid(torch::linspace(-6, 6, n, f32)) * (p.beta_end - p.beta_start) + p.beta_start;
  } else {
    throw invalid_input("scheduler config: unknown beta_schedule \"" + p.beta_schedule + "\"");
  }
  if (p.rescale_betas_zero_snr) {
    // Lin et al. (2023): shift and scale sqrt(alphas_cumprod) so the last step has zero SNR.
    auto acp = torch::cumprod(1.0 - betas, 0);
    auto s = acp.sqrt();
    auto s0 = s[0].clone(), sT = s[-1].clone();
    s = (s - sT) * (s0 / (s0 - sT));
    auto ab = s.pow(2);
    auto alphas = torch::cat({ab.slice(0, 0, 1), ab.slice(0, 1) / ab.slice(0, 0, -1)});
    betas = 1.0 - alphas;
  }
  return betas.contiguous();
}

torch::Tensor alphas_cumprod_of(const torch::Tensor &betas) { return torch::cumprod(1.0 - betas, 0).contiguous(); }

std::vector<double> to_host(const torch::Tensor &t) {
  auto d = t.detach().to(torch::kCPU, torch::kFloat64).contiguous().reshape({-1});
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

std::vector<double> np_linspace(double a, double b, int n) {
  std::vector<double> y(n);
  if (n == 1) {
    y[0] = a;
    return y;
  }
  double step = (b - a) / (n - 1);
  for (int i = 0; i < n; i++) y[i] = i * step + a;
  y[n - 1] = b;
  return y;
}

std::vector<double> np_arange_down(double start, double step) {
  double len = std::ceil((0 - start) / -step);  // numpy's length rule, quirks included
  std::vector<double> y;
  for (long i = 0; i < (long)len; i++) y.push_back(start + i * -step);
  return y;
}

double np_interp_index(double x, const std::vector<double> &fp) {
  const int n = (int)fp.size();
  if (x <= 0) return fp[0];
  if (x >= n - 1) return fp[n - 1];
  int j = (int)std::floor(x);
  if (x == j) return fp[j];
  double slope = (fp[j + 1] - fp[j]) / 1.0;
  return slope * (x - j) + fp[j];
}

std::vector<double> karras_sigmas(const std::vector<double> &in, int n) {
  const double rho = 7.0;
  double sigma_min = in.back(), sigma_max = in.front();
  auto ramp = np_linspace(0, 1, n);
  double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> s(n);
  for (int i = 0; i < n; i++) s[i] = std::pow(max_inv + ramp[i] * (min_inv - max_inv), rho);
  return s;
}

namespace {

// diffusers' _sigma_to_t, computed wholly in T (KDPM2 calls it in float32, the others in float64):
// the argmax of cumsum(dists >= 0) is the last index with log_sigmas <= log(sigma), 0 when none.
template <typename T>
T sigma_to_t_in(T sigma, const std::vector<T> &log_sigmas) {
  const int n = (int)log_sigmas.size();
  T ls = std::log(sigma);
  int low = 0;
  for (int i = 0; i < n; i++)
    if (ls - log_sigmas[i] >= 0) low = i;
  low = std::min(low, n - 2);
  int high = low + 1;
  T lo = log_sigmas[low], hi = log_sigmas[high];
  T w = (lo - ls) / (lo - hi);
  w = std::min(std::max(w, T(0)), T(1));
  T a = (T(1) - w) * (T)low;
  T b = w * (T)high;
  return a + b;
}

}  // namespace

double sigma_to_t(double sigma, const std::vector<double> &log_sigmas) { return sigma_to_t_in(sigma, log_sigmas); }

float sigma_to_t_f32(float sigma, const std::vector<float> &log_sigmas) { return sigma_to_t_in(sigma, log_sigmas); }

namespace {

// The inference timesteps for p.timestep_spacing, descending, before rounding: "linspace" gives
// fractions, "leading" (plus steps_offset) and "trailing" whole numbers.
std::vector<double> spaced_timesteps(const sched_params &p, int n) {
  const int N = p.num_train_timesteps;
  std::vector<double> t;
  if (p.timestep_spacing == "linspace") {
    auto l = np_linspace(0, N - 1, n);
    t.assign(l.rbegin(), l.rend());
  } else if (p.timestep_spacing == "leading") {
    int ratio = N / n;
    for (int i = n - 1; i >= 0; i--) t.push_back((double)i * ratio + p.steps_offset);
  } else {  // trailing
    for (double v : np_arange_down(N, (double)N / n)) t.push_back(std::nearbyint(v) - 1);
  }
  return t;
}

}  // namespace

std::vector<double> spaced_float_timesteps(const sched_params &p, int n) {
  auto t = spaced_timesteps(p, n);
  for (auto &v : t) v = (double)(float)v;
  return t;
}

std::vector<double> spaced_integer_timesteps(const sched_params &p, int n) {
  auto t = spaced_timesteps(p, n);
  for (auto &v : t) v = std::nearbyint(v);
  return t;
}

torch::Tensor train_sigmas(const torch::Tensor &acp) { return ((1 - acp) / acp).pow(0.5); }

// ---- sampler base ----

sampler::sampler(sched_params p, const torch::Tensor &betas) : p_(std::move(p)), betas_(betas) {
  acp_t_ = alphas_cumprod_of(betas_);
  acp_ = to_host(acp_t_);
}

void sampler::check_steps(int n) const {
  if (n < 1 || n > p_.num_train_timesteps)
    throw invalid_input("sampler " + p_.cls + ": steps must be in [1, num_train_timesteps = " +
                        std::to_string(p_.num_train_timesteps) + "], got " + std::to_string(n));
}

void sampler::check_index(int i) const {
  if (timesteps_.empty()) throw invalid_input("sampler " + p_.cls + ": set_timesteps was not called");
  if (i < 0 || i >= (int)timesteps_.size())
    throw invalid_input("sampler " + p_.cls + ": step index " + std::to_string(i) + " outside [0, " +
                        std::to_string(timesteps_.size()) + ")");
}

void sampler::advance(int i) {
  check_index(i);
  // A fresh schedule may start at any index (img2img skips the first steps); after that, in order.
  if (i != 0 && next_step_ != 0 && i != next_step_)
    throw invalid_input("sampler " + p_.cls + ": step " + std::to_string(i) + " called out of order (expected " +
                        std::to_string(next_step_) + ")");
  next_step_ = i + 1;
}

double sampler::timestep_value(int i) const {
  check_index(i);
  return timesteps_[i];
}

torch::Tensor sampler::scale_model_input(const torch::Tensor &x, int i) {
  check_index(i);
  return x;
}

// ---- sigma family ----

acp_sampler::acp_sampler(const sched_params &p)
    : sampler(p, make_betas(p)), final_acp_(p_.set_alpha_to_one ? 1.0f : (float)acp_[0]) {}

std::vector<double> acp_sampler::integer_schedule(int n) {
  check_steps(n);
  n_ = n;
  next_step_ = 0;
  return spaced_integer_timesteps(p_, n);
}

void sigma_sampler::base_schedule(int n, bool allow_karras) {
  check_steps(n);
  n_ = n;
  next_step_ = 0;
  timesteps_ = spaced_float_timesteps(p_, n);
  auto full = to_host(train_sigmas(acp_t_));  // float32 values
  std::vector<double> log_sigmas(full.size());
  for (size_t i = 0; i < full.size(); i++) log_sigmas[i] = (double)std::log((float)full[i]);
  std::vector<double> s;
  if (p_.interpolation_type == "log_linear" && p_.cls == "EulerDiscreteScheduler") {
    // diffusers: torch.linspace(log(sigmas[-1]), log(sigmas[0]), n + 1).exp()
    auto l = torch::linspace(std::log(full.back()), std::log(full.front()), n + 1, torch::kFloat32).exp();
    s = to_host(l);
  } else {
    for (double t : timesteps_) s.push_back(np_interp_index(t, full));
  }
  if (allow_karras && p_.use_karras_sigmas) {
    s = karras_sigmas(s, n);
    timesteps_.clear();
    for (double v : s) timesteps_.push_back(sigma_to_t(v, log_sigmas));
  }
  s.push_back(0.0);
  for (auto &v : s) v = (double)(float)v;
  sigmas_ = s;
}

void sigma_sampler::set_init_noise_sigma() {
  double mx = 0;
  for (double v : sigmas_) mx = std::max(mx, v);
  if (p_.timestep_spacing == "linspace" || p_.timestep_spacing == "trailing")
    init_noise_sigma_ = mx;
  else
    init_noise_sigma_ = (double)std::sqrt((float)mx * (float)mx + 1.0f);
}

torch::Tensor sigma_sampler::scale_model_input(const torch::Tensor &x, int i) {
  check_index(i);
  float sigma = (float)sigmas_[i];
  return x / std::sqrt(sigma * sigma + 1.0f);
}

torch::Tensor sigma_sampler::pred_x0(const torch::Tensor &mo, const torch::Tensor &x, double sigma_d,
                                     bool allow_sample) const {
  // float32 scalars, as the reference's 0-d sigma tensors.
  float sigma = (float)sigma_d;
  if (p_.prediction_type == "epsilon") return x - sigma * mo;
  if (p_.prediction_type == "v_prediction") {
    float s2p1 = sigma * sigma + 1.0f;
    return mo * (-sigma / std::sqrt(s2p1)) + x / s2p1;
  }
  if (p_.prediction_type == "sample" && allow_sample) return mo;
  throw invalid_input("sampler " + p_.cls + ": prediction_type " + p_.prediction_type + " is not supported");
}

}  // namespace mdh

// make_sampler (diffusers' OtherScheduler.from_config(model_config, **overrides)) and DDPM's
// training-time noising (add_noise, get_velocity).
#include <cstdio>
#include <cstring>

#include "guard.hpp"
#include "sampler.hpp"

namespace mdh {

namespace {

void set_str(char *dst, const char *v) { std::snprintf(dst, SHIM_SCHED_STR, "%s", v); }

}  // namespace

std::unique_ptr<sampler> make_sampler(const shim_scheduler_config &model_cfg, const char *name) {
  shim_scheduler_config c = model_cfg;
  std::string cls;
  std::string nm = name ? name : "";
  if (nm.empty()) {
    cls = c.class_name;
    if (cls.empty()) throw invalid_input("scheduler config: _class_name is missing");
  } else if (nm == "ddim") {
    cls = "DDIMScheduler";
  } else if (nm == "pndm") {
    cls = "PNDMScheduler";
  } else if (nm == "euler") {
    cls = "EulerDiscreteScheduler";
  } else if (nm == "euler_a") {
    cls = "EulerAncestralDiscreteScheduler";
  } else if (nm == "dpmpp_2m" || nm == "dpmpp_2m_karras") {
    cls = "DPMSolverMultistepScheduler";
    set_str(c.algorithm_type, "dpmsolver++");
    c.solver_order = 2;
    if (nm == "dpmpp_2m_karras") c.use_karras_sigmas = 1;
  } else if (nm == "lms") {
    cls = "LMSDiscreteScheduler";
  } else if (nm == "heun") {
    cls = "HeunDiscreteScheduler";
  } else if (nm == "kdpm2") {
    cls = "KDPM2DiscreteScheduler";
  } else {
    throw invalid_input("unknown sampler \"" + nm +
                        "\" (expected ddim, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, heun or kdpm2)");
  }
  using maker = std::unique_ptr<sampler> (*)(const sched_params &);
  static const std::pair<const char *, maker> table[] = {
      {"DDIMScheduler", make_ddim},
      {"PNDMScheduler", make_pndm},
      {"EulerDiscreteScheduler", make_euler},
      {"EulerAncestralDiscreteScheduler", make_euler_ancestral},
      {"DPMSolverMultistepScheduler", make_dpm_multistep},
      {"LMSDiscreteScheduler", make_lms},
      {"HeunDiscreteScheduler", make_heun},
      {"KDPM2DiscreteScheduler", make_kdpm2},
  };
  for (const auto &e : table)
    if (cls == e.first) return e.second(resolve_params(c, cls));
  throw invalid_input("scheduler config: _class_name \"" + cls +
                      "\" is not a supported sampler (DDIM, PNDM, EulerDiscrete, EulerAncestralDiscrete, "
                      "DPMSolverMultistep, LMSDiscrete, HeunDiscrete, KDPM2Discrete)");
}

ddpm_noise::ddpm_noise(const shim_scheduler_config &model_cfg) : p_(resolve_params(model_cfg, "DDPMScheduler")) {
  betas_ = make_betas(p_);
  acp_ = alphas_cumprod_of(betas_);
}

std::pair<torch::Tensor, torch::Tensor> ddpm_noise::coeffs(const torch::Tensor &x, const torch::Tensor &t) const {
  if (t.dim() != 1 || x.dim() < 1 || t.size(0) != x.size(0))
    throw invalid_input("ddpm: timesteps must be [B] with B = x.size(0)");
  auto acp = acp_.to(x.device(), x.scalar_type());
  auto idx = t.to(x.device(), torch::kLong);
  auto a = acp.index_select(0, idx);
  auto sa = a.pow(0.5), sb = (1 - a).pow(0.5);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return {sa.reshape(shape), sb.reshape(shape)};
}

torch::Tensor ddpm_noise::add_noise(const torch::Tensor &x0, const torch::Tensor &noise, const torch::Tensor &t) const {
  auto [sa, sb] = coeffs(x0, t);
  return sa * x0 + sb * noise;
}

torch::Tensor ddpm_noise::get_velocity(const torch::Tensor &x0, const torch::Tensor &noise,
                                       const torch::Tensor &t) const {
  auto [sa, sb] = coeffs(x0, t);
  return sa * noise - sb * x0;
}

}  // namespace mdh

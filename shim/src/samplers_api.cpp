// The samplers' C API (mdh_shim.h "samplers"): host float32 buffers in and out around the
// C++ samplers, so C code and tests can drive a rollout step by step.
#include <cstring>

#include "guard.hpp"
#include "sampler.hpp"

struct shim_sampler {
  std::unique_ptr<mdh::sampler> impl;
};

mdh::sampler &mdh::sampler_of(shim_sampler *s) {
  if (!s || !s->impl) throw mdh::invalid_input("no sampler given");
  return *s->impl;
}

namespace {

torch::Tensor from_host(const float *p, size_t n, const char *what) {
  if (!p) throw mdh::invalid_input(std::string("sampler: ") + what + " is NULL");
  return torch::from_blob(const_cast<float *>(p), {(int64_t)n}, torch::kFloat32).clone();
}

void to_host_buf(const torch::Tensor &t, float *out, size_t n) {
  auto c = t.to(torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), n * sizeof(float));
}

int copy_out(const std::vector<double> &v, double *out, size_t max, size_t *n, shim_err *err, const char *what) {
  return mdh::guarded(err, [&] {
    if (n) *n = v.size();
    if (v.size() > max || (!out && !v.empty()))
      throw mdh::invalid_input(std::string("sampler: ") + what + " needs room for " + std::to_string(v.size()) +
                               " values, got " + std::to_string(max));
    std::copy(v.begin(), v.end(), out);
    return SHIM_OK;
  });
}

int ddpm_apply(const shim_scheduler_config *cfg, const float *x0, const float *noise, const int64_t *timesteps,
               size_t batch, size_t per_item, float *out, shim_err *err, bool velocity) {
  return mdh::guarded(err, [&] {
    if (!cfg || !timesteps || !out) throw mdh::invalid_input("ddpm: NULL argument");
    if (batch == 0 || per_item == 0) throw mdh::invalid_input("ddpm: batch and per_item must be > 0");
    mdh::ddpm_noise d(*cfg);
    for (size_t b = 0; b < batch; b++)
      if (timesteps[b] < 0 || timesteps[b] >= d.num_train_timesteps())
        throw mdh::invalid_input("ddpm: timestep " + std::to_string(timesteps[b]) + " outside [0, " +
                                 std::to_string(d.num_train_timesteps()) + ")");
    auto x = from_host(x0, batch * per_item, "x0").reshape({(int64_t)batch, (int64_t)per_item});
    auto e = from_host(noise, batch * per_item, "noise").reshape({(int64_t)batch, (int64_t)per_item});
    auto t = torch::from_blob(const_cast<int64_t *>(timesteps), {(int64_t)batch}, torch::kLong).clone();
    auto r = velocity ? d.get_velocity(x, e, t) : d.add_noise(x, e, t);
    to_host_buf(r, out, batch * per_item);
    return SHIM_OK;
  });
}

}  // namespace

extern "C" {

int shim_sampler_new(const shim_scheduler_config *cfg, const char *sampler_name, shim_sampler **out, shim_err *err) {
  return mdh::guarded(err, [&] {
    if (!cfg || !out) throw mdh::invalid_input("shim_sampler_new: NULL argument");
    *out = nullptr;
    auto s = std::make_unique<shim_sampler>();
    s->impl = mdh::make_sampler(*cfg, sampler_name);
    *out = s.release();
    return SHIM_OK;
  });
}

void shim_sampler_free(shim_sampler *s) { delete s; }

const char *shim_sampler_class(const shim_sampler *s) { return s ? s->impl->params().cls.c_str() : ""; }

int shim_sampler_set_timesteps(shim_sampler *s, int steps, shim_err *err) {
  return mdh::guarded(err, [&] {
    if (!s) throw mdh::invalid_input("shim_sampler_set_timesteps: NULL sampler");
    s->impl->set_timesteps(steps);
    return SHIM_OK;
  });
}

int shim_sampler_num_model_evals(const shim_sampler *s) { return s ? s->impl->num_model_evals() : 0; }
int shim_sampler_integer_timesteps(const shim_sampler *s) { return s && s->impl->integer_timesteps() ? 1 : 0; }
int shim_sampler_needs_noise(const shim_sampler *s) { return s && s->impl->needs_noise() ? 1 : 0; }
double shim_sampler_init_noise_sigma(const shim_sampler *s) { return s ? s->impl->init_noise_sigma() : 1.0; }

int shim_sampler_timesteps(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err) {
  if (!s) return mdh::fail(err, SHIM_E_INVALID, "shim_sampler_timesteps: NULL sampler");
  return copy_out(s->impl->timesteps(), out, max, n, err, "timesteps");
}

int shim_sampler_sigmas(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err) {
  if (!s) return mdh::fail(err, SHIM_E_INVALID, "shim_sampler_sigmas: NULL sampler");
  return copy_out(s->impl->sigmas(), out, max, n, err, "sigmas");
}

int shim_sampler_alphas_cumprod(const shim_sampler *s, double *out, size_t max, size_t *n, shim_err *err) {
  if (!s) return mdh::fail(err, SHIM_E_INVALID, "shim_sampler_alphas_cumprod: NULL sampler");
  return copy_out(s->impl->alphas_cumprod(), out, max, n, err, "alphas_cumprod");
}

int shim_sampler_scale_model_input(shim_sampler *s, int i, const float *x, size_t n, float *out, shim_err *err) {
  return mdh::guarded(err, [&] {
    if (!s || !out) throw mdh::invalid_input("shim_sampler_scale_model_input: NULL argument");
    auto r = s->impl->scale_model_input(from_host(x, n, "x"), i);
    to_host_buf(r, out, n);
    return SHIM_OK;
  });
}

int shim_sampler_step(shim_sampler *s, int i, const float *model_out, const float *x, const float *noise, size_t n,
                      float *x_out, shim_err *err) {
  return mdh::guarded(err, [&] {
    if (!s || !x_out) throw mdh::invalid_input("shim_sampler_step: NULL argument");
    if (s->impl->needs_noise() && !noise)
      throw mdh::invalid_input("shim_sampler_step: " + s->impl->params().cls + " needs a noise buffer");
    torch::Tensor e;
    if (s->impl->needs_noise()) e = from_host(noise, n, "noise");
    auto r = s->impl->step(from_host(model_out, n, "model_out"), i, from_host(x, n, "x"), e);
    to_host_buf(r, x_out, n);
    return SHIM_OK;
  });
}

int shim_ddpm_add_noise(const shim_scheduler_config *cfg, const float *x0, const float *noise,
                        const int64_t *timesteps, size_t batch, size_t per_item, float *out, shim_err *err) {
  return ddpm_apply(cfg, x0, noise, timesteps, batch, per_item, out, err, false);
}

int shim_ddpm_get_velocity(const shim_scheduler_config *cfg, const float *x0, const float *noise,
                           const int64_t *timesteps, size_t batch, size_t per_item, float *out, shim_err *err) {
  return ddpm_apply(cfg, x0, noise, timesteps, batch, per_item, out, err, true);
}

}  // extern "C"

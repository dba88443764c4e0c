// Full training of the tiny model's components (mdh_shim.h "full training"): models built with
// every tensor recorded, AdamW over all of them, VAE and denoiser steps, and the named state.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "clip_text.hpp"
#include "guard.hpp"
#include "mdh_shim.h"
#include "nn_common.hpp"
#include "pretrain_init.hpp"
#include "sampler.hpp"
#include "ti_adamw.hpp"
#include "unet.hpp"
#include "vae.hpp"
#include "weights.hpp"

namespace {

struct pt_entry {
  std::string component, name;
  torch::Tensor param;
  mdh::adamw_state st;
};

}  // namespace

struct shim_pretrain {
  shim_vae *vae = nullptr;
  shim_clip_text *text = nullptr;
  shim_unet *unet = nullptr;
  std::vector<pt_entry> entries;
  mdh::adamw_opts opt;
  double max_grad_norm = 0;
  std::unique_ptr<mdh::ddpm_noise> noise;
  int64_t steps = 0;
  ~shim_pretrain() {
    shim_vae_free(vae);
    shim_clip_text_free(text);
    shim_unet_free(unet);
  }
};

using mdh::guarded;
using mdh::invalid_input;

namespace {

void check_exec(const shim_exec *exec) {
  if (exec && exec->dtype != SHIM_F32)
    throw invalid_input("pretraining: the models must be float32 (exec dtype " +
                        std::string(mdh::dtype_name(exec->dtype)) + "): AdamW keeps no separate master weights");
}

void check_opt(const shim_pretrain_opt *o) {
  if (!o) throw invalid_input("pretraining: optimizer options are NULL");
  if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0) ||
      !(o->weight_decay >= 0) || !std::isfinite(o->max_grad_norm))
    throw invalid_input("pretraining: AdamW options out of range (beta1, beta2 in [0, 1), eps > 0, weight_decay >= 0)");
}

void adopt(shim_pretrain &p, const char *component, mdh::weight_recorder &rec) {
  for (auto &kv : rec.taken) {
    kv.second.requires_grad_(true);
    p.entries.push_back({component, kv.first, kv.second, {}});
  }
}

shim_pretrain *need(shim_pretrain *p) {
  if (!p) throw invalid_input("pretraining: handle is NULL");
  return p;
}
const shim_pretrain *need(const shim_pretrain *p) {
  if (!p) throw invalid_input("pretraining: handle is NULL");
  return p;
}

// zero_grad(set_to_none=True), then clip_grad_norm_ over all gradients, then AdamW on each
// parameter that got one (torch skips parameters whose .grad is None).
double optimizer_step(shim_pretrain &p, double lr) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (auto &e : p.entries)
    if (e.param.grad().defined()) norms.push_back(torch::norm(e.param.grad(), 2.0));
  if (norms.empty()) throw invalid_input("pretraining: no parameter received a gradient");
  torch::Tensor total = torch::norm(torch::stack(norms), 2.0);
  const double gn = total.item<double>();
  if (!std::isfinite(gn)) {
    for (auto &e : p.entries) e.param.mutable_grad() = torch::Tensor();
    throw invalid_input("pretraining: the gradient is not finite (norm " + std::to_string(gn) + "); lower the learning rate");
  }
  if (p.max_grad_norm > 0) {
    torch::Tensor coef = (total + 1e-6).reciprocal() * p.max_grad_norm;
    if (coef.item<double>() < 1.0)
      for (auto &e : p.entries)
        if (e.param.grad().defined()) e.param.mutable_grad().mul_(torch::clamp(coef, c10::nullopt, 1.0));
  }
  p.steps += 1;
  for (auto &e : p.entries) {
    if (!e.param.grad().defined()) continue;
    torch::Tensor g = e.param.grad();
    e.st.step = p.steps - 1;  // one step count for all, so a restored state agrees
    mdh::adamw_step(e.param, g, e.st, lr, p.opt);
    e.param.mutable_grad() = torch::Tensor();
  }
  return gn;
}

void clear_grads(shim_pretrain &p) {
  for (auto &e : p.entries) e.param.mutable_grad() = torch::Tensor();
}

void check_lr(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr)) throw invalid_input("pretraining: learning rate must be >= 0 and finite");
}

}  // namespace

extern "C" {

int shim_pretrain_vae_new(const shim_vae_config *cfg, const shim_tensor_view *weights, size_t n, uint64_t init_seed,
                          const shim_pretrain_opt *opt, const shim_exec *exec, shim_pretrain **out, shim_err *err) {
  return guarded(err, [&]() -> int {
    if (!cfg || !out) throw invalid_input("pretraining: config and out are required");
    *out = nullptr;
    check_exec(exec);
    check_opt(opt);
    auto p = std::make_unique<shim_pretrain>();
    mdh::weight_recorder rec;
    rec.synthesize_missing = n == 0;
    {
      mdh::weight_recording on(&rec);
      const int rc = shim_vae_new(cfg, weights, n, exec, &p->vae, err);
      if (rc) return rc;
    }
    if (n == 0) mdh::init_torch_default(rec.taken, init_seed);
    adopt(*p, "vae", rec);
    p->opt = {opt->beta1, opt->beta2, opt->eps, opt->weight_decay};
    p->max_grad_norm = opt->max_grad_norm;
    *out = p.release();
    return SHIM_OK;
  });
}

int shim_pretrain_denoiser_new(const shim_clip_text_config *text_cfg, const shim_tensor_view *text_weights,
                               size_t text_n, const shim_unet_config *unet_cfg, const shim_tensor_view *unet_weights,
                               size_t unet_n, const shim_scheduler_config *noise, uint64_t init_seed,
                               const shim_pretrain_opt *opt, const shim_exec *exec, shim_pretrain **out,
                               shim_err *err) {
  return guarded(err, [&]() -> int {
    if (!text_cfg || !unet_cfg || !noise || !out) throw invalid_input("pretraining: configs and out are required");
    *out = nullptr;
    check_exec(exec);
    check_opt(opt);
    auto p = std::make_unique<shim_pretrain>();
    mdh::weight_recorder trec, urec;
    trec.synthesize_missing = text_n == 0;
    urec.synthesize_missing = unet_n == 0;
    {
      mdh::weight_recording on(&trec);
      const int rc = shim_clip_text_new(text_cfg, text_weights, text_n, exec, &p->text, err);
      if (rc) return rc;
    }
    {
      mdh::weight_recording on(&urec);
      const int rc = shim_unet_new(unet_cfg, unet_weights, unet_n, exec, &p->unet, err);
      if (rc) return rc;
    }
    if (unet_cfg->out_channels != unet_cfg->in_channels)
      throw invalid_input("pretraining: the UNet predicts the noise, so out_channels must equal in_channels");
    if (unet_cfg->cross_attention_dim[0] != text_cfg->hidden_size)
      throw invalid_input("pretraining: the UNet's cross_attention_dim " + std::to_string(unet_cfg->cross_attention_dim[0]) +
                          " differs from the text encoder's hidden_size " + std::to_string(text_cfg->hidden_size));
    // Different streams for the two models, so that changing one config leaves the other's init alone.
    if (text_n == 0) mdh::init_clip_text(trec.taken, *text_cfg, init_seed);
    if (unet_n == 0) mdh::init_torch_default(urec.taken, init_seed ^ 0x9e3779b97f4a7c15ULL);
    adopt(*p, "text_encoder", trec);
    adopt(*p, "unet", urec);
    p->noise = std::make_unique<mdh::ddpm_noise>(*noise);
    p->opt = {opt->beta1, opt->beta2, opt->eps, opt->weight_decay};
    p->max_grad_norm = opt->max_grad_norm;
    *out = p.release();
    return SHIM_OK;
  });
}

void shim_pretrain_free(shim_pretrain *p) { delete p; }

shim_vae *shim_pretrain_vae(shim_pretrain *p) { return p ? p->vae : nullptr; }
shim_clip_text *shim_pretrain_text(shim_pretrain *p) { return p ? p->text : nullptr; }
shim_unet *shim_pretrain_unet(shim_pretrain *p) { return p ? p->unet : nullptr; }

int shim_pretrain_vae_step(shim_pretrain *pp, const float *images, int B, int H, int W, const float *noise,
                           double kl_weight, double lr, shim_pretrain_losses *out, shim_err *err) {
  return guarded(err, [&]() -> int {
    shim_pretrain &p = *need(pp);
    if (!p.vae) throw invalid_input("pretraining: this trainer has no VAE (made by shim_pretrain_denoiser_new)");
    if (!images || !noise) throw invalid_input("pretraining: images and noise are required");
    if (B < 1 || H < 1 || W < 1) throw invalid_input("pretraining: batch and image size must be positive");
    if (!(kl_weight >= 0) || !std::isfinite(kl_weight)) throw invalid_input("pretraining: kl_weight must be >= 0");
    check_lr(lr);
    const shim_vae_config &c = mdh::vae_config(p.vae);
    int lh = 0, lw = 0;
    shim_err size_err;
    if (shim_vae_latent_size(p.vae, H, W, &lh, &lw, &size_err)) throw invalid_input(size_err.msg);
    torch::AutoGradMode grad_on(true);
    const torch::Device dev = mdh::vae_device(p.vae);
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor x = torch::from_blob(const_cast<float *>(images), {B, c.in_channels, H, W}, f32).to(dev, false, true);
    torch::Tensor eps = torch::from_blob(const_cast<float *>(noise), {B, c.latent_channels, lh, lw}, f32).to(dev, false, true);
    mdh::vae_posterior post = mdh::vae_encode(p.vae, x);
    torch::Tensor z = post.mean + torch::exp(0.5 * post.logvar) * eps;
    torch::Tensor rec = mdh::vae_decode(p.vae, z);
    if (rec.sizes() != x.sizes())
      throw invalid_input("pretraining: the VAE reconstructs " + mdh::shape_str(rec.sizes()) + " from " +
                          mdh::shape_str(x.sizes()) + " (image sides must be multiples of the downscale factor)");
    torch::Tensor mse = torch::mse_loss(rec, x);
    torch::Tensor kl = 0.5 * (post.mean.pow(2) + post.logvar.exp() - 1.0 - post.logvar).mean();
    torch::Tensor loss = mse + kl_weight * kl;
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) throw invalid_input("pretraining: the VAE loss is not finite; lower the learning rate");
    clear_grads(p);
    loss.backward();
    const double gn = optimizer_step(p, lr);
    if (out) *out = {lv, mse.item<double>(), kl.item<double>(), gn};
    return SHIM_OK;
  });
}

int shim_pretrain_denoiser_step(shim_pretrain *pp, const float *latents, int B, int lat_h, int lat_w,
                                const float *noise, const int64_t *timesteps, const int64_t *ids, int seq_len,
                                double lr, shim_pretrain_losses *out, shim_err *err) {
  return guarded(err, [&]() -> int {
    shim_pretrain &p = *need(pp);
    if (!p.unet || !p.text) throw invalid_input("pretraining: this trainer has no denoiser (made by shim_pretrain_vae_new)");
    if (!latents || !noise || !timesteps || !ids) throw invalid_input("pretraining: latents, noise, timesteps and ids are required");
    if (B < 1 || lat_h < 1 || lat_w < 1 || seq_len < 1) throw invalid_input("pretraining: batch, latent size and seq_len must be positive");
    check_lr(lr);
    for (int b = 0; b < B; b++)
      if (timesteps[b] < 0 || timesteps[b] >= p.noise->num_train_timesteps())
        throw invalid_input("pretraining: timestep " + std::to_string(timesteps[b]) + " outside [0, " +
                            std::to_string(p.noise->num_train_timesteps()) + ")");
    torch::AutoGradMode grad_on(true);
    const torch::Device tdev = mdh::clip_text_device(p.text), udev = mdh::unet_device(p.unet);
    const int64_t C = shim_unet_get_config(p.unet)->in_channels;
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor id = torch::from_blob(const_cast<int64_t *>(ids), {B, seq_len}, torch::kInt64).to(tdev, false, true);
    torch::Tensor ts = torch::from_blob(const_cast<int64_t *>(timesteps), {B}, torch::kInt64).to(udev, false, true);
    torch::Tensor x0 = torch::from_blob(const_cast<float *>(latents), {B, C, lat_h, lat_w}, f32).to(udev, false, true);
    torch::Tensor eps = torch::from_blob(const_cast<float *>(noise), {B, C, lat_h, lat_w}, f32).to(udev, false, true);
    torch::Tensor ctx = mdh::clip_text_forward(p.text, id, 0).to(udev);
    torch::Tensor noisy = p.noise->add_noise(x0, eps, ts);
    torch::Tensor pred = mdh::unet_forward(p.unet, noisy, ts, ctx);
    torch::Tensor loss = torch::mse_loss(pred, eps);
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) throw invalid_input("pretraining: the denoising loss is not finite; lower the learning rate");
    clear_grads(p);
    loss.backward();
    const double gn = optimizer_step(p, lr);
    if (out) *out = {lv, lv, 0.0, gn};
    return SHIM_OK;
  });
}

size_t shim_pretrain_count(const shim_pretrain *p) { return p ? p->entries.size() : 0; }

int shim_pretrain_info(const shim_pretrain *pp, size_t i, const char **component, const char **name, int *ndim,
                       int64_t shape[SHIM_MAX_DIMS], shim_err *err) {
  return guarded(err, [&]() -> int {
    const shim_pretrain &p = *need(pp);
    if (i >= p.entries.size())
      throw invalid_input("pretraining: tensor index " + std::to_string(i) + " outside [0, " + std::to_string(p.entries.size()) + ")");
    const pt_entry &e = p.entries[i];
    if (component) *component = e.component.c_str();
    if (name) *name = e.name.c_str();
    if (ndim) *ndim = static_cast<int>(e.param.dim());
    if (shape)
      for (int64_t d = 0; d < e.param.dim() && d < SHIM_MAX_DIMS; d++) shape[d] = e.param.size(d);
    return SHIM_OK;
  });
}

namespace {

torch::Tensor role_tensor(const pt_entry &e, shim_pretrain_role role) {
  switch (role) {
    case SHIM_PT_PARAM: return e.param;
    case SHIM_PT_EXP_AVG: return e.st.exp_avg.defined() ? e.st.exp_avg : torch::zeros_like(e.param);
    case SHIM_PT_EXP_AVG_SQ: return e.st.exp_avg_sq.defined() ? e.st.exp_avg_sq : torch::zeros_like(e.param);
  }
  throw invalid_input("pretraining: unknown role " + std::to_string(static_cast<int>(role)));
}

}  // namespace

int shim_pretrain_get(const shim_pretrain *pp, size_t i, shim_pretrain_role role, shim_dtype dtype, void *data,
                      shim_err *err) {
  return guarded(err, [&]() -> int {
    const shim_pretrain &p = *need(pp);
    if (i >= p.entries.size()) throw invalid_input("pretraining: tensor index " + std::to_string(i) + " out of range");
    if (dtype != SHIM_F32 && dtype != SHIM_F16 && dtype != SHIM_BF16)
      throw invalid_input("pretraining: export dtype must be F32, F16 or BF16");
    if (!data) throw invalid_input("pretraining: output buffer is NULL");
    torch::NoGradGuard no_grad;
    torch::Tensor t = role_tensor(p.entries[i], role).detach().to(torch::kCPU, mdh::scalar_type(dtype)).contiguous();
    std::memcpy(data, t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
    return SHIM_OK;
  });
}

int shim_pretrain_set(shim_pretrain *pp, size_t i, shim_pretrain_role role, const float *data, shim_err *err) {
  return guarded(err, [&]() -> int {
    shim_pretrain &p = *need(pp);
    if (i >= p.entries.size()) throw invalid_input("pretraining: tensor index " + std::to_string(i) + " out of range");
    if (!data) throw invalid_input("pretraining: input buffer is NULL");
    torch::NoGradGuard no_grad;
    pt_entry &e = p.entries[i];
    torch::Tensor src = torch::from_blob(const_cast<float *>(data), e.param.sizes(), torch::kFloat32)
                            .to(e.param.device(), e.param.scalar_type());
    switch (role) {
      case SHIM_PT_PARAM: e.param.copy_(src); break;
      case SHIM_PT_EXP_AVG: e.st.exp_avg = src.clone(); break;
      case SHIM_PT_EXP_AVG_SQ: e.st.exp_avg_sq = src.clone(); break;
      default: throw invalid_input("pretraining: unknown role " + std::to_string(static_cast<int>(role)));
    }
    return SHIM_OK;
  });
}

int64_t shim_pretrain_steps(const shim_pretrain *p) { return p ? p->steps : 0; }

int shim_pretrain_set_steps(shim_pretrain *pp, int64_t steps, shim_err *err) {
  return guarded(err, [&]() -> int {
    shim_pretrain &p = *need(pp);
    if (steps < 0) throw invalid_input("pretraining: step count must be >= 0");
    p.steps = steps;
    return SHIM_OK;
  });
}

}  // extern "C"

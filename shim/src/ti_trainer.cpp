// Textual inversion (diffusers examples/textual_inversion): trains only the placeholder rows of
// the CLIP token embedding through the frozen text encoder and UNet; the C API of mdh_shim.h's
// "textual inversion" section.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "clip_text.hpp"
#include "guard.hpp"
#include "mdh_shim.h"
#include "sampler.hpp"
#include "ti_adamw.hpp"
#include "unet.hpp"
#include "weights.hpp"

struct shim_ti_trainer {
  shim_clip_text *text = nullptr;
  shim_unet *unet = nullptr;
  shim_ti_config cfg{};
  std::unique_ptr<mdh::ddpm_noise> noise;
  mdh::adamw_opts opt;
  torch::Tensor rows;  // float32 leaf [n_rows, dim] on the text encoder's device; its .grad() accumulates
  mdh::adamw_state adam;
  mdh::loss_scaler scaler;
};

namespace {

using mdh::invalid_input;

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

shim_ti_trainer *need(const shim_ti_trainer *t) {
  if (!t) throw invalid_input("textual inversion: trainer handle is NULL");
  return const_cast<shim_ti_trainer *>(t);
}

// The placeholder range against the text encoder's current vocabulary (it may be resized later).
void check_range(shim_clip_text *text, int64_t first, int64_t n) {
  const int64_t vocab = shim_clip_text_vocab_size(text);
  if (n <= 0) throw invalid_input("textual inversion: n_rows must be positive, got " + std::to_string(n));
  if (first < 0 || first >= vocab || n > vocab - first)
    throw invalid_input("textual inversion: placeholder rows [" + std::to_string(first) + ", " +
                        std::to_string(first + n) + ") outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

void check_config(const shim_ti_config &c, shim_clip_text *text, shim_unet *unet) {
  check_range(text, c.first_row, c.n_rows);
  auto unit = [](const char *key, double v) {
    if (!(v >= 0.0 && v < 1.0))
      throw invalid_input(std::string("textual inversion: ") + key + " must be in [0, 1), got " + num(v));
  };
  unit("beta1", c.beta1);
  unit("beta2", c.beta2);
  if (!(c.eps >= 0.0) || !std::isfinite(c.eps))
    throw invalid_input("textual inversion: eps must be a finite number >= 0, got " + num(c.eps));
  if (!(c.weight_decay >= 0.0) || !std::isfinite(c.weight_decay))
    throw invalid_input("textual inversion: weight_decay must be a finite number >= 0, got " + num(c.weight_decay));
  if (c.v_prediction != 0 && c.v_prediction != 1)
    throw invalid_input("textual inversion: v_prediction must be 0 or 1, got " + std::to_string(c.v_prediction));
  const int layers = mdh::clip_text_config(text).num_hidden_layers;
  if (c.clip_skip < 0 || c.clip_skip > layers)
    throw invalid_input("textual inversion: clip_skip " + std::to_string(c.clip_skip) + " outside [0, " +
                        std::to_string(layers) + "] (num_hidden_layers)");
  const shim_unet_config *uc = shim_unet_get_config(unet);
  if (uc->out_channels != uc->in_channels)
    throw invalid_input("textual inversion: the UNet predicts " + std::to_string(uc->out_channels) +
                        " channels for a " + std::to_string(uc->in_channels) +
                        "-channel latent; the noise target needs out_channels == in_channels");
}

// A float32 [n, dim] host buffer as a tensor on `dev` (copied).
torch::Tensor host_rows(const float *p, int64_t n, int64_t dim, const char *what, torch::Device dev) {
  if (!p) throw invalid_input(std::string("textual inversion: ") + what + " is NULL");
  return torch::from_blob(const_cast<float *>(p), {n, dim}, torch::kFloat32).to(dev, torch::kFloat32, false, true);
}

void copy_rows_out(const torch::Tensor &t, float *out) {
  if (!out) return;
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), sizeof(float) * static_cast<size_t>(c.numel()));
}

// Writes the float32 rows into the text encoder's matrix (its dtype): the only change training
// makes to the model.
void write_back(shim_ti_trainer &t) {
  torch::NoGradGuard no_grad;
  check_range(t.text, t.cfg.first_row, t.cfg.n_rows);
  torch::Tensor &w = mdh::clip_text_token_embedding(t.text);
  w.slice(0, t.cfg.first_row, t.cfg.first_row + t.cfg.n_rows).copy_(t.rows.detach());
}

torch::Tensor grad_or_zeros(const shim_ti_trainer &t) {
  const torch::Tensor &g = t.rows.grad();
  return g.defined() ? g : torch::zeros_like(t.rows);
}

void zero_grad(shim_ti_trainer &t) {
  torch::NoGradGuard no_grad;
  if (t.rows.grad().defined()) t.rows.mutable_grad().zero_();
}

void check_batch(const shim_ti_trainer &t, const float *latents, int B, int lat_h, int lat_w, const float *noise,
                 const int64_t *timesteps, const int64_t *ids, int seq_len, double grad_scale) {
  if (!latents || !noise || !timesteps || !ids)
    throw invalid_input("textual inversion: latents, noise, timesteps and ids are required");
  if (B < 1 || B > 65536) throw invalid_input("textual inversion: batch size B " + std::to_string(B) + " outside [1, 65536]");
  if (lat_h < 1 || lat_w < 1 || lat_h > 16384 || lat_w > 16384)
    throw invalid_input("textual inversion: latent size " + std::to_string(lat_h) + "x" + std::to_string(lat_w) +
                        " outside [1, 16384]");
  const int64_t in_ch = shim_unet_get_config(t.unet)->in_channels;
  if (static_cast<double>(B) * in_ch * lat_h * lat_w > 4.0e9)
    throw invalid_input("textual inversion: latents [" + std::to_string(B) + ", " + std::to_string(in_ch) + ", " +
                        std::to_string(lat_h) + ", " + std::to_string(lat_w) + "] are too large");
  const int max_pos = mdh::clip_text_config(t.text).max_position_embeddings;
  if (seq_len < 1 || seq_len > max_pos)
    throw invalid_input("textual inversion: seq_len " + std::to_string(seq_len) + " outside [1, " +
                        std::to_string(max_pos) + "] (max_position_embeddings)");
  if (!(grad_scale > 0.0) || !(grad_scale <= std::numeric_limits<float>::max()))
    throw invalid_input("textual inversion: grad_scale must be a positive float32 value, got " + num(grad_scale));
  const int64_t n_t = t.noise->num_train_timesteps();
  for (int b = 0; b < B; b++)
    if (timesteps[b] < 0 || timesteps[b] >= n_t)
      throw invalid_input("textual inversion: timesteps[" + std::to_string(b) + "] = " + std::to_string(timesteps[b]) +
                          " outside [0, " + std::to_string(n_t) + ") (num_train_timesteps)");
  const int64_t vocab = shim_clip_text_vocab_size(t.text);
  for (int64_t i = 0; i < static_cast<int64_t>(B) * seq_len; i++)
    if (ids[i] < 0 || ids[i] >= vocab)
      throw invalid_input("textual inversion: ids[" + std::to_string(i / seq_len) + "][" + std::to_string(i % seq_len) +
                          "] = " + std::to_string(ids[i]) + " outside the vocabulary [0, " + std::to_string(vocab) +
                          ")");
}

// inputs_embeds with the trainable rows at the placeholder positions: the frozen lookup carries
// no graph, so the gradient reaches `rows` and nothing else.
torch::Tensor input_embeds(const shim_ti_trainer &t, const torch::Tensor &ids) {
  torch::Tensor &w = mdh::clip_text_token_embedding(t.text);
  torch::Tensor base;
  {
    torch::NoGradGuard no_grad;
    base = torch::embedding(w, ids);
  }
  const int64_t first = t.cfg.first_row, n = t.cfg.n_rows;
  torch::Tensor mask = ids.ge(first).logical_and(ids.lt(first + n)).unsqueeze(-1);
  torch::Tensor local = (ids - first).clamp(0, n - 1);
  torch::Tensor sub = torch::embedding(t.rows.to(w.scalar_type()), local);
  return torch::where(mask, sub, base);
}

}  // namespace

extern "C" {

int shim_ti_trainer_new(shim_clip_text *text, shim_unet *unet, const shim_ti_config *cfg, shim_ti_trainer **out,
                        shim_err *err) {
  if (out) *out = nullptr;
  return mdh::guarded(err, [&]() -> int {
    if (!text || !unet || !cfg || !out)
      throw invalid_input("textual inversion: text encoder, UNet, config and output handle are required");
    check_config(*cfg, text, unet);
    auto t = std::make_unique<shim_ti_trainer>();
    t->text = text;
    t->unet = unet;
    t->cfg = *cfg;
    t->noise = std::make_unique<mdh::ddpm_noise>(cfg->noise);
    t->opt.beta1 = cfg->beta1;
    t->opt.beta2 = cfg->beta2;
    t->opt.eps = cfg->eps;
    t->opt.weight_decay = cfg->weight_decay;
    t->scaler.scale = cfg->loss_scaling ? 65536.0 : 1.0;
    {
      torch::NoGradGuard no_grad;
      torch::Tensor &w = mdh::clip_text_token_embedding(text);
      t->rows = w.slice(0, cfg->first_row, cfg->first_row + cfg->n_rows).to(torch::kFloat32, false, true).contiguous();
      t->adam.exp_avg = torch::zeros_like(t->rows);
      t->adam.exp_avg_sq = torch::zeros_like(t->rows);
    }
    t->rows.set_requires_grad(true);
    *out = t.release();
    return SHIM_OK;
  });
}

void shim_ti_trainer_free(shim_ti_trainer *t) { delete t; }

int shim_ti_accumulate(shim_ti_trainer *t, const float *latents, int B, int lat_h, int lat_w, const float *noise,
                       const int64_t *timesteps, const int64_t *ids, int seq_len, double grad_scale, double *loss,
                       shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    need(t);
    check_range(t->text, t->cfg.first_row, t->cfg.n_rows);
    check_batch(*t, latents, B, lat_h, lat_w, noise, timesteps, ids, seq_len, grad_scale);
    torch::AutoGradMode grad_on(true);
    const torch::Device tdev = mdh::clip_text_device(t->text), udev = mdh::unet_device(t->unet);
    const int64_t C = shim_unet_get_config(t->unet)->in_channels;
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor id = torch::from_blob(const_cast<int64_t *>(ids), {B, seq_len}, torch::kInt64).to(tdev, false, true);
    torch::Tensor ts = torch::from_blob(const_cast<int64_t *>(timesteps), {B}, torch::kInt64).to(udev, false, true);
    torch::Tensor x0 = torch::from_blob(const_cast<float *>(latents), {B, C, lat_h, lat_w}, f32).to(udev, false, true);
    torch::Tensor eps = torch::from_blob(const_cast<float *>(noise), {B, C, lat_h, lat_w}, f32).to(udev, false, true);

    torch::Tensor ehs = mdh::clip_text_forward_embeds(t->text, input_embeds(*t, id), t->cfg.clip_skip);
    torch::Tensor ctx = ehs.to(udev, mdh::unet_dtype(t->unet));
    torch::Tensor noisy = t->noise->add_noise(x0, eps, ts);
    torch::Tensor pred = t->cfg.grad_checkpointing ? mdh::unet_forward_checkpointed(t->unet, noisy, ts, ctx)
                                                   : mdh::unet_forward(t->unet, noisy, ts, ctx);
    torch::Tensor target = t->cfg.v_prediction ? t->noise->get_velocity(x0, eps, ts) : eps;
    torch::Tensor l = torch::mse_loss(pred.to(torch::kFloat32), target.to(torch::kFloat32), at::Reduction::Mean);
    const float lv = l.item<float>();
    if (loss) *loss = static_cast<double>(lv);
    if (!std::isfinite(lv)) return SHIM_OK;  // reported, not accumulated: the caller decides
    // accelerate divides the loss by the accumulation count; GradScaler multiplies by its scale.
    torch::Tensor root = l;
    if (grad_scale != 1.0) root = root * grad_scale;
    if (t->cfg.loss_scaling) root = root * static_cast<float>(t->scaler.scale);
    root.backward();
    return SHIM_OK;
  });
}

int shim_ti_grad(const shim_ti_trainer *t, float *out, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    need(t);
    if (!out) throw invalid_input("textual inversion: gradient output buffer is NULL");
    torch::NoGradGuard no_grad;
    torch::Tensor g = grad_or_zeros(*t);
    // The gradient of the loss itself: undo the loss scale as GradScaler.unscale_ would.
    if (t->cfg.loss_scaling) g = g * static_cast<float>(1.0 / t->scaler.scale);
    copy_rows_out(g, out);
    return SHIM_OK;
  });
}

int shim_ti_step(shim_ti_trainer *t, double lr, shim_grad_clip clip, double clip_value, double *grad_norm,
                 int *skipped, shim_err *err) {
  if (skipped) *skipped = 0;
  return mdh::guarded(err, [&]() -> int {
    need(t);
    if (!(lr >= 0.0) || !std::isfinite(lr))
      throw invalid_input("textual inversion: lr must be a finite number >= 0, got " + num(lr));
    if (clip != SHIM_CLIP_NONE && clip != SHIM_CLIP_VALUE && clip != SHIM_CLIP_NORM)
      throw invalid_input("textual inversion: unknown gradient clipping mode " + std::to_string(static_cast<int>(clip)));
    if (clip != SHIM_CLIP_NONE && (!(clip_value > 0.0) || !std::isfinite(clip_value)))
      throw invalid_input("textual inversion: clip_value must be a finite number > 0, got " + num(clip_value));
    torch::NoGradGuard no_grad;
    torch::Tensor g = grad_or_zeros(*t).clone();
    if (t->cfg.loss_scaling) g.mul_(static_cast<float>(1.0 / t->scaler.scale));
    torch::Tensor norm = mdh::grad_l2_norm(g);
    const double nv = norm.item<double>();
    if (grad_norm) *grad_norm = nv;
    const bool finite = torch::isfinite(g).all().item<bool>();
    if (!finite) {
      zero_grad(*t);
      if (!t->cfg.loss_scaling)
        throw invalid_input("textual inversion: the accumulated gradient is not finite (L2 norm " + num(nv) +
                            "); no step taken");
      t->scaler.update(true);
      if (skipped) *skipped = 1;
      return SHIM_OK;
    }
    if (clip == SHIM_CLIP_VALUE) mdh::clip_grad_value(g, clip_value);
    if (clip == SHIM_CLIP_NORM) mdh::clip_grad_norm(g, norm, clip_value);
    mdh::adamw_step(t->rows, g, t->adam, lr, t->opt);
    if (t->cfg.loss_scaling) t->scaler.update(false);
    zero_grad(*t);
    write_back(*t);
    return SHIM_OK;
  });
}

int shim_ti_get_state(const shim_ti_trainer *t, float *rows, float *exp_avg, float *exp_avg_sq, int64_t *step,
                      double *loss_scale, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    need(t);
    copy_rows_out(t->rows, rows);
    copy_rows_out(t->adam.exp_avg, exp_avg);
    copy_rows_out(t->adam.exp_avg_sq, exp_avg_sq);
    if (step) *step = t->adam.step;
    if (loss_scale) *loss_scale = t->cfg.loss_scaling ? t->scaler.scale : 1.0;
    return SHIM_OK;
  });
}

int shim_ti_set_state(shim_ti_trainer *t, const float *rows, const float *exp_avg, const float *exp_avg_sq,
                      int64_t step, double loss_scale, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    need(t);
    if (step < 0) throw invalid_input("textual inversion: state step must be >= 0, got " + std::to_string(step));
    if (!(loss_scale > 0.0) || !(loss_scale <= std::numeric_limits<float>::max()))
      throw invalid_input("textual inversion: state loss_scale must be a positive float32 value, got " + num(loss_scale));
    const int64_t n = t->cfg.n_rows, dim = t->rows.size(1);
    const torch::Device dev = t->rows.device();
    torch::Tensor r = host_rows(rows, n, dim, "state rows", dev);
    torch::Tensor m = host_rows(exp_avg, n, dim, "state exp_avg", dev);
    torch::Tensor v = host_rows(exp_avg_sq, n, dim, "state exp_avg_sq", dev);
    torch::NoGradGuard no_grad;
    t->rows.copy_(r);
    t->adam.exp_avg = m;
    t->adam.exp_avg_sq = v;
    t->adam.step = step;
    // The growth tracker is not part of the state: a restored run counts its 2000 good steps anew.
    if (t->cfg.loss_scaling) t->scaler.scale = loss_scale;
    t->scaler.growth_tracker = 0;
    zero_grad(*t);
    write_back(*t);
    return SHIM_OK;
  });
}

}  // extern "C"

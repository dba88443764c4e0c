// txt2img: diffusers' StableDiffusionPipeline.__call__ on the shim's own components — prompt
// encoding, latents, the sampler loop with classifier-free guidance, VAE decoding — kept on the
// device with no host synchronisation inside the loop.
#include <cstring>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "clip_text.hpp"
#include "guard.hpp"
#include "mdh_shim.h"
#include "sampler.hpp"
#include "unet.hpp"
#include "vae.hpp"

namespace {

using mdh::invalid_input;

void check_params(const shim_txt2img_params *p, int vae_factor, int64_t latent_channels, const float *images,
                  const float *latents) {
  if (!p) throw invalid_input("txt2img: no parameters given");
  if (p->n_images < 1 || p->n_images > 4096)
    throw invalid_input("txt2img: n_images must be between 1 and 4096, got " + std::to_string(p->n_images));
  if (p->seq_len < 1 || p->seq_len > 4096) throw invalid_input("txt2img: bad seq_len " + std::to_string(p->seq_len));
  if (!p->cond_ids) throw invalid_input("txt2img: no prompt token ids");
  if (p->guidance > 1.0 && !p->uncond_ids) throw invalid_input("txt2img: guidance > 1 needs negative-prompt ids");
  if (p->steps < 1 || p->steps > 10000)
    throw invalid_input("txt2img: steps must be between 1 and 10000, got " + std::to_string(p->steps));
  if (p->height < vae_factor || p->width < vae_factor || p->height % vae_factor || p->width % vae_factor ||
      p->height > 16384 || p->width > 16384)
    throw invalid_input("txt2img: height and width must be positive multiples of " + std::to_string(vae_factor) +
                        " (the VAE's downscale factor), got " + std::to_string(p->height) + "x" +
                        std::to_string(p->width));
  if (!(p->vae_scaling_factor > 0.0)) throw invalid_input("txt2img: the VAE scaling factor must be positive");
  if (!images && !latents) throw invalid_input("txt2img: neither images nor latents asked for");
  (void)latent_channels;
}

}  // namespace

extern "C" int shim_txt2img(shim_clip_text *text, shim_unet *unet, shim_vae *vae, shim_sampler *sampler,
                            const shim_txt2img_params *p, float *images, float *latents, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    if (!text || !unet || !vae || !sampler) throw invalid_input("txt2img: a model component is missing");
    const int vae_factor = shim_vae_scale_factor(vae);
    const int64_t channels = shim_unet_get_config(unet)->in_channels;
    check_params(p, vae_factor, channels, images, latents);
    const torch::Device device = mdh::unet_device(unet);
    const torch::ScalarType dtype = mdh::unet_dtype(unet);
    torch::NoGradGuard no_grad;

    const int64_t B = p->n_images, L = p->seq_len;
    const int64_t h = p->height / vae_factor, w = p->width / vae_factor;
    auto ids_tensor = [&](const int64_t *ids) {
      return torch::from_blob(const_cast<int64_t *>(ids), {B, L}, torch::kInt64).clone().to(device);
    };
    const bool cfg = p->guidance > 1.0;
    // diffusers encodes the negative and positive prompts separately and concatenates them
    // [uncond, cond]; the UNet then sees the latents twice in one batch.
    torch::Tensor ctx = mdh::clip_text_forward(text, ids_tensor(p->cond_ids), p->clip_skip);
    if (cfg) ctx = torch::cat({mdh::clip_text_forward(text, ids_tensor(p->uncond_ids), p->clip_skip), ctx}, 0);
    ctx = ctx.to(dtype);

    // One CPU generator for the whole call, as diffusers' `generator=torch.Generator().manual_seed(s)`:
    // initial latents first, then each stochastic step's noise, so a seed reproduces a diffusers run.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(p->seed);
    auto cpu_f32 = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor x;
    if (p->init_latents)
      x = torch::from_blob(const_cast<float *>(p->init_latents), {B, channels, h, w}, cpu_f32).clone();
    else
      x = at::randn({B, channels, h, w}, gen, cpu_f32);
    x = x.to(device);

    mdh::sampler &s = mdh::sampler_of(sampler);
    s.set_timesteps(p->steps);
    x = x * s.init_noise_sigma();
    const int n_evals = s.num_model_evals();
    // Stochastic samplers' noise is drawn up front, in the order diffusers draws it inside the
    // loop, and copied to the device once: a copy from pageable host memory inside the loop would
    // synchronise with the device at every step.
    torch::Tensor noise_all;
    if (s.needs_noise()) {
      std::vector<torch::Tensor> draws;
      for (int i = 0; i < n_evals; i++) draws.push_back(at::randn(x.sizes(), gen, cpu_f32));
      noise_all = torch::stack(draws).to(device);
    }
    for (int i = 0; i < n_evals; i++) {
      torch::Tensor xin = cfg ? torch::cat({x, x}, 0) : x;
      xin = s.scale_model_input(xin, i);
      const double t = s.timestep_value(i);
      torch::Tensor tt = torch::full({xin.size(0)}, t, torch::TensorOptions().dtype(torch::kFloat32).device(device));
      torch::Tensor eps = mdh::unet_forward(unet, xin.to(dtype), tt, ctx).to(torch::kFloat32);
      if (cfg) {
        auto parts = eps.chunk(2, 0);
        eps = parts[0] + p->guidance * (parts[1] - parts[0]);
      }
      torch::Tensor noise;
      if (noise_all.defined()) noise = noise_all[i];
      x = s.step(eps, i, x, noise);
      if (p->progress && p->progress(p->progress_user, i + 1, n_evals))
        return mdh::fail(err, SHIM_E_CANCELLED, "txt2img: stopped after " + std::to_string(i + 1) + " of " +
                                                    std::to_string(n_evals) + " model evaluations");
    }
    if (latents) {
      torch::Tensor out = x.to(torch::kCPU, torch::kFloat32).contiguous();
      std::memcpy(latents, out.data_ptr<float>(), sizeof(float) * out.numel());
    }
    if (images) {
      torch::Tensor img = mdh::vae_decode(vae, (x / p->vae_scaling_factor).to(dtype)).to(torch::kFloat32);
      img = (img / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 1}).to(torch::kCPU).contiguous();
      std::memcpy(images, img.data_ptr<float>(), sizeof(float) * img.numel());
    }
    return SHIM_OK;
  });
}

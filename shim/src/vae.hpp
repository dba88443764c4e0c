// The VAE's C++ side, for other shim code (pipeline, textual inversion): encode and decode on
// device tensors.
#pragma once

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

struct vae_posterior {
  torch::Tensor mean;    // [B, latent_channels, h, w]
  torch::Tensor logvar;  // clamped to [-30, 20]
};

// image [B, in_channels, H, W] in [-1, 1] (any device/dtype; moved to the model's) -> the
// diagonal Gaussian posterior on the model's device and dtype. No scaling_factor applied.
vae_posterior vae_encode(shim_vae *v, const torch::Tensor &image);

// z [B, latent_channels, h, w] -> image [B, out_channels, h*f, w*f]. No scaling inside: pass
// latents / scaling_factor, as diffusers' pipeline does.
torch::Tensor vae_decode(shim_vae *v, const torch::Tensor &z);

// The pieces, for checking: encoder(image), quant_conv(.), post_quant_conv(z).
torch::Tensor vae_encoder_forward(shim_vae *v, const torch::Tensor &image);
torch::Tensor vae_quant_conv(shim_vae *v, const torch::Tensor &h);
torch::Tensor vae_post_quant_conv(shim_vae *v, const torch::Tensor &z);

const shim_vae_config &vae_config(const shim_vae *v);
torch::Device vae_device(const shim_vae *v);
torch::ScalarType vae_dtype(const shim_vae *v);

}  // namespace mdh

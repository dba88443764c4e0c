// Internal C++ face of the UNet for other shim code (the sampling pipeline, textual inversion):
// a forward pass on device tensors, with no host synchronisation.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

// x [B, in_channels, H, W], t [B] or 0-dim (any numeric dtype; broadcast to B), ctx [B, L,
// cross_attention_dim]; all on the model's device (converted to its dtype here). Returns [B,
// out_channels, H, W] in the model's dtype. Does not switch autograd off: callers that do not
// need gradients hold a torch::NoGradGuard. Throws invalid_input on inconsistent shapes.
torch::Tensor unet_forward(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t, const torch::Tensor &ctx);

// Same, also recording the named intermediate outputs ("time_embedding", "conv_in",
// "down_blocks.<i>", "mid_block", "up_blocks.<i>") into *taps when it is not null.
torch::Tensor unet_forward_taps(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t,
                                const torch::Tensor &ctx, std::map<std::string, torch::Tensor> *taps);

// unet_forward with gradient checkpointing: each down, mid and up block keeps only its inputs
// and is recomputed in the backward pass (same result, less memory; textual inversion).
torch::Tensor unet_forward_checkpointed(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t,
                                        const torch::Tensor &ctx);

torch::Device unet_device(const shim_unet *u);
torch::ScalarType unet_dtype(const shim_unet *u);

}  // namespace mdh

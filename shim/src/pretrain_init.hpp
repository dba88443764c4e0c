// Fresh initialisation of a model's recorded tensors as the reference libraries do it, so that a
// model pretrained from scratch starts where a diffusers / transformers model would.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

using named_tensors = std::vector<std::pair<std::string, torch::Tensor>>;

// torch's module defaults (what diffusers' UNet2DConditionModel and AutoencoderKL keep):
// conv / linear weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt 5),
// norm weight 1 and bias 0. Tensors are filled in place, in order, from one generator.
void init_torch_default(named_tensors &ts, uint64_t seed);

// transformers 4.33 CLIPPreTrainedModel._init_weights (initializer_factor f, initializer_range r):
// embeddings N(0, r f); q/k/v N(0, d^-0.5 (2L)^-0.5 f), out_proj N(0, d^-0.5 f), fc1 N(0, (2d)^-0.5 f),
// fc2 N(0, d^-0.5 (2L)^-0.5 f); linear biases 0; LayerNorm 1 / 0.
void init_clip_text(named_tensors &ts, const shim_clip_text_config &cfg, uint64_t seed);

}  // namespace mdh

// The CLIP text encoder's C++ side, for other shim code (pipeline, textual inversion): forward
// passes on device tensors and access to the token embedding.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "mdh_shim.h"

namespace mdh {

// Prompt embeddings for ids [B, L] (int64, any device): [B, L, hidden] on the model's device in
// its dtype. clip_skip as in shim_clip_text_encode (0/1 = last_hidden_state, k >= 2 =
// final_layer_norm(hidden_states[-k])). Autograd flows when the token embedding requires grad.
torch::Tensor clip_text_forward(shim_clip_text *m, const torch::Tensor &ids, int clip_skip);

// Same, from inputs_embeds [B, L, hidden] (token embeddings already looked up) — textual
// inversion substitutes trainable rows here.
torch::Tensor clip_text_forward_embeds(shim_clip_text *m, const torch::Tensor &inputs_embeds, int clip_skip);

// Every hidden state (hidden_states[0..num_layers], before the final LayerNorm) and
// last_hidden_state, as transformers' output_hidden_states=True gives them.
struct clip_text_outputs {
  std::vector<torch::Tensor> hidden_states;
  torch::Tensor last_hidden_state;
};
clip_text_outputs clip_text_forward_all(shim_clip_text *m, const torch::Tensor &ids);

// The token-embedding matrix [vocab, hidden] (model device and dtype), by reference: callers may
// replace it (same hidden size) or set requires_grad on it.
torch::Tensor &clip_text_token_embedding(shim_clip_text *m);
torch::Tensor clip_text_final_layer_norm(shim_clip_text *m, const torch::Tensor &x);
const shim_clip_text_config &clip_text_config(const shim_clip_text *m);
torch::Device clip_text_device(const shim_clip_text *m);

}  // namespace mdh

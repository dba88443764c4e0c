// Generic layers shared by the shim's models (CLIP text encoder, VAE, UNet): weights are taken
// from a weight_set by prefix, forward passes are plain functions of tensors.
//
// API (stable; other model files build on it):
//   exec_device(exec) / exec_dtype(exec)   resolve a shim_exec (NULL = cpu, float32); invalid_input on bad values
//   activation parse_activation(name, what) "silu"/"swish", "gelu", "quick_gelu", "relu", "mish", "gelu_new"/
//                                           "gelu_pytorch_tanh"; unknown names throw invalid_input naming `what`
//   apply_activation(act, x)
//   linear::take(ws, prefix, in, out, bias)                 prefix.weight [out,in], prefix.bias [out]
//   conv2d::take(ws, prefix, in, out, k, stride, pad, bias)  prefix.weight [out,in,k,k]; symmetric padding
//   group_norm::take(ws, prefix, channels, groups, eps)      prefix.weight/bias [channels]
//   layer_norm::take(ws, prefix, dim, eps)                   prefix.weight/bias [dim] over the last dim
//   resnet_block2d::take(ws, prefix, resnet_block2d_opts)    diffusers ResnetBlock2D; forward(x, temb) where temb
//                                                            may be undefined (temb_channels == 0)
//   attention_core(q, k, v, heads, scale, mask)              multi-head softmax(q k^T * scale + mask) v with
//                                                            q [B, Lq, heads*d], k/v [B, Lk, heads*d] -> [B, Lq, heads*d];
//                                                            uses matmul (never baddbmm: libtorch 1.13 CPU leaks NaN);
//                                                            scores and softmax in float32 for half inputs
//   attention::take(ws, prefix, opts)                        diffusers Attention projections to_q/to_k/to_v/to_out.0
//                                                            (VAE: old names query/key/value/proj_attn accepted)
//   attention::forward(x [B,L,C], context [B,Lc,Cc] or undefined, mask or undefined)
#pragma once

#include <string>

#include <torch/torch.h>

#include "mdh_shim.h"
#include "weights.hpp"

namespace mdh {

torch::Device exec_device(const shim_exec *exec);
torch::ScalarType exec_dtype(const shim_exec *exec);

enum class activation { silu, gelu, gelu_tanh, quick_gelu, relu, mish };
activation parse_activation(const std::string &name, const std::string &what);
torch::Tensor apply_activation(activation act, const torch::Tensor &x);

struct linear {
  torch::Tensor weight, bias;  // bias undefined when absent
  static linear take(weight_set &ws, const std::string &prefix, int64_t in, int64_t out, bool with_bias = true);
  torch::Tensor forward(const torch::Tensor &x) const;
};

struct conv2d {
  torch::Tensor weight, bias;
  int64_t stride = 1, padding = 0;
  static conv2d take(weight_set &ws, const std::string &prefix, int64_t in, int64_t out, int64_t kernel,
                     int64_t stride = 1, int64_t padding = 0, bool with_bias = true);
  torch::Tensor forward(const torch::Tensor &x) const;
};

struct group_norm {
  torch::Tensor weight, bias;
  int64_t groups = 32;
  double eps = 1e-6;
  static group_norm take(weight_set &ws, const std::string &prefix, int64_t channels, int64_t groups, double eps);
  torch::Tensor forward(const torch::Tensor &x) const;
};

struct layer_norm {
  torch::Tensor weight, bias;
  int64_t dim = 0;
  double eps = 1e-5;
  static layer_norm take(weight_set &ws, const std::string &prefix, int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor &x) const;
};

struct resnet_block2d_opts {
  int64_t in_channels = 0;
  int64_t out_channels = 0;      // 0 = in_channels
  int64_t temb_channels = 0;     // 0 = no time embedding (no time_emb_proj weight)
  int64_t groups = 32;
  int64_t groups_out = 0;        // 0 = groups
  double eps = 1e-6;
  activation act = activation::silu;
  bool scale_shift = false;      // time_embedding_norm "scale_shift" (else "default")
  double output_scale_factor = 1.0;
  bool skip_time_act = false;
};

// diffusers ResnetBlock2D (no up/down, no dropout at inference): norm1, act, conv1, (+ temb),
// norm2, act, conv2, a 1x1 conv_shortcut when the channel count changes, residual / scale.
struct resnet_block2d {
  resnet_block2d_opts o;
  group_norm norm1, norm2;
  conv2d conv1, conv2, conv_shortcut;  // conv_shortcut.weight undefined when not used
  linear time_emb_proj;                // undefined when temb_channels == 0
  static resnet_block2d take(weight_set &ws, const std::string &prefix, const resnet_block2d_opts &opts);
  torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &temb = torch::Tensor()) const;
};

// softmax(q k^T * scale (+ mask)) v over `heads` heads; see the header comment for shapes.
torch::Tensor attention_core(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v, int64_t heads,
                             double scale, const torch::Tensor &mask = torch::Tensor());

struct attention_opts {
  int64_t query_dim = 0;
  int64_t context_dim = 0;   // 0 = query_dim (self-attention)
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool qkv_bias = false;
  bool out_bias = true;
  bool accept_legacy_names = false;  // query/key/value/proj_attn as old VAE checkpoints name them
};

struct attention {
  attention_opts o;
  linear to_q, to_k, to_v, to_out;
  static attention take(weight_set &ws, const std::string &prefix, const attention_opts &opts);
  torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &context = torch::Tensor(),
                        const torch::Tensor &mask = torch::Tensor()) const;
};

}  // namespace mdh

// The pieces of diffusers' UNet2DConditionModel (0.21.4): sinusoidal timestep projection and
// TimestepEmbedding, Transformer2DModel with BasicTransformerBlocks, and the down/mid/up blocks.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "nn_common.hpp"
#include "weights.hpp"

namespace mdh {

// get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift) in float32 (max_period
// 10000, scale 1); t [B] any numeric dtype -> [B, dim] float32 on t's device.
torch::Tensor timestep_proj(const torch::Tensor &t, int64_t dim, bool flip_sin_to_cos, double freq_shift);

// TimestepEmbedding without cond_proj / post_act: linear_1, act, linear_2.
struct timestep_embedding {
  linear linear_1, linear_2;
  activation act = activation::silu;
  static timestep_embedding take(weight_set &ws, const std::string &prefix, int64_t in, int64_t dim,
                                 activation act);
  torch::Tensor forward(const torch::Tensor &x) const;
};

// BasicTransformerBlock (layer_norm type, GEGLU feed-forward, no only_cross_attention).
struct transformer_block {
  layer_norm norm1, norm2, norm3;
  attention attn1, attn2;
  linear ff_proj, ff_out;  // ff.net.0.proj [2*4*dim, dim], ff.net.2 [dim, 4*dim]
  static transformer_block take(weight_set &ws, const std::string &prefix, int64_t dim, int64_t heads,
                                int64_t dim_head, int64_t cross_dim);
  torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &ctx) const;
};

struct transformer2d_opts {
  int64_t channels = 0;
  int64_t heads = 1;
  int64_t layers = 1;
  int64_t cross_dim = 0;
  int64_t groups = 32;
  bool linear_projection = false;
};

// Transformer2DModel on continuous input: GroupNorm(eps 1e-6), proj_in (Linear after flattening
// or 1x1 conv before it), the blocks, proj_out, plus the input as residual.
struct transformer2d {
  transformer2d_opts o;
  int64_t inner = 0;  // heads * (channels / heads)
  group_norm norm;
  linear proj_in_l, proj_out_l;
  conv2d proj_in_c, proj_out_c;
  std::vector<transformer_block> blocks;
  static transformer2d take(weight_set &ws, const std::string &prefix, const transformer2d_opts &opts);
  torch::Tensor forward(const torch::Tensor &x, const torch::Tensor &ctx) const;
};

// What the blocks share, from the UNet config.
struct block_common {
  int64_t temb_channels = 0;
  int64_t groups = 32;
  double eps = 1e-5;
  activation act = activation::silu;
  bool scale_shift = false;
  bool linear_projection = false;
};

struct block_attn_opts {
  bool cross_attn = false;
  int64_t heads = 1;
  int64_t transformer_layers = 1;
  int64_t cross_dim = 0;
};

// CrossAttnDownBlock2D / DownBlock2D: (resnet, attention?) x layers, then an optional stride-2
// conv downsampler. Appends every output it produces to `skips`, as diffusers' res_samples.
struct down_block {
  std::vector<resnet_block2d> resnets;
  std::vector<transformer2d> attentions;  // empty for DownBlock2D
  bool has_downsample = false;
  int64_t downsample_padding = 1;
  conv2d downsampler;
  static down_block take(weight_set &ws, const std::string &prefix, const block_common &c, const block_attn_opts &a,
                         int64_t in_ch, int64_t out_ch, int64_t layers, bool add_downsample, int64_t padding);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor &temb, const torch::Tensor &ctx,
                        std::vector<torch::Tensor> &skips) const;
};

// UNetMidBlock2DCrossAttn with one layer: resnet, attention, resnet.
struct mid_block {
  std::vector<resnet_block2d> resnets;
  std::vector<transformer2d> attentions;
  static mid_block take(weight_set &ws, const std::string &prefix, const block_common &c, const block_attn_opts &a,
                        int64_t channels, double output_scale_factor);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor &temb, const torch::Tensor &ctx) const;
};

// CrossAttnUpBlock2D / UpBlock2D: (concat skip, resnet, attention?) x layers, then an optional
// nearest 2x (or to `upsample_size`) upsampler with a 3x3 conv. Pops its skips off the back.
struct up_block {
  std::vector<resnet_block2d> resnets;
  std::vector<transformer2d> attentions;
  bool has_upsample = false;
  conv2d upsampler;
  static up_block take(weight_set &ws, const std::string &prefix, const block_common &c, const block_attn_opts &a,
                       int64_t in_ch, int64_t out_ch, int64_t prev_out_ch, int64_t layers, bool add_upsample);
  // upsample_h/w <= 0: plain 2x.
  torch::Tensor forward(torch::Tensor x, std::vector<torch::Tensor> &skips, const torch::Tensor &temb,
                        const torch::Tensor &ctx, int64_t upsample_h, int64_t upsample_w) const;
};

}  // namespace mdh

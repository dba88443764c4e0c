// UNet building blocks as diffusers 0.21.4 defines them (unet_2d_blocks.py, transformer_2d.py,
// attention.py, embeddings.py); weights are taken by their diffusers state-dict names.
#include "unet_blocks.hpp"

#include <cmath>

#include "guard.hpp"

namespace mdh {

namespace {

std::string idx(const std::string &prefix, const char *part, size_t i) {
  return prefix + "." + part + "." + std::to_string(i);
}

resnet_block2d take_resnet(weight_set &ws, const std::string &prefix, const block_common &c, int64_t in_ch,
                           int64_t out_ch, double output_scale_factor) {
  resnet_block2d_opts o;
  o.in_channels = in_ch;
  o.out_channels = out_ch;
  o.temb_channels = c.temb_channels;
  o.groups = c.groups;
  o.eps = c.eps;
  o.act = c.act;
  o.scale_shift = c.scale_shift;
  o.output_scale_factor = output_scale_factor;
  return resnet_block2d::take(ws, prefix, o);
}

transformer2d take_transformer(weight_set &ws, const std::string &prefix, const block_common &c,
                               const block_attn_opts &a, int64_t channels) {
  transformer2d_opts o;
  o.channels = channels;
  o.heads = a.heads;
  o.layers = a.transformer_layers;
  o.cross_dim = a.cross_dim;
  o.groups = c.groups;
  o.linear_projection = c.linear_projection;
  return transformer2d::take(ws, prefix, o);
}

}  // namespace

torch::Tensor timestep_proj(const torch::Tensor &t, int64_t dim, bool flip_sin_to_cos, double freq_shift) {
  const int64_t half = dim / 2;
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(t.device());
  // Same float32 operation order as diffusers' get_timestep_embedding, so the result is bitwise
  // the reference's (the exponent is built in float32, not in double).
  auto exponent = torch::arange(0, half, opts) * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  auto freqs = torch::exp(exponent);
  auto args = t.to(torch::kFloat32).reshape({-1, 1}) * freqs.unsqueeze(0);
  auto s = torch::sin(args), c = torch::cos(args);
  auto emb = flip_sin_to_cos ? torch::cat({c, s}, -1) : torch::cat({s, c}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1});
  return emb;
}

timestep_embedding timestep_embedding::take(weight_set &ws, const std::string &prefix, int64_t in, int64_t dim,
                                            activation act) {
  timestep_embedding te;
  te.linear_1 = linear::take(ws, prefix + ".linear_1", in, dim);
  te.linear_2 = linear::take(ws, prefix + ".linear_2", dim, dim);
  te.act = act;
  return te;
}

torch::Tensor timestep_embedding::forward(const torch::Tensor &x) const {
  return linear_2.forward(apply_activation(act, linear_1.forward(x)));
}

transformer_block transformer_block::take(weight_set &ws, const std::string &prefix, int64_t dim, int64_t heads,
                                          int64_t dim_head, int64_t cross_dim) {
  transformer_block b;
  b.norm1 = layer_norm::take(ws, prefix + ".norm1", dim, 1e-5);
  b.norm2 = layer_norm::take(ws, prefix + ".norm2", dim, 1e-5);
  b.norm3 = layer_norm::take(ws, prefix + ".norm3", dim, 1e-5);
  attention_opts self;
  self.query_dim = dim;
  self.heads = heads;
  self.dim_head = dim_head;
  b.attn1 = attention::take(ws, prefix + ".attn1", self);
  attention_opts cross = self;
  cross.context_dim = cross_dim;
  b.attn2 = attention::take(ws, prefix + ".attn2", cross);
  const int64_t ff_inner = dim * 4;  // FeedForward mult 4, GEGLU doubles the projection
  b.ff_proj = linear::take(ws, prefix + ".ff.net.0.proj", dim, 2 * ff_inner);
  b.ff_out = linear::take(ws, prefix + ".ff.net.2", ff_inner, dim);
  return b;
}

torch::Tensor transformer_block::forward(const torch::Tensor &x, const torch::Tensor &ctx) const {
  auto h = attn1.forward(norm1.forward(x)) + x;
  h = attn2.forward(norm2.forward(h), ctx) + h;
  auto parts = ff_proj.forward(norm3.forward(h)).chunk(2, -1);
  auto gate = parts[1];
  // CPU gelu has no half kernel in libtorch 1.13: evaluate it in float32 there.
  auto g = (gate.is_cpu() && gate.scalar_type() == torch::kHalf) ? torch::gelu(gate.to(torch::kFloat32)).to(gate.scalar_type())
                                                                 : torch::gelu(gate);
  return ff_out.forward(parts[0] * g) + h;
}

transformer2d transformer2d::take(weight_set &ws, const std::string &prefix, const transformer2d_opts &opts) {
  transformer2d t;
  t.o = opts;
  const int64_t dim_head = opts.channels / opts.heads;
  t.inner = opts.heads * dim_head;
  t.norm = group_norm::take(ws, prefix + ".norm", opts.channels, opts.groups, 1e-6);
  if (opts.linear_projection) {
    t.proj_in_l = linear::take(ws, prefix + ".proj_in", opts.channels, t.inner);
  } else {
    t.proj_in_c = conv2d::take(ws, prefix + ".proj_in", opts.channels, t.inner, 1, 1, 0);
  }
  for (int64_t i = 0; i < opts.layers; i++)
    t.blocks.push_back(transformer_block::take(ws, idx(prefix, "transformer_blocks", static_cast<size_t>(i)),
                                               t.inner, opts.heads, dim_head, opts.cross_dim));
  if (opts.linear_projection) {
    t.proj_out_l = linear::take(ws, prefix + ".proj_out", t.inner, opts.channels);
  } else {
    t.proj_out_c = conv2d::take(ws, prefix + ".proj_out", t.inner, opts.channels, 1, 1, 0);
  }
  return t;
}

torch::Tensor transformer2d::forward(const torch::Tensor &x, const torch::Tensor &ctx) const {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto h = norm.forward(x);
  if (o.linear_projection) {
    h = proj_in_l.forward(h.permute({0, 2, 3, 1}).reshape({B, H * W, C}));
  } else {
    h = proj_in_c.forward(h).permute({0, 2, 3, 1}).reshape({B, H * W, inner});
  }
  for (const auto &b : blocks) h = b.forward(h, ctx);
  if (o.linear_projection) {
    h = proj_out_l.forward(h).reshape({B, H, W, C}).permute({0, 3, 1, 2}).contiguous();
  } else {
    h = proj_out_c.forward(h.reshape({B, H, W, inner}).permute({0, 3, 1, 2}).contiguous());
  }
  return h + x;
}

down_block down_block::take(weight_set &ws, const std::string &prefix, const block_common &c,
                            const block_attn_opts &a, int64_t in_ch, int64_t out_ch, int64_t layers,
                            bool add_downsample, int64_t padding) {
  down_block d;
  for (int64_t i = 0; i < layers; i++) {
    auto k = static_cast<size_t>(i);
    d.resnets.push_back(take_resnet(ws, idx(prefix, "resnets", k), c, i == 0 ? in_ch : out_ch, out_ch, 1.0));
    if (a.cross_attn) d.attentions.push_back(take_transformer(ws, idx(prefix, "attentions", k), c, a, out_ch));
  }
  d.has_downsample = add_downsample;
  d.downsample_padding = padding;
  if (add_downsample)
    d.downsampler = conv2d::take(ws, prefix + ".downsamplers.0.conv", out_ch, out_ch, 3, 2, padding);
  return d;
}

torch::Tensor down_block::forward(torch::Tensor x, const torch::Tensor &temb, const torch::Tensor &ctx,
                                  std::vector<torch::Tensor> &skips) const {
  for (size_t i = 0; i < resnets.size(); i++) {
    x = resnets[i].forward(x, temb);
    if (!attentions.empty()) x = attentions[i].forward(x, ctx);
    skips.push_back(x);
  }
  if (has_downsample) {
    // Downsample2D with padding 0 pads right and bottom only, keeping the stride-2 grid aligned.
    if (downsample_padding == 0) x = torch::constant_pad_nd(x, {0, 1, 0, 1}, 0);
    x = downsampler.forward(x);
    skips.push_back(x);
  }
  return x;
}

mid_block mid_block::take(weight_set &ws, const std::string &prefix, const block_common &c,
                          const block_attn_opts &a, int64_t channels, double output_scale_factor) {
  mid_block m;
  m.resnets.push_back(take_resnet(ws, prefix + ".resnets.0", c, channels, channels, output_scale_factor));
  m.attentions.push_back(take_transformer(ws, prefix + ".attentions.0", c, a, channels));
  m.resnets.push_back(take_resnet(ws, prefix + ".resnets.1", c, channels, channels, output_scale_factor));
  return m;
}

torch::Tensor mid_block::forward(torch::Tensor x, const torch::Tensor &temb, const torch::Tensor &ctx) const {
  x = resnets[0].forward(x, temb);
  for (size_t i = 0; i < attentions.size(); i++) {
    x = attentions[i].forward(x, ctx);
    x = resnets[i + 1].forward(x, temb);
  }
  return x;
}

up_block up_block::take(weight_set &ws, const std::string &prefix, const block_common &c, const block_attn_opts &a,
                        int64_t in_ch, int64_t out_ch, int64_t prev_out_ch, int64_t layers, bool add_upsample) {
  up_block u;
  for (int64_t i = 0; i < layers; i++) {
    auto k = static_cast<size_t>(i);
    const int64_t skip_ch = i == layers - 1 ? in_ch : out_ch;
    const int64_t res_in = i == 0 ? prev_out_ch : out_ch;
    u.resnets.push_back(take_resnet(ws, idx(prefix, "resnets", k), c, res_in + skip_ch, out_ch, 1.0));
    if (a.cross_attn) u.attentions.push_back(take_transformer(ws, idx(prefix, "attentions", k), c, a, out_ch));
  }
  u.has_upsample = add_upsample;
  if (add_upsample) u.upsampler = conv2d::take(ws, prefix + ".upsamplers.0.conv", out_ch, out_ch, 3, 1, 1);
  return u;
}

torch::Tensor up_block::forward(torch::Tensor x, std::vector<torch::Tensor> &skips, const torch::Tensor &temb,
                                const torch::Tensor &ctx, int64_t upsample_h, int64_t upsample_w) const {
  namespace F = torch::nn::functional;
  for (size_t i = 0; i < resnets.size(); i++) {
    if (skips.empty()) throw invalid_input("UNet: up block ran out of skip connections");
    x = torch::cat({x, skips.back()}, 1);
    skips.pop_back();
    x = resnets[i].forward(x, temb);
    if (!attentions.empty()) x = attentions[i].forward(x, ctx);
  }
  if (has_upsample) {
    const auto dtype = x.scalar_type();
    // As diffusers: nearest upsampling has no bfloat16 kernel in older torch, go through float32.
    if (dtype == torch::kBFloat16) x = x.to(torch::kFloat32);
    auto opts = F::InterpolateFuncOptions().mode(torch::kNearest);
    if (upsample_h > 0 && upsample_w > 0)
      opts.size(std::vector<int64_t>{upsample_h, upsample_w});
    else
      opts.scale_factor(std::vector<double>{2.0, 2.0});
    x = F::interpolate(x, opts);
    if (dtype == torch::kBFloat16) x = x.to(dtype);
    x = upsampler.forward(x);
  }
  return x;
}

}  // namespace mdh

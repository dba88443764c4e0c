// diffusers UNet2DConditionModel (0.21.4) on libtorch: built from a shim_unet_config and a state
// dict, and the C API around it (shim_unet_new / _forward / _free).
#include "unet.hpp"

#include <cstring>
#include <memory>
#include <vector>

#include "guard.hpp"
#include "nn_common.hpp"
#include "ti_checkpoint.hpp"
#include "unet_blocks.hpp"
#include "weights.hpp"

struct shim_unet {
  shim_unet_config cfg;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  mdh::conv2d conv_in, conv_out;
  mdh::timestep_embedding time_embedding;
  bool has_time_embed_act = false;
  mdh::activation time_embed_act = mdh::activation::silu;
  std::vector<mdh::down_block> down_blocks;
  bool has_mid = false;
  mdh::mid_block mid;
  std::vector<mdh::up_block> up_blocks;
  mdh::group_norm conv_norm_out;
  mdh::activation act = mdh::activation::silu;
  std::vector<int64_t> cross_dims_used;  // cross_attention_dim of every block with attention
};

namespace mdh {

namespace {

void require(bool ok, const std::string &field, const std::string &why) {
  if (!ok) throw invalid_input("UNet config: " + field + " " + why);
}

std::string at(const char *field, int i) { return std::string(field) + "[" + std::to_string(i) + "]"; }

// The shim's own checks: the struct may come from any C caller, not only the config parser.
void validate(const shim_unet_config &c) {
  require(c.n_blocks >= 1 && c.n_blocks <= SHIM_UNET_MAX_BLOCKS, "n_blocks",
          "must be in [1, " + std::to_string(SHIM_UNET_MAX_BLOCKS) + "], got " + std::to_string(c.n_blocks));
  require(c.in_channels >= 1, "in_channels", "must be >= 1, got " + std::to_string(c.in_channels));
  require(c.out_channels >= 1, "out_channels", "must be >= 1, got " + std::to_string(c.out_channels));
  require(c.norm_num_groups >= 1, "norm_num_groups", "must be >= 1, got " + std::to_string(c.norm_num_groups));
  require(c.norm_eps > 0, "norm_eps", "must be > 0");
  require(c.time_embed_dim >= 1, "time_embed_dim", "must be >= 1, got " + std::to_string(c.time_embed_dim));
  require(c.conv_in_kernel >= 1 && c.conv_in_kernel % 2 == 1, "conv_in_kernel",
          "must be odd and >= 1, got " + std::to_string(c.conv_in_kernel));
  require(c.conv_out_kernel >= 1 && c.conv_out_kernel % 2 == 1, "conv_out_kernel",
          "must be odd and >= 1, got " + std::to_string(c.conv_out_kernel));
  require(c.downsample_padding >= 0 && c.downsample_padding <= 2, "downsample_padding",
          "must be in [0, 2], got " + std::to_string(c.downsample_padding));
  require(c.mid_block_scale_factor > 0, "mid_block_scale_factor", "must be > 0");
  for (int i = 0; i < c.n_blocks; i++) {
    const int ch = c.block_out_channels[i];
    require(ch >= 1, at("block_out_channels", i), "must be >= 1, got " + std::to_string(ch));
    require(ch % c.norm_num_groups == 0, at("block_out_channels", i),
            "= " + std::to_string(ch) + " is not divisible by norm_num_groups " + std::to_string(c.norm_num_groups));
    require(c.layers_per_block[i] >= 1, at("layers_per_block", i),
            "must be >= 1, got " + std::to_string(c.layers_per_block[i]));
    const bool attn_here = c.down_cross_attn[i] || c.up_cross_attn[c.n_blocks - 1 - i] ||
                           (c.has_mid_block && i == c.n_blocks - 1);
    if (!attn_here) continue;
    require(c.num_heads[i] >= 1 && c.num_heads[i] <= ch, at("num_heads", i),
            "must be in [1, " + std::to_string(ch) + "], got " + std::to_string(c.num_heads[i]));
    require(c.transformer_layers_per_block[i] >= 1, at("transformer_layers_per_block", i),
            "must be >= 1, got " + std::to_string(c.transformer_layers_per_block[i]));
    require(c.cross_attention_dim[i] >= 1, at("cross_attention_dim", i),
            "must be >= 1, got " + std::to_string(c.cross_attention_dim[i]));
  }
}

block_attn_opts attn_opts(const shim_unet_config &c, int i, bool cross) {
  block_attn_opts a;
  a.cross_attn = cross;
  a.heads = c.num_heads[i];
  a.transformer_layers = c.transformer_layers_per_block[i];
  a.cross_dim = c.cross_attention_dim[i];
  return a;
}

void build(shim_unet &u, weight_set &ws) {
  const shim_unet_config &c = u.cfg;
  const int n = c.n_blocks;
  const int64_t ch0 = c.block_out_channels[0];
  u.act = parse_activation(c.act_fn, "UNet config act_fn");
  u.has_time_embed_act = c.time_embedding_act_fn[0] != '\0';
  if (u.has_time_embed_act) u.time_embed_act = parse_activation(c.time_embedding_act_fn, "UNet config time_embedding_act_fn");

  u.conv_in = conv2d::take(ws, "conv_in", c.in_channels, ch0, c.conv_in_kernel, 1, (c.conv_in_kernel - 1) / 2);
  u.time_embedding = timestep_embedding::take(ws, "time_embedding", ch0, c.time_embed_dim, u.act);

  block_common bc;
  bc.temb_channels = c.time_embed_dim;
  bc.groups = c.norm_num_groups;
  bc.eps = c.norm_eps;
  bc.act = u.act;
  bc.scale_shift = c.resnet_scale_shift != 0;
  bc.linear_projection = c.use_linear_projection != 0;

  int64_t out_ch = ch0;
  for (int i = 0; i < n; i++) {
    const int64_t in_ch = out_ch;
    out_ch = c.block_out_channels[i];
    const bool cross = c.down_cross_attn[i] != 0;
    if (cross) u.cross_dims_used.push_back(c.cross_attention_dim[i]);
    u.down_blocks.push_back(down_block::take(ws, "down_blocks." + std::to_string(i), bc, attn_opts(c, i, cross), in_ch,
                                             out_ch, c.layers_per_block[i], i != n - 1, c.downsample_padding));
  }

  u.has_mid = c.has_mid_block != 0;
  if (u.has_mid) {
    u.cross_dims_used.push_back(c.cross_attention_dim[n - 1]);
    u.mid = mid_block::take(ws, "mid_block", bc, attn_opts(c, n - 1, true), c.block_out_channels[n - 1],
                            c.mid_block_scale_factor);
  }

  // Up block i mirrors down block n-1-i: diffusers reverses every per-block list.
  out_ch = c.block_out_channels[n - 1];
  for (int i = 0; i < n; i++) {
    const int r = n - 1 - i;
    const int64_t prev_out = out_ch;
    out_ch = c.block_out_channels[r];
    const int64_t in_ch = c.block_out_channels[r > 0 ? r - 1 : 0];
    const bool cross = c.up_cross_attn[i] != 0;
    if (cross) u.cross_dims_used.push_back(c.cross_attention_dim[r]);
    u.up_blocks.push_back(up_block::take(ws, "up_blocks." + std::to_string(i), bc, attn_opts(c, r, cross), in_ch,
                                         out_ch, prev_out, c.layers_per_block[r] + 1, i != n - 1));
  }

  u.conv_norm_out = group_norm::take(ws, "conv_norm_out", ch0, c.norm_num_groups, c.norm_eps);
  u.conv_out = conv2d::take(ws, "conv_out", ch0, c.out_channels, c.conv_out_kernel, 1, (c.conv_out_kernel - 1) / 2);
  ws.check_all_taken();
}

void check_inputs(const shim_unet &u, const torch::Tensor &x, const torch::Tensor &t, const torch::Tensor &ctx) {
  if (x.dim() != 4 || x.size(1) != u.cfg.in_channels)
    throw invalid_input("UNet: sample must be [B, " + std::to_string(u.cfg.in_channels) + ", H, W], got " +
                        shape_str(x.sizes()));
  const int64_t B = x.size(0);
  if (B < 1 || x.size(2) < 1 || x.size(3) < 1) throw invalid_input("UNet: empty sample " + shape_str(x.sizes()));
  if (!(t.dim() == 0 || (t.dim() == 1 && (t.size(0) == B || t.size(0) == 1))))
    throw invalid_input("UNet: timesteps must be a scalar or [" + std::to_string(B) + "], got " + shape_str(t.sizes()));
  if (!u.cross_dims_used.empty()) {
    if (!ctx.defined() || ctx.dim() != 3 || ctx.size(0) != B || ctx.size(1) < 1)
      throw invalid_input("UNet: encoder_hidden_states must be [" + std::to_string(B) + ", L, " +
                          std::to_string(u.cross_dims_used[0]) + "] with L >= 1, got " +
                          (ctx.defined() ? shape_str(ctx.sizes()) : std::string("nothing")));
    for (int64_t d : u.cross_dims_used)
      if (ctx.size(2) != d)
        throw invalid_input("UNet: encoder_hidden_states last dimension is " + std::to_string(ctx.size(2)) +
                            ", the model's cross_attention_dim is " + std::to_string(d));
  }
}

}  // namespace

torch::Device unet_device(const shim_unet *u) { return u->device; }
torch::ScalarType unet_dtype(const shim_unet *u) { return u->dtype; }

namespace {

// With `ckpt`, every down, mid and up block runs through checkpoint() (textual inversion's
// grad_checkpointing): its activations are recomputed in the backward pass instead of kept.
torch::Tensor forward_impl(shim_unet *u, const torch::Tensor &x_in, const torch::Tensor &t_in,
                           const torch::Tensor &ctx_in, std::map<std::string, torch::Tensor> *taps, bool ckpt) {
  check_inputs(*u, x_in, t_in, ctx_in);
  const shim_unet_config &c = u->cfg;
  auto tap = [&](const std::string &name, const torch::Tensor &v) {
    if (taps) (*taps)[name] = v;
  };
  torch::Tensor x = x_in.to(u->device, u->dtype);
  torch::Tensor ctx = ctx_in.defined() ? ctx_in.to(u->device, u->dtype) : ctx_in;
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);

  // Sizes that are not a multiple of 2^(number of upsamplers) make each upsampler aim at its
  // skip's size rather than at 2x (diffusers' forward_upsample_size).
  const int64_t factor = int64_t{1} << (c.n_blocks - 1);
  const bool forward_upsample_size = (H % factor) != 0 || (W % factor) != 0;

  if (c.center_input_sample) x = 2 * x - 1.0;

  torch::Tensor t = t_in.to(u->device).reshape({-1}).expand({B});
  torch::Tensor emb = timestep_proj(t, c.block_out_channels[0], c.flip_sin_to_cos != 0, c.freq_shift).to(u->dtype);
  emb = u->time_embedding.forward(emb);
  tap("time_embedding", emb);
  if (u->has_time_embed_act) emb = apply_activation(u->time_embed_act, emb);

  torch::Tensor h = u->conv_in.forward(x);
  tap("conv_in", h);
  std::vector<torch::Tensor> skips{h};
  for (size_t i = 0; i < u->down_blocks.size(); i++) {
    if (ckpt) {
      // The block's outputs are {h, its new skips...}; the closure keeps no tensor of its own.
      const down_block *db = &u->down_blocks[i];
      auto out = checkpoint(
          [db](const torch::autograd::variable_list &in) {
            std::vector<torch::Tensor> sk;
            torch::autograd::variable_list r{db->forward(in[0], in[1], in[2], sk)};
            r.insert(r.end(), sk.begin(), sk.end());
            return r;
          },
          {h, emb, ctx});
      h = out[0];
      skips.insert(skips.end(), out.begin() + 1, out.end());
    } else {
      h = u->down_blocks[i].forward(h, emb, ctx, skips);
    }
    tap("down_blocks." + std::to_string(i), h);
  }
  if (u->has_mid) {
    if (ckpt) {
      const mid_block *mb = &u->mid;
      h = checkpoint([mb](const torch::autograd::variable_list &in) -> torch::autograd::variable_list {
            return {mb->forward(in[0], in[1], in[2])};
          }, {h, emb, ctx})[0];
    } else {
      h = u->mid.forward(h, emb, ctx);
    }
    tap("mid_block", h);
  }
  int64_t up_h = 0, up_w = 0;
  for (size_t i = 0; i < u->up_blocks.size(); i++) {
    const up_block &ub = u->up_blocks[i];
    const bool is_final = i + 1 == u->up_blocks.size();
    const size_t n_res = ub.resnets.size();
    if (!is_final && forward_upsample_size && skips.size() > n_res) {
      const torch::Tensor &next_skip = skips[skips.size() - n_res - 1];
      up_h = next_skip.size(2);
      up_w = next_skip.size(3);
    }
    if (ckpt && skips.size() >= n_res) {
      // Inputs {h, temb, ctx, the skips this block pops (in stack order)}.
      torch::autograd::variable_list in{h, emb, ctx};
      in.insert(in.end(), skips.end() - static_cast<std::ptrdiff_t>(n_res), skips.end());
      skips.resize(skips.size() - n_res);
      const up_block *ubp = &ub;
      h = checkpoint([ubp, up_h, up_w](const torch::autograd::variable_list &v) -> torch::autograd::variable_list {
            std::vector<torch::Tensor> sk(v.begin() + 3, v.end());
            return {ubp->forward(v[0], sk, v[1], v[2], up_h, up_w)};
          }, in)[0];
    } else {
      h = ub.forward(h, skips, emb, ctx, up_h, up_w);
    }
    tap("up_blocks." + std::to_string(i), h);
  }
  h = apply_activation(u->act, u->conv_norm_out.forward(h));
  return u->conv_out.forward(h);
}

}  // namespace

torch::Tensor unet_forward_taps(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t,
                                const torch::Tensor &ctx, std::map<std::string, torch::Tensor> *taps) {
  return forward_impl(u, x, t, ctx, taps, false);
}

torch::Tensor unet_forward_checkpointed(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t,
                                        const torch::Tensor &ctx) {
  return forward_impl(u, x, t, ctx, nullptr, true);
}

torch::Tensor unet_forward(shim_unet *u, const torch::Tensor &x, const torch::Tensor &t, const torch::Tensor &ctx) {
  if (x.is_cuda()) return unet_forward_taps(u, x.contiguous(at::MemoryFormat::ChannelsLast), t, ctx, nullptr);
  return unet_forward_taps(u, x, t, ctx, nullptr);
}

}  // namespace mdh

namespace {

// Host float32 buffers in; the forward; copies out of the requested taps.
int forward_c(shim_unet *u, const float *sample, int B, int H, int W, const float *timesteps, const float *context,
              int L, float *out, const char *const *tap_names, float *const *tap_out, const size_t *tap_numel,
              size_t n_taps, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    using mdh::invalid_input;
    if (!u) throw invalid_input("UNet: no model");
    if (B < 1 || H < 1 || W < 1) throw invalid_input("UNet: B, H and W must be >= 1");
    if (!sample || !timesteps) throw invalid_input("UNet: sample and timesteps are required");
    if (n_taps && (!tap_names || !tap_out || !tap_numel)) throw invalid_input("UNet: taps need names, buffers and sizes");
    const shim_unet_config &c = u->cfg;
    torch::NoGradGuard no_grad;
    auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
    // from_blob does not copy; the buffers outlive this call's use of them.
    auto x = torch::from_blob(const_cast<float *>(sample), {B, c.in_channels, H, W}, f32);
    auto t = torch::from_blob(const_cast<float *>(timesteps), {B}, f32);
    torch::Tensor ctx;
    if (context) {
      if (L < 1) throw invalid_input("UNet: context length L must be >= 1");
      const int64_t dim = u->cross_dims_used.empty() ? c.cross_attention_dim[0] : u->cross_dims_used[0];
      ctx = torch::from_blob(const_cast<float *>(context), {B, L, dim}, f32);
    }
    std::map<std::string, torch::Tensor> taps;
    torch::Tensor y = mdh::unet_forward_taps(u, x, t, ctx, n_taps ? &taps : nullptr);
    for (size_t i = 0; i < n_taps; i++) {
      const std::string name = tap_names[i] ? tap_names[i] : "";
      auto it = taps.find(name);
      if (it == taps.end())
        throw invalid_input("UNet: unknown tap '" + name +
                            "' (expected time_embedding, conv_in, down_blocks.<i>, mid_block or up_blocks.<i>)");
      torch::Tensor v = it->second.to(torch::kCPU, torch::kFloat32).contiguous();
      if (static_cast<size_t>(v.numel()) != tap_numel[i])
        throw invalid_input("UNet: tap '" + name + "' has shape " + mdh::shape_str(v.sizes()) + " (" +
                            std::to_string(v.numel()) + " values), the buffer holds " + std::to_string(tap_numel[i]));
      std::memcpy(tap_out[i], v.data_ptr<float>(), sizeof(float) * static_cast<size_t>(v.numel()));
    }
    if (out) {
      torch::Tensor yc = y.to(torch::kCPU, torch::kFloat32).contiguous();
      std::memcpy(out, yc.data_ptr<float>(), sizeof(float) * static_cast<size_t>(yc.numel()));
    }
    return SHIM_OK;
  });
}

}  // namespace

extern "C" {

int shim_unet_new(const shim_unet_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                  shim_unet **out, shim_err *err) {
  if (out) *out = nullptr;
  return mdh::guarded(err, [&]() -> int {
    if (!cfg || !out) throw mdh::invalid_input("UNet: config and output handle are required");
    if (n && !weights) throw mdh::invalid_input("UNet: weights missing");
    mdh::validate(*cfg);
    auto u = std::make_unique<shim_unet>();
    u->cfg = *cfg;
    u->cfg.act_fn[sizeof u->cfg.act_fn - 1] = '\0';
    u->cfg.time_embedding_act_fn[sizeof u->cfg.time_embedding_act_fn - 1] = '\0';
    u->device = mdh::exec_device(exec);
    u->dtype = mdh::exec_dtype(exec);
    torch::NoGradGuard no_grad;
    mdh::weight_set ws(weights, n, "UNet", u->device, u->dtype);
    mdh::build(*u, ws);
    *out = u.release();
    return SHIM_OK;
  });
}

void shim_unet_free(shim_unet *u) { delete u; }

const shim_unet_config *shim_unet_get_config(const shim_unet *u) { return u ? &u->cfg : nullptr; }

int shim_unet_forward(shim_unet *u, const float *sample, int B, int H, int W, const float *timesteps,
                      const float *context, int L, float *out, shim_err *err) {
  if (!out) return mdh::fail(err, SHIM_E_INVALID, "UNet: output buffer is required");
  return forward_c(u, sample, B, H, W, timesteps, context, L, out, nullptr, nullptr, nullptr, 0, err);
}

int shim_unet_forward_taps(shim_unet *u, const float *sample, int B, int H, int W, const float *timesteps,
                           const float *context, int L, float *out, const char *const *tap_names,
                           float *const *tap_out, const size_t *tap_numel, size_t n_taps, shim_err *err) {
  return forward_c(u, sample, B, H, W, timesteps, context, L, out, tap_names, tap_out, tap_numel, n_taps, err);
}

}  // extern "C"

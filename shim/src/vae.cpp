// diffusers AutoencoderKL (0.21.4) on libtorch: Encoder (DownEncoderBlock2D, mid block with one
// single-head attention), quant convs, Decoder (UpDecoderBlock2D); mdh_shim.h's VAE section.
#include "vae.hpp"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "guard.hpp"
#include "nn_common.hpp"
#include "weights.hpp"

namespace vae_parts {

constexpr double kEps = 1e-6;  // diffusers hard-codes it for every VAE norm

// UNetMidBlock2D without temb: resnet, (GroupNorm -> single-head attention -> residual), resnet.
struct mid_block {
  mdh::resnet_block2d res0, res1;
  mdh::group_norm attn_norm;
  mdh::attention attn;
};

struct down_block {
  std::vector<mdh::resnet_block2d> resnets;
  mdh::conv2d downsample;  // undefined weight on the last block
};

struct up_block {
  std::vector<mdh::resnet_block2d> resnets;
  mdh::conv2d upsample;    // undefined weight on the last block
};

}  // namespace vae_parts

using vae_parts::down_block;
using vae_parts::kEps;
using vae_parts::mid_block;
using vae_parts::up_block;

struct shim_vae {
  shim_vae_config cfg;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  mdh::activation act = mdh::activation::silu;
  // encoder
  mdh::conv2d enc_conv_in, enc_conv_out;
  std::vector<down_block> down;
  mid_block enc_mid;
  mdh::group_norm enc_norm_out;
  mdh::conv2d quant_conv, post_quant_conv;
  // decoder
  mdh::conv2d dec_conv_in, dec_conv_out;
  mid_block dec_mid;
  std::vector<up_block> up;
  mdh::group_norm dec_norm_out;
};

namespace mdh {

namespace {

std::string cstr(const char *s, size_t cap, const std::string &key) {
  if (!memchr(s, 0, cap)) throw invalid_input("VAE config: " + key + " is not a terminated string");
  return s;
}

void check_config(const shim_vae_config &c) {
  auto positive = [](const std::string &key, long long v) {
    if (v <= 0) throw invalid_input("VAE config: " + key + " must be positive, got " + std::to_string(v));
  };
  positive("in_channels", c.in_channels);
  positive("out_channels", c.out_channels);
  positive("latent_channels", c.latent_channels);
  positive("layers_per_block", c.layers_per_block);
  positive("norm_num_groups", c.norm_num_groups);
  if (c.n_blocks < 1 || c.n_blocks > SHIM_VAE_MAX_BLOCKS)
    throw invalid_input("VAE config: block_out_channels must have 1 to " + std::to_string(SHIM_VAE_MAX_BLOCKS) +
                        " entries, got " + std::to_string(c.n_blocks));
  for (int i = 0; i < c.n_blocks; i++) {
    const std::string idx = "[" + std::to_string(i) + "]";
    positive("block_out_channels" + idx, c.block_out_channels[i]);
    if (cstr(c.down_block_types[i], sizeof c.down_block_types[i], "down_block_types" + idx) != "DownEncoderBlock2D")
      throw invalid_input("VAE config: down_block_types" + idx + " '" + c.down_block_types[i] +
                          "' is not supported (expected DownEncoderBlock2D)");
    if (cstr(c.up_block_types[i], sizeof c.up_block_types[i], "up_block_types" + idx) != "UpDecoderBlock2D")
      throw invalid_input("VAE config: up_block_types" + idx + " '" + c.up_block_types[i] +
                          "' is not supported (expected UpDecoderBlock2D)");
  }
  std::string act = cstr(c.act_fn, sizeof c.act_fn, "act_fn");
  if (act != "silu" && act != "swish" && act != "mish" && act != "gelu" && act != "relu")
    throw invalid_input("VAE config: act_fn '" + act + "' is not supported (expected silu, swish, mish, gelu or relu)");
}

resnet_block2d take_resnet(weight_set &ws, const shim_vae &v, const std::string &prefix, int64_t in, int64_t out) {
  resnet_block2d_opts o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = 0;
  o.groups = v.cfg.norm_num_groups;
  o.eps = kEps;
  o.act = v.act;
  return resnet_block2d::take(ws, prefix, o);
}

mid_block take_mid(weight_set &ws, const shim_vae &v, const std::string &prefix, int64_t ch) {
  mid_block m;
  m.res0 = take_resnet(ws, v, prefix + ".resnets.0", ch, ch);
  const std::string ap = prefix + ".attentions.0";
  m.attn_norm = group_norm::take(ws, ap + ".group_norm", ch, v.cfg.norm_num_groups, kEps);
  attention_opts ao;
  ao.query_dim = ch;
  ao.heads = 1;
  ao.dim_head = ch;
  ao.qkv_bias = true;
  ao.out_bias = true;
  ao.accept_legacy_names = true;
  m.attn = attention::take(ws, ap, ao);
  m.res1 = take_resnet(ws, v, prefix + ".resnets.1", ch, ch);
  return m;
}

torch::Tensor mid_forward(const mid_block &m, const torch::Tensor &x) {
  torch::Tensor h = m.res0.forward(x);
  const int64_t b = h.size(0), c = h.size(1), hh = h.size(2), ww = h.size(3);
  torch::Tensor seq = m.attn_norm.forward(h).reshape({b, c, hh * ww}).transpose(1, 2);
  torch::Tensor a = m.attn.forward(seq).transpose(1, 2).reshape({b, c, hh, ww});
  return m.res1.forward(a + h);
}

torch::Tensor upsample_nearest2x(const torch::Tensor &x) {
  // diffusers upsamples bfloat16 in float32 (nearest is exact either way; 1.13 lacks the bf16 kernel).
  const bool bf16 = x.scalar_type() == torch::kBFloat16;
  torch::Tensor y = torch::upsample_nearest2d(bf16 ? x.to(torch::kFloat32) : x.contiguous(),
                                              {x.size(2) * 2, x.size(3) * 2});
  return bf16 ? y.to(torch::kBFloat16) : y;
}

shim_vae *need(shim_vae *v) {
  if (!v) throw invalid_input("VAE: model handle is NULL");
  return v;
}

torch::Tensor input_4d(const float *data, int batch, int ch, int h, int w, const char *what) {
  if (!data) throw invalid_input(std::string("VAE: ") + what + " is NULL");
  if (batch < 1 || h < 1 || w < 1)
    throw invalid_input(std::string("VAE: ") + what + " batch, height and width must be positive, got " +
                        std::to_string(batch) + ", " + std::to_string(h) + ", " + std::to_string(w));
  return torch::from_blob(const_cast<float *>(data), {batch, ch, h, w}, torch::kFloat32).clone();
}

void check_4d(const torch::Tensor &t, int64_t ch, const char *what) {
  if (t.dim() != 4 || t.size(1) != ch)
    throw invalid_input(std::string("VAE: ") + what + " must be [batch, " + std::to_string(ch) +
                        ", height, width], got " + shape_str(t.sizes()));
}

void copy_out(const torch::Tensor &t, float *out) {
  if (!out) return;
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
}

}  // namespace

torch::Tensor vae_encoder_forward(shim_vae *vp, const torch::Tensor &image) {
  const shim_vae &v = *need(vp);
  check_4d(image, v.cfg.in_channels, "image");
  const int64_t min_side = int64_t{1} << (v.cfg.n_blocks - 1);
  if (image.size(2) < min_side || image.size(3) < min_side)
    throw invalid_input("VAE: image " + std::to_string(image.size(2)) + "x" + std::to_string(image.size(3)) +
                        " is smaller than the downscale factor " + std::to_string(min_side));
  torch::Tensor h = v.enc_conv_in.forward(image.to(v.device, v.dtype));
  for (const auto &blk : v.down) {
    for (const auto &r : blk.resnets) h = r.forward(h);
    // Downsample2D with padding 0: pad right and bottom by one, then a stride-2 3x3 conv.
    if (blk.downsample.weight.defined()) h = blk.downsample.forward(torch::constant_pad_nd(h, {0, 1, 0, 1}, 0));
  }
  h = mid_forward(v.enc_mid, h);
  return v.enc_conv_out.forward(torch::silu(v.enc_norm_out.forward(h)));
}

torch::Tensor vae_quant_conv(shim_vae *v, const torch::Tensor &h) { return need(v)->quant_conv.forward(h); }

torch::Tensor vae_post_quant_conv(shim_vae *vp, const torch::Tensor &z) {
  const shim_vae &v = *need(vp);
  check_4d(z, v.cfg.latent_channels, "latent");
  return v.post_quant_conv.forward(z.to(v.device, v.dtype));
}

vae_posterior vae_encode(shim_vae *v, const torch::Tensor &image) {
  torch::Tensor moments = vae_quant_conv(v, vae_encoder_forward(v, image));
  auto parts = moments.chunk(2, 1);
  return {parts[0], parts[1].clamp(-30.0, 20.0)};
}

torch::Tensor vae_decode(shim_vae *vp, const torch::Tensor &z) {
  const shim_vae &v = *need(vp);
  torch::Tensor h = v.dec_conv_in.forward(vae_post_quant_conv(vp, z));
  h = mid_forward(v.dec_mid, h);
  for (const auto &blk : v.up) {
    for (const auto &r : blk.resnets) h = r.forward(h);
    if (blk.upsample.weight.defined()) h = blk.upsample.forward(upsample_nearest2x(h));
  }
  return v.dec_conv_out.forward(torch::silu(v.dec_norm_out.forward(h)));
}

const shim_vae_config &vae_config(const shim_vae *v) { return v->cfg; }
torch::Device vae_device(const shim_vae *v) { return v->device; }
torch::ScalarType vae_dtype(const shim_vae *v) { return v->dtype; }

}  // namespace mdh

using mdh::guarded;
using mdh::invalid_input;

extern "C" {

int shim_vae_new(const shim_vae_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                 shim_vae **out, shim_err *err) {
  return guarded(err, [&]() -> int {
    if (!cfg || !out) throw invalid_input("VAE: config or output handle is NULL");
    if (n && !weights) throw invalid_input("VAE: weights is NULL");
    *out = nullptr;
    mdh::check_config(*cfg);
    auto v = std::make_unique<shim_vae>();
    v->cfg = *cfg;
    v->act = mdh::parse_activation(cfg->act_fn, "VAE config: act_fn");
    v->device = mdh::exec_device(exec);
    v->dtype = mdh::exec_dtype(exec);
    mdh::weight_set ws(weights, n, "VAE", v->device, v->dtype);
    const int nb = cfg->n_blocks;
    std::vector<int64_t> ch(cfg->block_out_channels, cfg->block_out_channels + nb);
    const int64_t lat = cfg->latent_channels, top = ch.back();

    v->enc_conv_in = mdh::conv2d::take(ws, "encoder.conv_in", cfg->in_channels, ch[0], 3, 1, 1);
    int64_t prev = ch[0];
    for (int i = 0; i < nb; i++) {
      const std::string bp = "encoder.down_blocks." + std::to_string(i);
      down_block blk;
      for (int j = 0; j < cfg->layers_per_block; j++)
        blk.resnets.push_back(mdh::take_resnet(ws, *v, bp + ".resnets." + std::to_string(j), j ? ch[i] : prev, ch[i]));
      if (i != nb - 1) blk.downsample = mdh::conv2d::take(ws, bp + ".downsamplers.0.conv", ch[i], ch[i], 3, 2, 0);
      v->down.push_back(std::move(blk));
      prev = ch[i];
    }
    v->enc_mid = mdh::take_mid(ws, *v, "encoder.mid_block", top);
    v->enc_norm_out = mdh::group_norm::take(ws, "encoder.conv_norm_out", top, cfg->norm_num_groups, kEps);
    v->enc_conv_out = mdh::conv2d::take(ws, "encoder.conv_out", top, 2 * lat, 3, 1, 1);
    v->quant_conv = mdh::conv2d::take(ws, "quant_conv", 2 * lat, 2 * lat, 1);
    v->post_quant_conv = mdh::conv2d::take(ws, "post_quant_conv", lat, lat, 1);

    v->dec_conv_in = mdh::conv2d::take(ws, "decoder.conv_in", lat, top, 3, 1, 1);
    v->dec_mid = mdh::take_mid(ws, *v, "decoder.mid_block", top);
    prev = top;
    for (int i = 0; i < nb; i++) {
      const int64_t oc = ch[nb - 1 - i];
      const std::string bp = "decoder.up_blocks." + std::to_string(i);
      up_block blk;
      for (int j = 0; j <= cfg->layers_per_block; j++)
        blk.resnets.push_back(mdh::take_resnet(ws, *v, bp + ".resnets." + std::to_string(j), j ? oc : prev, oc));
      if (i != nb - 1) blk.upsample = mdh::conv2d::take(ws, bp + ".upsamplers.0.conv", oc, oc, 3, 1, 1);
      v->up.push_back(std::move(blk));
      prev = oc;
    }
    v->dec_norm_out = mdh::group_norm::take(ws, "decoder.conv_norm_out", ch[0], cfg->norm_num_groups, kEps);
    v->dec_conv_out = mdh::conv2d::take(ws, "decoder.conv_out", ch[0], cfg->out_channels, 3, 1, 1);
    ws.check_all_taken();
    *out = v.release();
    return SHIM_OK;
  });
}

void shim_vae_free(shim_vae *v) { delete v; }

int shim_vae_scale_factor(const shim_vae *v) { return v ? 1 << (v->cfg.n_blocks - 1) : 0; }

int shim_vae_latent_size(const shim_vae *v, int height, int width, int *lat_h, int *lat_w, shim_err *err) {
  return guarded(err, [&]() -> int {
    if (!v || !lat_h || !lat_w) throw invalid_input("VAE: NULL argument to shim_vae_latent_size");
    int h = height, w = width;
    for (int i = 0; i < v->cfg.n_blocks - 1; i++) {
      if (h < 2 || w < 2)
        throw invalid_input("VAE: image " + std::to_string(height) + "x" + std::to_string(width) +
                            " is too small for " + std::to_string(v->cfg.n_blocks - 1) + " downsamples");
      h /= 2;
      w /= 2;
    }
    if (h < 1 || w < 1) throw invalid_input("VAE: image size must be positive");
    *lat_h = h;
    *lat_w = w;
    return SHIM_OK;
  });
}

int shim_vae_encode(shim_vae *v, const float *image, int batch, int height, int width, float *mean, float *logvar,
                    shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(v);
    auto post = mdh::vae_encode(v, mdh::input_4d(image, batch, v->cfg.in_channels, height, width, "image"));
    mdh::copy_out(post.mean, mean);
    mdh::copy_out(post.logvar, logvar);
    return SHIM_OK;
  });
}

int shim_vae_encode_moments(shim_vae *v, const float *image, int batch, int height, int width, float *encoder_out,
                            float *moments, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(v);
    torch::Tensor h = mdh::vae_encoder_forward(v, mdh::input_4d(image, batch, v->cfg.in_channels, height, width, "image"));
    mdh::copy_out(h, encoder_out);
    if (moments) mdh::copy_out(mdh::vae_quant_conv(v, h), moments);
    return SHIM_OK;
  });
}

int shim_vae_decode(shim_vae *v, const float *z, int batch, int lat_h, int lat_w, float *image, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(v);
    if (!image) throw invalid_input("VAE: output image buffer is NULL");
    mdh::copy_out(mdh::vae_decode(v, mdh::input_4d(z, batch, v->cfg.latent_channels, lat_h, lat_w, "latent")), image);
    return SHIM_OK;
  });
}

int shim_vae_post_quant_conv(shim_vae *v, const float *z, int batch, int lat_h, int lat_w, float *out,
                             shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(v);
    if (!out) throw invalid_input("VAE: output buffer is NULL");
    mdh::copy_out(mdh::vae_post_quant_conv(v, mdh::input_4d(z, batch, v->cfg.latent_channels, lat_h, lat_w, "latent")),
                  out);
    return SHIM_OK;
  });
}

}  // extern "C"

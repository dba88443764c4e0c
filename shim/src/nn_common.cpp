// Generic layers shared by the shim's models: weight taking by prefix and their forward passes
// (see nn_common.hpp for the API).
#include "nn_common.hpp"

#include <cmath>

#include <torch/version.h>

#include "guard.hpp"

namespace mdh {

namespace F = torch::nn::functional;

torch::Device exec_device(const shim_exec *exec) {
  std::string s = exec && exec->device && *exec->device ? exec->device : "cpu";
  if (s == "auto") s = torch::cuda::is_available() ? "cuda:0" : "cpu";
  torch::Device dev(torch::kCPU);
  try {
    dev = torch::Device(s);
  } catch (const std::exception &ex) {
    throw invalid_input("unknown device '" + s + "' (expected auto, cpu, cuda or cuda:N): " + first_line(ex.what()));
  }
  if (dev.is_cuda() && !torch::cuda::is_available())
    throw invalid_input("device '" + s + "' requested but this libtorch sees no CUDA device");
  if (!dev.is_cpu() && !dev.is_cuda()) throw invalid_input("unsupported device '" + s + "'");
  return dev;
}

torch::ScalarType exec_dtype(const shim_exec *exec) {
  if (!exec) return torch::kFloat32;
  switch (exec->dtype) {
    case SHIM_F32: return torch::kFloat32;
    case SHIM_F16:
      // libtorch's CPU kernels lack half-precision LayerNorm/GroupNorm (1.13): say so up front
      // instead of failing deep inside the first forward pass.
      if (!exec_device(exec).is_cuda())
        throw invalid_input("F16 models need a CUDA device: libtorch's CPU kernels have no half-precision "
                            "LayerNorm; use F32 or BF16 on the CPU");
      return torch::kFloat16;
    case SHIM_BF16: return torch::kBFloat16;
    default: break;
  }
  throw invalid_input(std::string("unsupported model dtype ") + dtype_name(exec->dtype) + " (expected F32, F16 or BF16)");
}

activation parse_activation(const std::string &name, const std::string &what) {
  if (name == "silu" || name == "swish") return activation::silu;
  if (name == "gelu") return activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return activation::gelu_tanh;
  if (name == "quick_gelu") return activation::quick_gelu;
  if (name == "relu") return activation::relu;
  if (name == "mish") return activation::mish;
  throw invalid_input(what + ": unsupported activation '" + name +
                      "' (expected silu, swish, gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, relu or mish)");
}

torch::Tensor apply_activation(activation act, const torch::Tensor &x) {
  switch (act) {
    case activation::silu: return torch::silu(x);
    case activation::gelu: return torch::gelu(x);
    case activation::gelu_tanh: return torch::gelu(x, "tanh");
    case activation::quick_gelu: return x * torch::sigmoid(1.702 * x);
    case activation::relu: return torch::relu(x);
    case activation::mish: return torch::mish(x);
  }
  return x;
}

linear linear::take(weight_set &ws, const std::string &prefix, int64_t in, int64_t out, bool with_bias) {
  linear l;
  l.weight = ws.take(prefix + ".weight", {out, in});
  if (with_bias) l.bias = ws.take(prefix + ".bias", {out});
  return l;
}

torch::Tensor linear::forward(const torch::Tensor &x) const { return torch::linear(x, weight, bias); }

conv2d conv2d::take(weight_set &ws, const std::string &prefix, int64_t in, int64_t out, int64_t kernel,
                    int64_t stride, int64_t padding, bool with_bias) {
  conv2d c;
  c.weight = ws.take(prefix + ".weight", {out, in, kernel, kernel});
  // cuDNN's fast fp16 convolutions want NHWC; activations follow the weights' layout.
  if (c.weight.is_cuda()) c.weight = c.weight.contiguous(at::MemoryFormat::ChannelsLast);
  if (with_bias) c.bias = ws.take(prefix + ".bias", {out});
  c.stride = stride;
  c.padding = padding;
  return c;
}

torch::Tensor conv2d::forward(const torch::Tensor &x) const {
  return torch::conv2d(x, weight, bias, {stride, stride}, {padding, padding});
}

group_norm group_norm::take(weight_set &ws, const std::string &prefix, int64_t channels, int64_t groups,
                            double eps) {
  if (groups <= 0 || channels % groups != 0)
    throw invalid_input(ws.what() + ": " + prefix + ": " + std::to_string(channels) +
                        " channels cannot be split into " + std::to_string(groups) + " groups");
  group_norm g;
  g.weight = ws.take(prefix + ".weight", {channels});
  g.bias = ws.take(prefix + ".bias", {channels});
  g.groups = groups;
  g.eps = eps;
  return g;
}

torch::Tensor group_norm::forward(const torch::Tensor &x) const {
  return torch::group_norm(x, groups, weight, bias, eps);
}

layer_norm layer_norm::take(weight_set &ws, const std::string &prefix, int64_t dim, double eps) {
  layer_norm l;
  l.weight = ws.take(prefix + ".weight", {dim});
  l.bias = ws.take(prefix + ".bias", {dim});
  l.dim = dim;
  l.eps = eps;
  return l;
}

torch::Tensor layer_norm::forward(const torch::Tensor &x) const {
  return torch::layer_norm(x, {dim}, weight, bias, eps);
}

resnet_block2d resnet_block2d::take(weight_set &ws, const std::string &prefix, const resnet_block2d_opts &opts) {
  resnet_block2d r;
  r.o = opts;
  if (r.o.out_channels <= 0) r.o.out_channels = r.o.in_channels;
  if (r.o.groups_out <= 0) r.o.groups_out = r.o.groups;
  const int64_t in = r.o.in_channels, out = r.o.out_channels;
  r.norm1 = group_norm::take(ws, prefix + ".norm1", in, r.o.groups, r.o.eps);
  r.conv1 = conv2d::take(ws, prefix + ".conv1", in, out, 3, 1, 1);
  if (r.o.temb_channels > 0)
    r.time_emb_proj = linear::take(ws, prefix + ".time_emb_proj", r.o.temb_channels, r.o.scale_shift ? 2 * out : out);
  r.norm2 = group_norm::take(ws, prefix + ".norm2", out, r.o.groups_out, r.o.eps);
  r.conv2 = conv2d::take(ws, prefix + ".conv2", out, out, 3, 1, 1);
  if (in != out) r.conv_shortcut = conv2d::take(ws, prefix + ".conv_shortcut", in, out, 1, 1, 0);
  return r;
}

torch::Tensor resnet_block2d::forward(const torch::Tensor &x, const torch::Tensor &temb) const {
  torch::Tensor h = conv1.forward(apply_activation(o.act, norm1.forward(x)));
  torch::Tensor t;
  if (time_emb_proj.weight.defined() && temb.defined()) {
    t = time_emb_proj.forward(o.skip_time_act ? temb : apply_activation(o.act, temb));
    t = t.unsqueeze(-1).unsqueeze(-1);
    if (!o.scale_shift) h = h + t;
  }
  h = norm2.forward(h);
  if (t.defined() && o.scale_shift) {
    auto ss = t.chunk(2, 1);
    h = h * (1 + ss[0]) + ss[1];
  }
  h = conv2.forward(apply_activation(o.act, h));
  torch::Tensor skip = conv_shortcut.weight.defined() ? conv_shortcut.forward(x) : x;
  torch::Tensor y = skip + h;
  return o.output_scale_factor == 1.0 ? y : y / o.output_scale_factor;
}

torch::Tensor attention_core(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v, int64_t heads,
                             double scale, const torch::Tensor &mask) {
  const int64_t b = q.size(0), lq = q.size(1), lk = k.size(1), c = q.size(2);
  const int64_t d = c / heads;
  auto split = [&](const torch::Tensor &t, int64_t l) { return t.reshape({b, l, heads, d}).transpose(1, 2); };
  torch::Tensor qh = split(q, lq), kh = split(k, lk), vh = split(v, lk);
#if TORCH_VERSION_MAJOR >= 2
  // libtorch 2.x: the fused kernels (flash / memory-efficient) on CUDA save the [Lq, Lk] score
  // matrix's memory and time. Their built-in scale is 1/sqrt(d), the one every caller here uses;
  // the CPU keeps the explicit path below, which the golden tests pin down.
  if (q.is_cuda() && std::abs(scale * std::sqrt(static_cast<double>(d)) - 1.0) < 1e-9) {
    c10::optional<at::Tensor> m;
    if (mask.defined()) m = mask.to(qh.scalar_type());
    return at::scaled_dot_product_attention(qh, kh, vh, m, 0.0, false).transpose(1, 2).reshape({b, lq, c});
  }
#endif
  const auto dtype = q.scalar_type();
  const bool upcast = dtype == torch::kFloat16 || dtype == torch::kBFloat16;
  if (upcast) {
    qh = qh.to(torch::kFloat32);
    kh = kh.to(torch::kFloat32);
  }
  torch::Tensor scores = torch::matmul(qh, kh.transpose(-1, -2)) * scale;
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type());
  torch::Tensor probs = torch::softmax(scores, -1).to(vh.scalar_type());
  return torch::matmul(probs, vh).transpose(1, 2).reshape({b, lq, c});
}

attention attention::take(weight_set &ws, const std::string &prefix, const attention_opts &opts) {
  attention a;
  a.o = opts;
  if (a.o.context_dim <= 0) a.o.context_dim = a.o.query_dim;
  const int64_t inner = a.o.heads * a.o.dim_head;
  std::string q = ".to_q", k = ".to_k", v = ".to_v", out = ".to_out.0";
  if (a.o.accept_legacy_names && !ws.has(prefix + ".to_q.weight") && ws.has(prefix + ".query.weight")) {
    q = ".query";
    k = ".key";
    v = ".value";
    out = ".proj_attn";
  }
  a.to_q = linear::take(ws, prefix + q, a.o.query_dim, inner, a.o.qkv_bias);
  a.to_k = linear::take(ws, prefix + k, a.o.context_dim, inner, a.o.qkv_bias);
  a.to_v = linear::take(ws, prefix + v, a.o.context_dim, inner, a.o.qkv_bias);
  a.to_out = linear::take(ws, prefix + out, inner, a.o.query_dim, a.o.out_bias);
  return a;
}

torch::Tensor attention::forward(const torch::Tensor &x, const torch::Tensor &context, const torch::Tensor &mask) const {
  const torch::Tensor &ctx = context.defined() ? context : x;
  torch::Tensor q = to_q.forward(x), k = to_k.forward(ctx), v = to_v.forward(ctx);
  torch::Tensor h = attention_core(q, k, v, o.heads, 1.0 / std::sqrt(static_cast<double>(o.dim_head)), mask);
  return to_out.forward(h);
}

}  // namespace mdh

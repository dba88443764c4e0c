// transformers CLIPTextModel (4.33) on libtorch: token + position embeddings, pre-LN encoder
// layers with causal self-attention, final LayerNorm; the C API of mdh_shim.h's CLIP section.
#include "clip_text.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "guard.hpp"
#include "nn_common.hpp"
#include "weights.hpp"

struct shim_clip_text {
  shim_clip_text_config cfg;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  mdh::activation act = mdh::activation::quick_gelu;
  torch::Tensor token_embedding;     // [vocab, hidden]
  torch::Tensor position_embedding;  // [max_pos, hidden]
  struct layer {
    mdh::layer_norm ln1, ln2;
    mdh::linear q, k, v, o, fc1, fc2;
  };
  std::vector<layer> layers;
  mdh::layer_norm final_ln;
};

namespace mdh {

namespace {

const std::string kPrefix = "text_model.";

void check_config(const shim_clip_text_config &c) {
  auto positive = [](const char *key, long long v) {
    if (v <= 0) throw invalid_input("text encoder config: " + std::string(key) + " must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw invalid_input("text encoder config: hidden_size " + std::to_string(c.hidden_size) +
                        " is not divisible by num_attention_heads " + std::to_string(c.num_attention_heads));
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps))
    throw invalid_input("text encoder config: layer_norm_eps must be a positive number");
  if (!memchr(c.hidden_act, 0, sizeof c.hidden_act))
    throw invalid_input("text encoder config: hidden_act is not a terminated string");
}

// The additive causal mask transformers builds: the dtype's lowest value above the diagonal.
torch::Tensor causal_mask(int64_t len, torch::Device dev) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  return torch::full({len, len}, std::numeric_limits<float>::lowest(), opts).triu(1);
}

torch::Tensor encoder_layer(const shim_clip_text &m, const shim_clip_text::layer &l, const torch::Tensor &x,
                            const torch::Tensor &mask) {
  const int64_t heads = m.cfg.num_attention_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(m.cfg.hidden_size / heads));
  torch::Tensor h = l.ln1.forward(x);
  h = l.o.forward(attention_core(l.q.forward(h), l.k.forward(h), l.v.forward(h), heads, scale, mask));
  torch::Tensor y = x + h;
  h = l.fc2.forward(apply_activation(m.act, l.fc1.forward(l.ln2.forward(y))));
  return y + h;
}

// hidden_states[0..stop_after]: the embeddings, then the output of each of the first
// `stop_after` layers (clip-skip needs no later layer).
std::vector<torch::Tensor> run_layers(const shim_clip_text &m, const torch::Tensor &embeds, int stop_after) {
  const int64_t len = embeds.size(1);
  torch::Tensor mask = causal_mask(len, embeds.device());
  std::vector<torch::Tensor> hs{embeds};
  torch::Tensor h = embeds;
  for (int i = 0; i < stop_after; i++) {
    h = encoder_layer(m, m.layers[i], h, mask);
    hs.push_back(h);
  }
  return hs;
}

void check_embeds(const shim_clip_text &m, const torch::Tensor &e) {
  if (e.dim() != 3 || e.size(2) != m.cfg.hidden_size)
    throw invalid_input("text encoder: inputs_embeds must be [batch, seq_len, " + std::to_string(m.cfg.hidden_size) +
                        "], got " + shape_str(e.sizes()));
  if (e.size(1) < 1 || e.size(1) > m.cfg.max_position_embeddings)
    throw invalid_input("text encoder: sequence length " + std::to_string(e.size(1)) + " outside [1, " +
                        std::to_string(m.cfg.max_position_embeddings) + "] (max_position_embeddings)");
}

torch::Tensor embed(const shim_clip_text &m, const torch::Tensor &ids) {
  if (ids.dim() != 2) throw invalid_input("text encoder: input ids must be [batch, seq_len], got " + shape_str(ids.sizes()));
  const int64_t len = ids.size(1);
  if (len < 1 || len > m.cfg.max_position_embeddings)
    throw invalid_input("text encoder: sequence length " + std::to_string(len) + " outside [1, " +
                        std::to_string(m.cfg.max_position_embeddings) + "] (max_position_embeddings)");
  torch::Tensor idx = ids.to(m.device, torch::kInt64);
  if (idx.numel() > 0) {
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    const int64_t vocab = m.token_embedding.size(0);
    if (lo < 0 || hi >= vocab)
      throw invalid_input("text encoder: token id " + std::to_string(lo < 0 ? lo : hi) + " outside the vocabulary [0, " +
                          std::to_string(vocab) + ")");
  }
  return torch::embedding(m.token_embedding, idx);
}

torch::Tensor add_positions(const shim_clip_text &m, const torch::Tensor &inputs_embeds) {
  return inputs_embeds + m.position_embedding.slice(0, 0, inputs_embeds.size(1)).unsqueeze(0);
}

int check_skip(const shim_clip_text &m, int clip_skip) {
  if (clip_skip < 0 || clip_skip > m.cfg.num_hidden_layers)
    throw invalid_input("text encoder: clip_skip " + std::to_string(clip_skip) + " outside [0, " +
                        std::to_string(m.cfg.num_hidden_layers) + "] (num_hidden_layers)");
  return clip_skip <= 1 ? 1 : clip_skip;
}

torch::Tensor ids_from_c(const int64_t *ids, int batch, int seq_len) {
  if (!ids) throw invalid_input("text encoder: ids is NULL");
  if (batch < 1 || seq_len < 1)
    throw invalid_input("text encoder: batch and seq_len must be positive, got " + std::to_string(batch) + " and " +
                        std::to_string(seq_len));
  return torch::from_blob(const_cast<int64_t *>(ids), {batch, seq_len}, torch::kInt64).clone();
}

void copy_out(const torch::Tensor &t, float *out) {
  if (!out) throw invalid_input("text encoder: output buffer is NULL");
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
}

void check_rows(const shim_clip_text *m, int64_t first, int64_t count) {
  const int64_t vocab = m->token_embedding.size(0);
  if (first < 0 || count < 0 || first > vocab || count > vocab - first)
    throw invalid_input("text encoder: token rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                        ") outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

shim_clip_text *need(shim_clip_text *m) {
  if (!m) throw invalid_input("text encoder: model handle is NULL");
  return m;
}

}  // namespace

torch::Tensor clip_text_forward_embeds(shim_clip_text *m, const torch::Tensor &inputs_embeds, int clip_skip) {
  need(m);
  check_embeds(*m, inputs_embeds);
  const int skip = check_skip(*m, clip_skip);
  const int n = m->cfg.num_hidden_layers;
  auto hs = run_layers(*m, add_positions(*m, inputs_embeds.to(m->device, m->dtype)), n - skip + 1);
  return m->final_ln.forward(hs.back());
}

torch::Tensor clip_text_forward(shim_clip_text *m, const torch::Tensor &ids, int clip_skip) {
  need(m);
  return clip_text_forward_embeds(m, embed(*m, ids), clip_skip);
}

clip_text_outputs clip_text_forward_all(shim_clip_text *m, const torch::Tensor &ids) {
  need(m);
  clip_text_outputs o;
  o.hidden_states = run_layers(*m, add_positions(*m, embed(*m, ids)), m->cfg.num_hidden_layers);
  o.last_hidden_state = m->final_ln.forward(o.hidden_states.back());
  return o;
}

torch::Tensor &clip_text_token_embedding(shim_clip_text *m) { return need(m)->token_embedding; }
torch::Tensor clip_text_final_layer_norm(shim_clip_text *m, const torch::Tensor &x) {
  return need(m)->final_ln.forward(x);
}
const shim_clip_text_config &clip_text_config(const shim_clip_text *m) { return m->cfg; }
torch::Device clip_text_device(const shim_clip_text *m) { return m->device; }

}  // namespace mdh

using mdh::guarded;
using mdh::invalid_input;

namespace {

int put_rows(shim_clip_text *m, int64_t first, int64_t count, const float *rows, bool add, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(m);
    mdh::check_rows(m, first, count);
    if (!count) return SHIM_OK;
    if (!rows) throw invalid_input("text encoder: rows is NULL");
    torch::Tensor src = torch::from_blob(const_cast<float *>(rows), {count, m->cfg.hidden_size}, torch::kFloat32)
                            .to(m->device, m->token_embedding.scalar_type());
    torch::Tensor dst = m->token_embedding.slice(0, first, first + count);
    if (add)
      dst.add_(src);
    else
      dst.copy_(src);
    return SHIM_OK;
  });
}

}  // namespace

extern "C" {

int shim_clip_text_new(const shim_clip_text_config *cfg, const shim_tensor_view *weights, size_t n,
                       const shim_exec *exec, shim_clip_text **out, shim_err *err) {
  return guarded(err, [&]() -> int {
    if (!cfg || !out) throw invalid_input("text encoder: config or output handle is NULL");
    if (n && !weights) throw invalid_input("text encoder: weights is NULL");
    *out = nullptr;
    mdh::check_config(*cfg);
    auto m = std::make_unique<shim_clip_text>();
    m->cfg = *cfg;
    m->act = mdh::parse_activation(cfg->hidden_act, "text encoder config: hidden_act");
    m->device = mdh::exec_device(exec);
    m->dtype = mdh::exec_dtype(exec);
    // transformers treats position_ids as a non-persistent buffer and ignores it when loading.
    std::vector<shim_tensor_view> views;
    views.reserve(n);
    for (size_t i = 0; i < n; i++)
      if (!(weights[i].name && std::strcmp(weights[i].name, "text_model.embeddings.position_ids") == 0))
        views.push_back(weights[i]);
    mdh::weight_set ws(views.data(), views.size(), "text encoder", m->device, m->dtype);
    const int64_t d = cfg->hidden_size, ff = cfg->intermediate_size;
    const double eps = cfg->layer_norm_eps;
    const std::string &p = mdh::kPrefix;
    m->token_embedding = ws.take(p + "embeddings.token_embedding.weight", {cfg->vocab_size, d});
    m->position_embedding = ws.take(p + "embeddings.position_embedding.weight", {cfg->max_position_embeddings, d});
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
      const std::string lp = p + "encoder.layers." + std::to_string(i) + ".";
      shim_clip_text::layer l;
      l.ln1 = mdh::layer_norm::take(ws, lp + "layer_norm1", d, eps);
      l.q = mdh::linear::take(ws, lp + "self_attn.q_proj", d, d);
      l.k = mdh::linear::take(ws, lp + "self_attn.k_proj", d, d);
      l.v = mdh::linear::take(ws, lp + "self_attn.v_proj", d, d);
      l.o = mdh::linear::take(ws, lp + "self_attn.out_proj", d, d);
      l.ln2 = mdh::layer_norm::take(ws, lp + "layer_norm2", d, eps);
      l.fc1 = mdh::linear::take(ws, lp + "mlp.fc1", d, ff);
      l.fc2 = mdh::linear::take(ws, lp + "mlp.fc2", ff, d);
      m->layers.push_back(std::move(l));
    }
    m->final_ln = mdh::layer_norm::take(ws, p + "final_layer_norm", d, eps);
    ws.check_all_taken();
    *out = m.release();
    return SHIM_OK;
  });
}

void shim_clip_text_free(shim_clip_text *m) { delete m; }

int shim_clip_text_encode(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, int clip_skip, float *out,
                          shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::copy_out(mdh::clip_text_forward(mdh::need(m), mdh::ids_from_c(ids, batch, seq_len), clip_skip), out);
    return SHIM_OK;
  });
}

int shim_clip_text_hidden_state(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, int layer,
                                int final_ln, float *out, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(m);
    if (layer < 0 || layer > m->cfg.num_hidden_layers)
      throw invalid_input("text encoder: hidden-state layer " + std::to_string(layer) + " outside [0, " +
                          std::to_string(m->cfg.num_hidden_layers) + "]");
    torch::Tensor e = mdh::add_positions(*m, mdh::embed(*m, mdh::ids_from_c(ids, batch, seq_len)));
    torch::Tensor h = mdh::run_layers(*m, e, layer).back();
    mdh::copy_out(final_ln ? m->final_ln.forward(h) : h, out);
    return SHIM_OK;
  });
}

int shim_clip_text_pooled(shim_clip_text *m, const int64_t *ids, int batch, int seq_len, float *out, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(m);
    torch::Tensor idx = mdh::ids_from_c(ids, batch, seq_len);
    torch::Tensor last = mdh::clip_text_forward(m, idx, 0);
    // transformers 4.33: the legacy eos_token_id == 2 takes argmax(ids) (first maximum); any other
    // value takes the first position equal to eos_token_id (position 0 when absent).
    torch::Tensor pos = m->cfg.eos_token_id == 2 ? idx.argmax(-1)
                                                 : idx.eq(m->cfg.eos_token_id).to(torch::kInt32).argmax(-1);
    torch::Tensor rows = torch::arange(batch, torch::kInt64);
    mdh::copy_out(last.index({rows.to(m->device), pos.to(m->device)}), out);
    return SHIM_OK;
  });
}

int64_t shim_clip_text_vocab_size(const shim_clip_text *m) { return m ? m->token_embedding.size(0) : 0; }
int shim_clip_text_hidden_size(const shim_clip_text *m) { return m ? m->cfg.hidden_size : 0; }

int shim_clip_text_resize_vocab(shim_clip_text *m, int64_t new_vocab, shim_err *err) {
  return guarded(err, [&]() -> int {
    torch::NoGradGuard no_grad;
    mdh::need(m);
    if (new_vocab < 1 || new_vocab > (int64_t{1} << 31))
      throw invalid_input("text encoder: new vocabulary size " + std::to_string(new_vocab) + " outside [1, 2^31]");
    const int64_t old = m->token_embedding.size(0), keep = std::min(old, new_vocab);
    torch::Tensor t = torch::zeros({new_vocab, m->cfg.hidden_size}, m->token_embedding.options().requires_grad(false));
    t.slice(0, 0, keep).copy_(m->token_embedding.slice(0, 0, keep));
    m->token_embedding = t;
    return SHIM_OK;
  });
}

int shim_clip_text_get_token_rows(shim_clip_text *m, int64_t first, int64_t count, float *rows, shim_err *err) {
  return guarded(err, [&]() -> int {
    mdh::need(m);
    mdh::check_rows(m, first, count);
    if (count) mdh::copy_out(m->token_embedding.slice(0, first, first + count), rows);
    return SHIM_OK;
  });
}

int shim_clip_text_set_token_rows(shim_clip_text *m, int64_t first, int64_t count, const float *rows, shim_err *err) {
  return put_rows(m, first, count, rows, false, err);
}

int shim_clip_text_add_token_rows(shim_clip_text *m, int64_t first, int64_t count, const float *rows, shim_err *err) {
  return put_rows(m, first, count, rows, true, err);
}

}  // extern "C"

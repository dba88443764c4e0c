// Reference default initialisation of freshly built models (see pretrain_init.hpp).
#include "pretrain_init.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>

#include "guard.hpp"

namespace mdh {

namespace {

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string prefix_of(const std::string &name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(0, dot);
}

// Draws on the CPU in float32 (one generator for the whole model, device independent) and
// copies into the model's tensor.
void fill(torch::Tensor &t, at::Generator &gen, bool uniform, double a, double b) {
  torch::NoGradGuard no_grad;
  torch::Tensor host = torch::empty(t.sizes(), torch::kFloat32);
  if (uniform)
    host.uniform_(a, b, gen);
  else
    host.normal_(a, b, gen);
  t.copy_(host);
}

int64_t fan_in(const torch::Tensor &w) { return w.dim() >= 2 ? w.numel() / w.size(0) : 1; }

}  // namespace

void init_torch_default(named_tensors &ts, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, torch::Tensor> weights;
  for (auto &kv : ts)
    if (ends_with(kv.first, ".weight")) weights[prefix_of(kv.first)] = kv.second;
  torch::NoGradGuard no_grad;
  for (auto &kv : ts) {
    torch::Tensor &t = kv.second;
    const std::string owner = prefix_of(kv.first);
    auto w = weights.find(owner);
    const bool affine = w != weights.end() && w->second.dim() >= 2;  // conv or linear
    if (ends_with(kv.first, ".weight") && t.dim() >= 2) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(t)));
      fill(t, gen, true, -bound, bound);
    } else if (ends_with(kv.first, ".bias") && affine) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w->second)));
      fill(t, gen, true, -bound, bound);
    } else if (ends_with(kv.first, ".weight")) {
      t.fill_(1.0);  // GroupNorm / LayerNorm
    } else if (ends_with(kv.first, ".bias")) {
      t.zero_();
    } else {
      throw invalid_input("initialisation: do not know how to initialise '" + kv.first + "'");
    }
  }
}

void init_clip_text(named_tensors &ts, const shim_clip_text_config &cfg, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double f = cfg.initializer_factor > 0 ? cfg.initializer_factor : 1.0;
  const double r = cfg.initializer_range > 0 ? cfg.initializer_range : 0.02;
  const double d = cfg.hidden_size, L = cfg.num_hidden_layers;
  const double in_proj_std = std::pow(d, -0.5) * std::pow(2.0 * L, -0.5) * f;
  const double out_proj_std = std::pow(d, -0.5) * f;
  const double fc_std = std::pow(2.0 * d, -0.5) * f;
  torch::NoGradGuard no_grad;
  for (auto &kv : ts) {
    const std::string &n = kv.first;
    torch::Tensor &t = kv.second;
    if (ends_with(n, "embedding.weight"))
      fill(t, gen, false, 0.0, r * f);
    else if (ends_with(n, "q_proj.weight") || ends_with(n, "k_proj.weight") || ends_with(n, "v_proj.weight"))
      fill(t, gen, false, 0.0, in_proj_std);
    else if (ends_with(n, "out_proj.weight"))
      fill(t, gen, false, 0.0, out_proj_std);
    else if (ends_with(n, "fc1.weight"))
      fill(t, gen, false, 0.0, fc_std);
    else if (ends_with(n, "fc2.weight"))
      fill(t, gen, false, 0.0, in_proj_std);
    else if (ends_with(n, ".bias"))
      t.zero_();
    else if (ends_with(n, ".weight") && t.dim() == 1)
      t.fill_(1.0);
    else
      throw invalid_input("initialisation: do not know how to initialise text encoder tensor '" + n + "'");
  }
}

}  // namespace mdh

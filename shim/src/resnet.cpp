// The classifier's C API: a torchvision ResNet-18 built from a state dict (or seeded random init),
// eval / train-mode forward, an optimizer and cross-entropy train step, and the state dict for
// checkpoints (shim_resnet_*).
#include "resnet.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "guard.hpp"
#include "mdh_shim.h"
#include "nn_common.hpp"
#include "weights.hpp"

namespace {

const char *const kWhat = "ResNet-18";
const char *const kCountSuffix = ".num_batches_tracked";

struct state_entry {
  std::string name;
  torch::Tensor t;  // the module's own parameter or buffer
  bool is_count;    // num_batches_tracked (int64, 0-dim)
};

bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

struct shim_resnet {
  shim_resnet_config cfg{};
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
  mdh::resnet18 net{nullptr};
  std::vector<state_entry> state;  // torchvision's state_dict order
  std::unique_ptr<torch::optim::Optimizer> opt;
};

namespace {

using mdh::invalid_input;

// Parameters then buffers of each module, modules in pre-order: PyTorch's state_dict order.
std::vector<state_entry> collect_state(mdh::resnet18 &net) {
  std::vector<state_entry> out;
  for (auto &item : net->named_modules()) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (auto &p : item.value()->named_parameters(false))
      if (p.value().defined()) out.push_back({prefix + p.key(), p.value(), false});
    for (auto &b : item.value()->named_buffers(false))
      if (b.value().defined()) out.push_back({prefix + b.key(), b.value(), b.key() == "num_batches_tracked"});
  }
  return out;
}

// A num_batches_tracked value: one integer element, not negative.
torch::Tensor count_from_view(const shim_tensor_view &v) {
  const std::string name = v.name;
  if (v.dtype != SHIM_I64 && v.dtype != SHIM_I32)
    throw invalid_input(std::string(kWhat) + ": '" + name + "' has dtype " + mdh::dtype_name(v.dtype) +
                        ", expected I64");
  torch::Tensor t = mdh::tensor_from_view(v);
  if (t.numel() != 1)
    throw invalid_input(std::string(kWhat) + ": '" + name + "' has shape " + mdh::shape_str(t.sizes()) +
                        ", expected [] (one count)");
  t = t.to(torch::kInt64).reshape({});
  if (t.item<int64_t>() < 0) throw invalid_input(std::string(kWhat) + ": '" + name + "' is negative");
  return t;
}

// Copies a state dict into m. With foreign_fc_ok (loading a checkpoint to fine-tune), an fc whose
// weight is not [num_classes, 512] is left at its fresh initialisation; otherwise every tensor
// must be there with its shape. Nothing is changed unless the whole dict is valid.
void load_state(shim_resnet &m, const shim_tensor_view *views, size_t n, bool foreign_fc_ok) {
  if (n && !views) throw invalid_input(std::string(kWhat) + ": " + std::to_string(n) + " weights but no array");
  const std::vector<int64_t> fc_shape = {m.cfg.num_classes, 512};
  bool skip_fc = false;
  for (size_t i = 0; foreign_fc_ok && i < n; i++) {
    if (views[i].name && std::strcmp(views[i].name, "fc.weight") == 0) {
      const int nd = views[i].ndim >= 0 && views[i].ndim <= SHIM_MAX_DIMS ? views[i].ndim : 0;
      skip_fc = std::vector<int64_t>(views[i].shape, views[i].shape + nd) != fc_shape || nd != views[i].ndim;
    }
  }
  std::vector<shim_tensor_view> floats;
  std::map<std::string, const shim_tensor_view *> counts;
  for (size_t i = 0; i < n; i++) {
    if (!views[i].name) throw invalid_input(std::string(kWhat) + ": weight " + std::to_string(i) + " has no name");
    const std::string name = views[i].name;
    if (ends_with(name, kCountSuffix)) {
      if (!counts.emplace(name, &views[i]).second)
        throw invalid_input(std::string(kWhat) + ": '" + name + "' is given twice");
    } else if (!(skip_fc && (name == "fc.weight" || name == "fc.bias"))) {
      floats.push_back(views[i]);
    }
  }
  mdh::weight_set ws(floats.data(), floats.size(), kWhat, m.device, m.dtype);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> staged;
  for (const state_entry &e : m.state) {
    if (e.is_count) {
      auto it = counts.find(e.name);
      if (it == counts.end()) continue;  // optional: older checkpoints lack it
      staged.emplace_back(e.t, count_from_view(*it->second).to(m.device));
      counts.erase(it);
    } else if (!(skip_fc && (e.name == "fc.weight" || e.name == "fc.bias"))) {
      staged.emplace_back(e.t, ws.take(e.name, e.t.sizes().vec()));
    }
  }
  if (!counts.empty())
    throw invalid_input(std::string(kWhat) + ": unexpected tensor '" + counts.begin()->first +
                        "' (no BatchNorm of that name)");
  ws.check_all_taken();
  torch::NoGradGuard no_grad;
  for (auto &s : staged) s.first.copy_(s.second);
}

void check_handle(const shim_resnet *m) {
  if (!m) throw invalid_input(std::string(kWhat) + ": no model handle");
}

// images [B, 3, H, W] float32 host -> a fresh tensor on the model's device and dtype.
torch::Tensor input_tensor(const shim_resnet &m, const float *images, int B, int H, int W) {
  if (!images) throw invalid_input(std::string(kWhat) + ": images buffer is required");
  if (B < 1 || H < 1 || W < 1)
    throw invalid_input(std::string(kWhat) + ": images must be [B >= 1, 3, H >= 1, W >= 1], got [" + std::to_string(B) +
                        ", 3, " + std::to_string(H) + ", " + std::to_string(W) + "]");
  if (static_cast<double>(B) * 3.0 * H * W > 1e10)
    throw invalid_input(std::string(kWhat) + ": batch of " + std::to_string(B) + " images of " + std::to_string(H) +
                        "x" + std::to_string(W) + " is too large");
  auto host = torch::from_blob(const_cast<float *>(images), {B, 3, H, W}, torch::kFloat32);
  return host.to(m.device, m.dtype, /*non_blocking=*/false, /*copy=*/true);
}

double require_finite(double v, const char *field) {
  if (!std::isfinite(v)) throw invalid_input(std::string(kWhat) + " optimizer: " + field + " must be finite");
  return v;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const shim_resnet_opt_config &c,
                                                        std::vector<torch::Tensor> params) {
  const std::string name(c.optimizer, strnlen(c.optimizer, sizeof c.optimizer));
  const double lr = require_finite(c.lr, "lr"), wd = require_finite(c.weight_decay, "weight_decay");
  const double b1 = require_finite(c.beta1, "beta1"), b2 = require_finite(c.beta2, "beta2");
  const double eps = require_finite(c.eps, "eps"), mom = require_finite(c.momentum, "momentum");
  const std::string what = std::string(kWhat) + " optimizer '" + name + "': ";
  if (lr < 0) throw invalid_input(what + "lr must be >= 0");
  if (wd < 0) throw invalid_input(what + "weight_decay must be >= 0");
  if (name == "adam" || name == "adamw") {
    if (!(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1))
      throw invalid_input(what + "beta1 and beta2 must be in [0, 1), got " + std::to_string(b1) + ", " +
                          std::to_string(b2));
    // eps 0 divides 0 by 0 for a parameter whose gradient is still zero.
    if (!(eps > 0)) throw invalid_input(what + "eps must be > 0");
    if (name == "adam") {
      torch::optim::AdamOptions o(lr);
      o.betas(std::make_tuple(b1, b2)).eps(eps).weight_decay(wd);
      return std::make_unique<torch::optim::Adam>(std::move(params), o);
    }
    torch::optim::AdamWOptions o(lr);
    o.betas(std::make_tuple(b1, b2)).eps(eps).weight_decay(wd);
    return std::make_unique<torch::optim::AdamW>(std::move(params), o);
  }
  if (name == "sgd") {
    if (mom < 0) throw invalid_input(what + "momentum must be >= 0");
    torch::optim::SGDOptions o(lr);
    o.momentum(mom).weight_decay(wd);
    return std::make_unique<torch::optim::SGD>(std::move(params), o);
  }
  throw invalid_input(std::string(kWhat) + ": unknown optimizer '" + name + "' (expected adam, adamw or sgd)");
}

}  // namespace

extern "C" {

int shim_resnet_new(const shim_resnet_config *cfg, const shim_tensor_view *weights, size_t n, const shim_exec *exec,
                    shim_resnet **out, shim_err *err) {
  if (out) *out = nullptr;
  return mdh::guarded(err, [&]() -> int {
    if (!cfg || !out) throw invalid_input(std::string(kWhat) + ": config and output handle are required");
    if (cfg->num_classes < 1 || cfg->num_classes > 100000)
      throw invalid_input(std::string(kWhat) + ": num_classes must be in [1, 100000], got " +
                          std::to_string(cfg->num_classes));
    auto m = std::make_unique<shim_resnet>();
    m->cfg = *cfg;
    m->device = mdh::exec_device(exec);
    m->dtype = mdh::exec_dtype(exec);
    m->net = mdh::resnet18(cfg->num_classes);
    mdh::resnet18_init(m->net, cfg->seed);
    m->net->to(m->device);
    if (m->dtype != torch::kFloat32) {
      // Module::to(dtype) would also turn num_batches_tracked into a float: convert by hand.
      torch::NoGradGuard no_grad;
      for (auto &p : m->net->parameters()) p.set_data(p.to(m->dtype));
      for (auto &b : m->net->buffers())
        if (b.is_floating_point()) b.set_data(b.to(m->dtype));
    }
    m->state = collect_state(m->net);
    if (n) load_state(*m, weights, n, /*foreign_fc_ok=*/true);
    m->net->eval();
    *out = m.release();
    return SHIM_OK;
  });
}

void shim_resnet_free(shim_resnet *m) {
  delete m;
}

int shim_resnet_forward(shim_resnet *m, const float *images, int B, int H, int W, int train, float *logits,
                        shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    check_handle(m);
    if (!logits) throw invalid_input(std::string(kWhat) + ": logits buffer is required");
    torch::NoGradGuard no_grad;
    auto x = input_tensor(*m, images, B, H, W);
    m->net->train(train != 0);
    auto y = m->net->forward(x).to(torch::kCPU, torch::kFloat32).contiguous();
    std::memcpy(logits, y.data_ptr<float>(), sizeof(float) * static_cast<size_t>(y.numel()));
    return SHIM_OK;
  });
}

int shim_resnet_set_optimizer(shim_resnet *m, const shim_resnet_opt_config *cfg, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    check_handle(m);
    if (!cfg) throw invalid_input(std::string(kWhat) + ": optimizer config is required");
    m->opt = make_optimizer(*cfg, m->net->parameters());
    return SHIM_OK;
  });
}

int shim_resnet_train_step(shim_resnet *m, const float *images, const int64_t *labels, int B, int H, int W, double lr,
                           double *loss, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    check_handle(m);
    if (!m->opt) throw invalid_input(std::string(kWhat) + ": no optimizer (call shim_resnet_set_optimizer first)");
    if (!labels) throw invalid_input(std::string(kWhat) + ": labels buffer is required");
    if (!std::isfinite(lr) || lr < 0) throw invalid_input(std::string(kWhat) + ": lr must be finite and >= 0");
    auto x = input_tensor(*m, images, B, H, W);
    for (int i = 0; i < B; i++)
      if (labels[i] < 0 || labels[i] >= m->cfg.num_classes)
        throw invalid_input(std::string(kWhat) + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                            ", expected 0.." + std::to_string(m->cfg.num_classes - 1));
    auto y = torch::from_blob(const_cast<int64_t *>(labels), {B}, torch::kInt64)
                 .to(m->device, torch::kInt64, false, /*copy=*/true);
    torch::AutoGradMode grad(true);
    m->net->train(true);
    m->opt->zero_grad();
    auto l = torch::nn::functional::cross_entropy(m->net->forward(x).to(torch::kFloat32), y);
    l.backward();
    for (auto &group : m->opt->param_groups()) group.options().set_lr(lr);
    m->opt->step();
    if (loss) *loss = l.item<double>();
    return SHIM_OK;
  });
}

size_t shim_resnet_state_count(const shim_resnet *m) {
  return m ? m->state.size() : 0;
}

int shim_resnet_state_get(const shim_resnet *m, size_t i, const char **name, shim_dtype *dtype, int *ndim,
                          int64_t shape[SHIM_MAX_DIMS], void *data, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    check_handle(m);
    if (i >= m->state.size())
      throw invalid_input(std::string(kWhat) + ": state entry " + std::to_string(i) + " out of range (" +
                          std::to_string(m->state.size()) + " entries)");
    const state_entry &e = m->state[i];
    if (name) *name = e.name.c_str();
    if (dtype) *dtype = e.is_count ? SHIM_I64 : SHIM_F32;
    if (ndim) *ndim = static_cast<int>(e.t.dim());
    if (shape)
      for (int64_t d = 0; d < e.t.dim(); d++) shape[d] = e.t.size(d);
    if (data) {
      torch::NoGradGuard no_grad;
      auto host = e.t.detach().to(torch::kCPU, e.is_count ? torch::kInt64 : torch::kFloat32).contiguous();
      std::memcpy(data, host.data_ptr(), static_cast<size_t>(host.numel()) * host.element_size());
    }
    return SHIM_OK;
  });
}

int shim_resnet_set_state(shim_resnet *m, const shim_tensor_view *weights, size_t n, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    check_handle(m);
    load_state(*m, weights, n, /*foreign_fc_ok=*/false);
    return SHIM_OK;
  });
}

}  // extern "C"

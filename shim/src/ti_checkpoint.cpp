// Gradient checkpointing as a custom autograd function: the block's closure travels to the
// backward pass in a capsule, where it is re-run with grad enabled and differentiated.
#include "ti_checkpoint.hpp"

#include <utility>
#include <vector>

namespace mdh {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct fn_holder : torch::CustomClassHolder {
  block_fn fn;
};

struct checkpoint_function : torch::autograd::Function<checkpoint_function> {
  // The inputs come as a TensorList: apply() only records tensors (and lists of them) as inputs.
  static variable_list forward(AutogradContext *ctx, at::TensorList inputs, c10::intrusive_ptr<fn_holder> h) {
    variable_list in(inputs.begin(), inputs.end());
    ctx->save_for_backward(in);
    ctx->saved_data["fn"] = c10::IValue::make_capsule(h);
    return h->fn(in);  // Function::apply already runs this with grad mode off
  }

  static variable_list backward(AutogradContext *ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    auto capsule = ctx->saved_data["fn"].toCapsule();
    const auto *h = static_cast<const fn_holder *>(capsule.get());
    variable_list in(saved.size());
    std::vector<size_t> wrt_index;
    variable_list wrt;
    for (size_t i = 0; i < saved.size(); i++) {
      if (!saved[i].defined()) continue;
      in[i] = saved[i].detach();
      if (ctx->needs_input_grad(i)) {
        in[i].requires_grad_(true);
        wrt.push_back(in[i]);
        wrt_index.push_back(i);
      }
    }
    variable_list out;
    {
      torch::AutoGradMode enable(true);
      out = h->fn(in);
    }
    variable_list roots, root_grads;
    for (size_t j = 0; j < out.size() && j < grad_out.size(); j++)
      if (out[j].defined() && out[j].requires_grad() && grad_out[j].defined()) {
        roots.push_back(out[j]);
        root_grads.push_back(grad_out[j]);
      }
    variable_list result(saved.size() + 1);  // + the closure argument, which has no gradient
    if (roots.empty() || wrt.empty()) return result;
    variable_list g = torch::autograd::grad(roots, wrt, root_grads, /*retain_graph=*/false, /*create_graph=*/false,
                                            /*allow_unused=*/true);
    for (size_t k = 0; k < wrt_index.size(); k++) result[wrt_index[k]] = g[k];
    return result;
  }
};

}  // namespace

variable_list checkpoint(block_fn fn, const variable_list &inputs) {
  bool needs_grad = false;
  if (torch::GradMode::is_enabled())
    for (const auto &t : inputs) needs_grad = needs_grad || (t.defined() && t.requires_grad());
  if (!needs_grad) return fn(inputs);
  // The function sees only the defined inputs (autograd cannot describe an undefined one); the
  // closure puts the undefined ones back where fn expects them.
  std::vector<size_t> where;
  variable_list defined;
  for (size_t i = 0; i < inputs.size(); i++)
    if (inputs[i].defined()) {
      where.push_back(i);
      defined.push_back(inputs[i]);
    }
  auto h = c10::make_intrusive<fn_holder>();
  const size_t n = inputs.size();
  h->fn = [fn = std::move(fn), where, n](const variable_list &compact) {
    variable_list full(n);
    for (size_t k = 0; k < where.size(); k++) full[where[k]] = compact[k];
    return fn(full);
  };
  return checkpoint_function::apply(at::TensorList(defined), h);
}

}  // namespace mdh

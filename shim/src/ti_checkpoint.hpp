// Gradient checkpointing for libtorch C++ (which has no torch.utils.checkpoint): a block runs
// without keeping its activations and is run again, with grad, when the backward pass reaches it.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace mdh {

using block_fn = std::function<torch::autograd::variable_list(const torch::autograd::variable_list &)>;

// fn(inputs) with torch.utils.checkpoint's reentrant semantics: the forward keeps only `inputs`;
// backward recomputes fn on detached copies and differentiates that. fn must be deterministic
// and must not capture tensors that need gradients (pass those in `inputs`; undefined entries
// are allowed). Without grad mode, or when no input needs a gradient, it is just fn(inputs).
torch::autograd::variable_list checkpoint(block_fn fn, const torch::autograd::variable_list &inputs);

}  // namespace mdh

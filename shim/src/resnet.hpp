// torchvision.models.resnet18 (0.14) as a torch::nn module tree whose parameter and buffer names
// are torchvision's state-dict keys ("layer2.0.downsample.1.running_var"), so that train mode,
// torch::optim and checkpoints need no name mapping.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace mdh {

// BasicBlock: conv3x3(stride) bn relu conv3x3 bn, plus the identity or a 1x1 conv + bn
// "downsample" when the stride or the channel count changes.
struct basic_block_impl : torch::nn::Module {
  basic_block_impl(int64_t in_channels, int64_t out_channels, int64_t stride);
  torch::Tensor forward(const torch::Tensor &x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // null for the identity shortcut
};
TORCH_MODULE_IMPL(basic_block, basic_block_impl);

struct resnet18_impl : torch::nn::Module {
  explicit resnet18_impl(int64_t num_classes);
  // The 512-d global-average-pooled features fc sees.
  torch::Tensor features(const torch::Tensor &x);
  torch::Tensor forward(const torch::Tensor &x);

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE_IMPL(resnet18, resnet18_impl);

// torchvision's initialisation, drawn from a local CPU generator seeded with `seed` (the global
// generator's draws made while constructing the modules are overwritten; they do advance
// libtorch's global generator, which nothing in the shim relies on): kaiming_normal_
// (fan_out, relu) for convs, BatchNorm weight 1 / bias 0 / running stats 0 and 1, and
// nn.Linear's default kaiming_uniform_(a = sqrt(5)) weight and U(+-1/sqrt(fan_in)) bias.
void resnet18_init(resnet18 &net, uint64_t seed);

}  // namespace mdh

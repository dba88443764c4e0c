// The ResNet-18 module tree (torchvision 0.14 layout and names) and its seeded initialisation.
#include <cmath>
#include <string>

#include "resnet.hpp"

namespace mdh {

namespace {

namespace nn = torch::nn;

nn::Conv2d make_conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

nn::BatchNorm2d make_bn(int64_t c) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(c).eps(1e-5).momentum(0.1));
}

nn::Sequential make_layer(int64_t in, int64_t out, int64_t stride) {
  nn::Sequential s;
  s->push_back(basic_block(in, out, stride));
  s->push_back(basic_block(out, out, 1));
  return s;
}

}  // namespace

basic_block_impl::basic_block_impl(int64_t in_channels, int64_t out_channels, int64_t stride) {
  // Registration order is torchvision's, so that the state dict lists tensors in its order.
  conv1 = register_module("conv1", make_conv(in_channels, out_channels, 3, stride, 1));
  bn1 = register_module("bn1", make_bn(out_channels));
  conv2 = register_module("conv2", make_conv(out_channels, out_channels, 3, 1, 1));
  bn2 = register_module("bn2", make_bn(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    nn::Sequential ds;
    ds->push_back(make_conv(in_channels, out_channels, 1, stride, 0));
    ds->push_back(make_bn(out_channels));
    downsample = register_module("downsample", ds);
  }
}

torch::Tensor basic_block_impl::forward(const torch::Tensor &x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

resnet18_impl::resnet18_impl(int64_t num_classes) {
  conv1 = register_module("conv1", make_conv(3, 64, 7, 2, 3));
  bn1 = register_module("bn1", make_bn(64));
  layer1 = register_module("layer1", make_layer(64, 64, 1));
  layer2 = register_module("layer2", make_layer(64, 128, 2));
  layer3 = register_module("layer3", make_layer(128, 256, 2));
  layer4 = register_module("layer4", make_layer(256, 512, 2));
  fc = register_module("fc", nn::Linear(512, num_classes));
}

torch::Tensor resnet18_impl::features(const torch::Tensor &x) {
  auto h = torch::relu(bn1(conv1(x)));
  h = torch::max_pool2d(h, {3, 3}, {2, 2}, {1, 1});
  h = layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));
  return torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
}

torch::Tensor resnet18_impl::forward(const torch::Tensor &x) {
  return fc(features(x));
}

void resnet18_init(resnet18 &net, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  // Draw on the CPU in float32 whatever the model's device, so that a seed means the same
  // weights everywhere.
  auto fill = [&](torch::Tensor &dst, const torch::Tensor &host) { dst.copy_(host.to(dst.dtype())); };
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  for (auto &item : net->named_modules()) {
    nn::Module *m = item.value().get();
    if (auto *conv = dynamic_cast<nn::Conv2dImpl *>(m)) {
      auto &w = conv->weight;
      const double fan_out = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
      fill(w, torch::empty(w.sizes(), f32).normal_(0.0, std::sqrt(2.0 / fan_out), gen));
    } else if (auto *bn = dynamic_cast<nn::BatchNorm2dImpl *>(m)) {
      bn->weight.fill_(1.0);
      bn->bias.fill_(0.0);
      bn->running_mean.fill_(0.0);
      bn->running_var.fill_(1.0);
      bn->num_batches_tracked.fill_(0);
    } else if (auto *lin = dynamic_cast<nn::LinearImpl *>(m)) {
      // kaiming_uniform_(a = sqrt(5)): gain sqrt(2 / 6), bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
      const double bound = 1.0 / std::sqrt(static_cast<double>(lin->weight.size(1)));
      fill(lin->weight, torch::empty(lin->weight.sizes(), f32).uniform_(-bound, bound, gen));
      fill(lin->bias, torch::empty(lin->bias.sizes(), f32).uniform_(-bound, bound, gen));
    }
  }
}

}  // namespace mdh

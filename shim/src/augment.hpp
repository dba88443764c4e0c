// The classifier's augmentation (albumentations 1.3 semantics, shim_augment): per-image random
// parameters drawn on the CPU, and the geometric resampling the shift-scale-rotate and
// optical-distortion operations share.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mdh_shim.h"

namespace mdh {

// One image's parameters; an operation whose flag is false leaves the image alone.
struct augment_params {
  bool hflip = false;
  bool noise = false;
  double noise_sigma = 0;  // on the [0, 1] scale
  bool gamma = false;
  double gamma_exp = 1;
  bool ssr = false;
  double angle_deg = 0, scale = 1, shift_x = 0, shift_y = 0;  // shifts as fractions of W and H
  bool bc = false;
  double alpha = 1, beta = 0;  // out = alpha * x + beta * max (max = 1 for [0, 1] images)
  bool distort = false;
  double k = 0, dx_px = 0, dy_px = 0;  // dx, dy whole pixels (albumentations rounds them)
  bool dropout = false;
  int channel = 0;
};

// Throws invalid_input naming the field of a probability outside [0, 1], a reversed or negative
// range, or a value with no meaning (gamma <= 0, scale_limit >= 1).
void augment_validate(const shim_augment_config &c);

// Draws B images' parameters from `gen`: a fixed number of uniforms per image whatever the
// probabilities, so that switching one operation off does not change what the others draw.
std::vector<augment_params> augment_draw(const shim_augment_config &c, int64_t B, at::Generator &gen);

// Pixel-coordinate sampling maps [n, H, W, 2] (x then y, OpenCV's convention: pixel centres at
// integers) for the images `p` selects, on `device`.
torch::Tensor ssr_source_coords(const std::vector<const augment_params *> &p, int64_t H, int64_t W,
                                torch::Device device);
torch::Tensor distort_source_coords(const std::vector<const augment_params *> &p, int64_t H, int64_t W,
                                    torch::Device device);

// cv2.remap(x, coords, INTER_LINEAR, BORDER_REFLECT_101) for x [n, C, H, W].
torch::Tensor remap_reflect101(const torch::Tensor &x, const torch::Tensor &coords);

}  // namespace mdh

// The geometric half of the augmentation: where each output pixel samples the input under
// ShiftScaleRotate (cv2.warpAffine) and OpticalDistortion (cv2.initUndistortRectifyMap), and the
// bilinear reflect-101 resampling both use.
//
// Against OpenCV: grid_sample interpolates at the exact source position, while OpenCV's
// warpAffine / remap round positions to 1/32 pixel (INTER_BITS) first, so results differ by
// up to 1/64 pixel of displacement. The border is the same: with align_corners = true,
// grid_sample's "reflection" mirrors about the centres of the edge pixels (0 and W-1), which is
// BORDER_REFLECT_101 (dcb|abcd|cba), not BORDER_REFLECT (cba|abcd|dcb).
#include <cmath>

#include "augment.hpp"

namespace mdh {

namespace {

// Output pixel grid as homogeneous (x, y, 1) rows [H*W, 3], float32 on `device`.
torch::Tensor pixel_rows(int64_t H, int64_t W, torch::Device device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto ys = torch::arange(H, f32).view({H, 1}).expand({H, W});
  auto xs = torch::arange(W, f32).view({1, W}).expand({H, W});
  return torch::stack({xs, ys, torch::ones({H, W}, f32)}, -1).view({H * W, 3});
}

torch::Tensor column(const std::vector<double> &v, torch::Device device) {
  return torch::tensor(v, torch::kFloat64).to(device, torch::kFloat32).view({-1, 1, 1});
}

}  // namespace

torch::Tensor ssr_source_coords(const std::vector<const augment_params *> &p, int64_t H, int64_t W,
                                torch::Device device) {
  const int64_t n = static_cast<int64_t>(p.size());
  // albumentations: centre (W/2 - 0.5, H/2 - 0.5), cv2.getRotationMatrix2D(centre, angle, scale)
  // (angle counter-clockwise as displayed), then + (dx * W, dy * H). warpAffine maps each output
  // pixel back through the inverse, computed here in double precision.
  auto inv = torch::empty({n, 2, 3}, torch::kFloat64);
  auto a = inv.accessor<double, 3>();
  const double cx = 0.5 * static_cast<double>(W) - 0.5, cy = 0.5 * static_cast<double>(H) - 0.5;
  for (int64_t i = 0; i < n; i++) {
    const double th = p[i]->angle_deg * (3.14159265358979323846 / 180.0), s = p[i]->scale;
    const double al = s * std::cos(th), be = s * std::sin(th);
    const double tx = (1 - al) * cx - be * cy + p[i]->shift_x * static_cast<double>(W);
    const double ty = be * cx + (1 - al) * cy + p[i]->shift_y * static_cast<double>(H);
    const double d = al * al + be * be;  // = s^2 > 0
    const double r00 = al / d, r01 = -be / d, r10 = be / d, r11 = al / d;
    a[i][0][0] = r00;
    a[i][0][1] = r01;
    a[i][0][2] = -(r00 * tx + r01 * ty);
    a[i][1][0] = r10;
    a[i][1][1] = r11;
    a[i][1][2] = -(r10 * tx + r11 * ty);
  }
  auto m = inv.to(device, torch::kFloat32);
  return torch::matmul(pixel_rows(H, W, device).unsqueeze(0), m.transpose(1, 2)).view({n, H, W, 2});
}

torch::Tensor distort_source_coords(const std::vector<const augment_params *> &p, int64_t H, int64_t W,
                                    torch::Device device) {
  // albumentations' optical_distortion: camera matrix fx = W, fy = H, cx = W/2 + dx,
  // cy = H/2 + dy, distortion (k1, k2, p1, p2, k3) = (k, k, 0, 0, 0), and
  // initUndistortRectifyMap with no new camera matrix, which OpenCV replaces by the same focal
  // lengths centred at ((W-1)/2, (H-1)/2). So every output pixel (u, v) samples
  //   x = (u - (W-1)/2) / W, y = (v - (H-1)/2) / H, r2 = x^2 + y^2, f = 1 + k r2 + k r2^2,
  //   src = (W x f + W/2 + dx, H y f + H/2 + dy),
  // which also moves the image by half a pixel when k = 0 (a quirk kept for fidelity).
  std::vector<double> k, ox, oy;
  for (const augment_params *q : p) {
    k.push_back(q->k);
    ox.push_back(0.5 * static_cast<double>(W) + q->dx_px);
    oy.push_back(0.5 * static_cast<double>(H) + q->dy_px);
  }
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const double fw = static_cast<double>(W), fh = static_cast<double>(H);
  auto x = ((torch::arange(W, f32) - 0.5 * (fw - 1)) / fw).view({1, 1, W}).expand({1, H, W});
  auto y = ((torch::arange(H, f32) - 0.5 * (fh - 1)) / fh).view({1, H, 1}).expand({1, H, W});
  auto r2 = x * x + y * y;
  auto kt = column(k, device);
  auto f = 1 + kt * r2 + kt * r2 * r2;  // [n, H, W]
  auto sx = fw * x * f + column(ox, device);
  auto sy = fh * y * f + column(oy, device);
  return torch::stack({sx, sy}, -1);
}

torch::Tensor remap_reflect101(const torch::Tensor &x, const torch::Tensor &coords) {
  const double W = static_cast<double>(x.size(3)), H = static_cast<double>(x.size(2));
  auto gx = coords.select(-1, 0) * (2.0 / (W - 1)) - 1;
  auto gy = coords.select(-1, 1) * (2.0 / (H - 1)) - 1;
  auto grid = torch::stack({gx, gy}, -1).to(x.scalar_type());
  // interpolation 0 = bilinear, padding 2 = reflection (see the header comment).
  return torch::grid_sampler(x, grid, 0, 2, /*align_corners=*/true);
}

}  // namespace mdh

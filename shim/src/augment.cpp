// The paper's "heavy" augmentation with albumentations 1.3 semantics (shim_augment): parameters
// drawn per image from a CPU generator seeded with `seed`, operations applied as batched torch
// ops on the requested device, in the paper's order:
//   HorizontalFlip, GaussNoise, RandomGamma, ShiftScaleRotate, RandomBrightnessContrast,
//   OpticalDistortion, ChannelDropout.
// Scale notes for float images in [0, 1]: albumentations' GaussNoise var_limit is in pixel units
// (10..50 on 0..255 images); here the variance is on the [0, 1] scale, so the paper's setting is
// var 10/255^2 .. 50/255^2 = 1.54e-4 .. 7.69e-4 (sigma 0.0124 .. 0.0277). Noise and
// brightness/contrast clip to [0, 1] as albumentations' @clipped float paths do; the output is
// clamped to [0, 1] once more at the end.
#include "augment.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "guard.hpp"
#include "nn_common.hpp"

namespace mdh {

namespace {

void require(bool ok, const char *field, const std::string &why) {
  if (!ok) throw invalid_input(std::string("augment config: ") + field + " " + why);
}

void probability(double p, const char *field) {
  require(std::isfinite(p) && p >= 0 && p <= 1, field, "must be a probability in [0, 1], got " + std::to_string(p));
}

void limit(double v, const char *field) {
  require(std::isfinite(v) && v >= 0, field, "must be finite and >= 0, got " + std::to_string(v));
}

// Uniforms each image consumes, in this order (see augment_draw).
enum slot {
  s_hflip,
  s_noise,
  s_noise_var,
  s_gamma,
  s_gamma_exp,
  s_ssr,
  s_angle,
  s_scale,
  s_shift_x,
  s_shift_y,
  s_bc,
  s_alpha,
  s_beta,
  s_distort,
  s_k,
  s_dx,
  s_dy,
  s_dropout,
  s_channel,
  n_slots
};

// random.uniform(-l, l)
double symmetric(double l, double u) {
  return -l + 2 * l * u;
}

}  // namespace

void augment_validate(const shim_augment_config &c) {
  probability(c.hflip_p, "hflip_p");
  probability(c.noise_p, "noise_p");
  probability(c.gamma_p, "gamma_p");
  probability(c.ssr_p, "ssr_p");
  probability(c.bc_p, "bc_p");
  probability(c.distort_p, "distort_p");
  probability(c.channel_dropout_p, "channel_dropout_p");
  limit(c.noise_var_min, "noise_var_min");
  limit(c.noise_var_max, "noise_var_max");
  require(c.noise_var_min <= c.noise_var_max, "noise_var_min", "must be <= noise_var_max");
  require(std::isfinite(c.gamma_min) && c.gamma_min > 0, "gamma_min", "must be > 0");
  require(std::isfinite(c.gamma_max) && c.gamma_max >= c.gamma_min, "gamma_max", "must be >= gamma_min");
  limit(c.shift_limit, "shift_limit");
  limit(c.scale_limit, "scale_limit");
  require(c.scale_limit < 1, "scale_limit", "must be < 1 (scales are drawn from 1 +- scale_limit)");
  limit(c.rotate_limit_deg, "rotate_limit_deg");
  limit(c.brightness_limit, "brightness_limit");
  limit(c.contrast_limit, "contrast_limit");
  limit(c.distort_limit, "distort_limit");
  limit(c.shift_distort_limit, "shift_distort_limit");
}

std::vector<augment_params> augment_draw(const shim_augment_config &c, int64_t B, at::Generator &gen) {
  auto u = at::rand({B, n_slots}, gen, torch::kFloat64);
  auto a = u.accessor<double, 2>();
  std::vector<augment_params> out(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; i++) {
    augment_params &p = out[static_cast<size_t>(i)];
    auto r = [&](slot s) { return a[i][s]; };
    // albumentations applies an operation when random.random() < p.
    p.hflip = r(s_hflip) < c.hflip_p;
    p.noise = r(s_noise) < c.noise_p;
    p.noise_sigma = std::sqrt(c.noise_var_min + (c.noise_var_max - c.noise_var_min) * r(s_noise_var));
    p.gamma = r(s_gamma) < c.gamma_p;
    p.gamma_exp = c.gamma_min + (c.gamma_max - c.gamma_min) * r(s_gamma_exp);
    p.ssr = r(s_ssr) < c.ssr_p;
    p.angle_deg = symmetric(c.rotate_limit_deg, r(s_angle));
    p.scale = 1 + symmetric(c.scale_limit, r(s_scale));
    p.shift_x = symmetric(c.shift_limit, r(s_shift_x));
    p.shift_y = symmetric(c.shift_limit, r(s_shift_y));
    p.bc = r(s_bc) < c.bc_p;
    p.alpha = 1 + symmetric(c.contrast_limit, r(s_alpha));
    p.beta = symmetric(c.brightness_limit, r(s_beta));
    p.distort = r(s_distort) < c.distort_p;
    p.k = symmetric(c.distort_limit, r(s_k));
    // OpticalDistortion.get_params rounds its shifts to whole pixels (Python's round, half to
    // even), so a shift_limit below 0.5 — the paper's 0.05 — never shifts at all.
    p.dx_px = std::nearbyint(symmetric(c.shift_distort_limit, r(s_dx)));
    p.dy_px = std::nearbyint(symmetric(c.shift_distort_limit, r(s_dy)));
    p.dropout = r(s_dropout) < c.channel_dropout_p;
    p.channel = std::min(2, static_cast<int>(std::floor(3 * r(s_channel))));
  }
  return out;
}

}  // namespace mdh

namespace {

using mdh::augment_params;

// Runs `op` on the images whose `flag` is set, leaving the others bit-for-bit alone.
template <typename Flag, typename Op>
void on_selected(torch::Tensor &x, const std::vector<augment_params> &params, Flag flag, Op op) {
  std::vector<int64_t> idx;
  std::vector<const augment_params *> sel;
  for (size_t i = 0; i < params.size(); i++)
    if (flag(params[i])) {
      idx.push_back(static_cast<int64_t>(i));
      sel.push_back(&params[i]);
    }
  if (idx.empty()) return;
  auto index = torch::tensor(idx, torch::kInt64).to(x.device());
  auto sub = op(x.index_select(0, index), sel);
  x.index_copy_(0, index, sub);
}

// A per-image scalar [n, 1, 1, 1] on x's device.
template <typename Get>
torch::Tensor per_image(const std::vector<const augment_params *> &sel, const torch::Tensor &like, Get get) {
  std::vector<double> v;
  for (const augment_params *p : sel) v.push_back(get(*p));
  return torch::tensor(v, torch::kFloat64).to(like.device(), like.scalar_type()).view({-1, 1, 1, 1});
}

}  // namespace

extern "C" {

void shim_augment_config_paper(shim_augment_config *c) {
  if (!c) return;
  std::memset(c, 0, sizeof *c);
  // The paper names the operations, the flip and dropout probabilities and the shift-scale-rotate
  // limits. The other probabilities (0.5) and ranges are choices: albumentations' defaults
  // (GaussNoise var 10..50 of 255^2, RandomGamma 80..120, RandomBrightnessContrast 0.2 / 0.2,
  // OpticalDistortion 0.05 / 0.05).
  c->hflip_p = 0.5;
  c->noise_p = 0.5;
  c->noise_var_min = 10.0 / (255.0 * 255.0);
  c->noise_var_max = 50.0 / (255.0 * 255.0);
  c->gamma_p = 0.5;
  c->gamma_min = 0.8;
  c->gamma_max = 1.2;
  c->ssr_p = 0.5;
  c->shift_limit = 0.1;
  c->scale_limit = 0.2;
  c->rotate_limit_deg = 45;
  c->bc_p = 0.5;
  c->brightness_limit = 0.2;
  c->contrast_limit = 0.2;
  c->distort_p = 0.5;
  c->distort_limit = 0.05;
  c->shift_distort_limit = 0.05;
  c->channel_dropout_p = 0.8;
}

int shim_augment(const shim_augment_config *cfg, const char *device, const float *in, int B, int H, int W,
                 uint64_t seed, float *out, shim_err *err) {
  return mdh::guarded(err, [&]() -> int {
    if (!cfg || !in || !out) throw mdh::invalid_input("augment: config, input and output buffers are required");
    if (B < 1 || H < 2 || W < 2)
      throw mdh::invalid_input("augment: images must be [B >= 1, 3, H >= 2, W >= 2], got [" + std::to_string(B) +
                               ", 3, " + std::to_string(H) + ", " + std::to_string(W) + "]");
    if (static_cast<double>(B) * 3.0 * H * W > 1e10) throw mdh::invalid_input("augment: batch too large");
    mdh::augment_validate(*cfg);
    shim_exec ex{device, SHIM_F32};
    const torch::Device dev = mdh::exec_device(&ex);
    torch::NoGradGuard no_grad;
    auto gen = at::detail::createCPUGenerator(seed);
    const std::vector<augment_params> params = mdh::augment_draw(*cfg, B, gen);
    auto host_in = torch::from_blob(const_cast<float *>(in), {B, 3, H, W}, torch::kFloat32);
    auto x = host_in.to(dev, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
    using sel_t = std::vector<const augment_params *>;

    on_selected(
        x, params, [](const augment_params &p) { return p.hflip; },
        [](const torch::Tensor &s, const sel_t &) { return s.flip({3}); });
    on_selected(
        x, params, [](const augment_params &p) { return p.noise; },
        [&](const torch::Tensor &s, const sel_t &sel) {
          // Drawn on the CPU after all the uniforms, image by image, so the noise is the same on any device.
          auto z = at::randn({static_cast<int64_t>(sel.size()), 3, H, W}, gen, torch::kFloat32).to(s.device());
          auto sigma = per_image(sel, s, [](const augment_params &p) { return p.noise_sigma; });
          return (s + sigma * z).clamp(0, 1);
        });
    on_selected(
        x, params, [](const augment_params &p) { return p.gamma; },
        [](const torch::Tensor &s, const sel_t &sel) {
          return torch::pow(s, per_image(sel, s, [](const augment_params &p) { return p.gamma_exp; }));
        });
    on_selected(
        x, params, [](const augment_params &p) { return p.ssr; },
        [&](const torch::Tensor &s, const sel_t &sel) {
          return mdh::remap_reflect101(s, mdh::ssr_source_coords(sel, H, W, s.device()));
        });
    on_selected(
        x, params, [](const augment_params &p) { return p.bc; },
        [](const torch::Tensor &s, const sel_t &sel) {
          auto alpha = per_image(sel, s, [](const augment_params &p) { return p.alpha; });
          auto beta = per_image(sel, s, [](const augment_params &p) { return p.beta; });
          return (alpha * s + beta).clamp(0, 1);
        });
    on_selected(
        x, params, [](const augment_params &p) { return p.distort; },
        [&](const torch::Tensor &s, const sel_t &sel) {
          return mdh::remap_reflect101(s, mdh::distort_source_coords(sel, H, W, s.device()));
        });
    on_selected(
        x, params, [](const augment_params &p) { return p.dropout; },
        [](const torch::Tensor &s, const sel_t &sel) {
          auto r = s.clone();
          for (size_t j = 0; j < sel.size(); j++) r[static_cast<int64_t>(j)][sel[j]->channel].zero_();
          return r;
        });
    auto y = x.clamp(0, 1).to(torch::kCPU).contiguous();
    std::memcpy(out, y.data_ptr<float>(), sizeof(float) * static_cast<size_t>(y.numel()));
    return SHIM_OK;
  });
}

}  // extern "C"

/* The classifier's augmentation (albumentations 1.3 semantics): shapes and range, seeding,
 * identity at p = 0, and each operation's exact meaning where it can be pinned down — mirror,
 * channel dropout, gamma, noise variance on the [0, 1] scale, brightness offset, rotation about
 * the pixel-centre image centre, and OpticalDistortion's half-pixel shift. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdh_shim.h"
#include "test_main.h"

#define PI 3.14159265358979323846
#define AT(x, H, W, b, c, i, j) ((x)[((((size_t)(b)*3 + (c)) * (size_t)(H) + (i)) * (size_t)(W) + (j))])

/* Every operation off (gamma's range must still be valid). */
static shim_augment_config config_none(void) {
  shim_augment_config c;
  memset(&c, 0, sizeof c);
  c.gamma_min = c.gamma_max = 1.0;
  return c;
}

/* Uniform values in [lo, lo + span) from a small LCG. */
static float *make_images(int B, int H, int W, uint32_t seed, float lo, float span) {
  const size_t n = (size_t)B * 3 * (size_t)H * (size_t)W;
  float *x = malloc(n * sizeof *x);
  assert_non_null(x);
  uint32_t s = seed;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = lo + span * (float)(s >> 8) / 16777216.0f;
  }
  return x;
}

static float *run(const shim_augment_config *c, const float *x, int B, int H, int W, uint64_t seed) {
  float *out = malloc((size_t)B * 3 * (size_t)H * (size_t)W * sizeof *out);
  assert_non_null(out);
  shim_err err = {{0}};
  if (shim_augment(c, "cpu", x, B, H, W, seed, out, &err) != SHIM_OK) fail_msg("shim_augment: %s", err.msg);
  return out;
}

static void augment_paper_config_keeps_shape_and_range(void **state) {
  (void)state;
  shim_augment_config c;
  shim_augment_config_paper(&c);
  assert_true(c.hflip_p == 0.5 && c.channel_dropout_p == 0.8 && c.rotate_limit_deg == 45);
  assert_true(c.shift_limit == 0.1 && c.scale_limit == 0.2);
  assert_true(fabs(c.noise_var_max - 50.0 / 65025.0) < 1e-12);
  const int B = 6, H = 40, W = 48;
  const size_t n = (size_t)B * 3 * H * W;
  float *x = make_images(B, H, W, 1, 0.0f, 1.0f);
  float *y = run(&c, x, B, H, W, 42);
  size_t changed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(y[i] >= 0.0f && y[i] <= 1.0f)) fail_msg("value %g at %zu outside [0, 1]", y[i], i);
    changed += y[i] != x[i];
  }
  assert_true(changed > n / 2);
  free(x);
  free(y);
}

static void augment_same_seed_same_output_other_seed_differs(void **state) {
  (void)state;
  shim_augment_config c;
  shim_augment_config_paper(&c);
  const int B = 4, H = 32, W = 32;
  const size_t bytes = (size_t)B * 3 * H * W * sizeof(float);
  float *x = make_images(B, H, W, 2, 0.0f, 1.0f);
  float *a = run(&c, x, B, H, W, 7), *b = run(&c, x, B, H, W, 7), *d = run(&c, x, B, H, W, 8);
  assert_memory_equal(a, b, bytes);
  assert_memory_not_equal(a, d, bytes);
  free(x);
  free(a);
  free(b);
  free(d);
}

static void augment_with_every_probability_zero_is_the_identity(void **state) {
  (void)state;
  shim_augment_config c;
  shim_augment_config_paper(&c);
  c.hflip_p = c.noise_p = c.gamma_p = c.ssr_p = c.bc_p = c.distort_p = c.channel_dropout_p = 0;
  const int B = 3, H = 24, W = 20;
  float *x = make_images(B, H, W, 3, 0.0f, 1.0f);
  float *y = run(&c, x, B, H, W, 5);
  assert_memory_equal(x, y, (size_t)B * 3 * H * W * sizeof(float));
  free(x);
  free(y);
}

static void augment_hflip_p1_is_an_exact_mirror(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.hflip_p = 1;
  const int B = 2, H = 9, W = 13;
  float *x = make_images(B, H, W, 4, 0.0f, 1.0f);
  float *y = run(&c, x, B, H, W, 1);
  for (int b = 0; b < B; b++)
    for (int ch = 0; ch < 3; ch++)
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) assert_true(AT(y, H, W, b, ch, i, j) == AT(x, H, W, b, ch, i, W - 1 - j));
  free(x);
  free(y);
}

static void augment_channel_dropout_p1_zeroes_exactly_one_channel(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.channel_dropout_p = 1;
  const int B = 12, H = 8, W = 8;
  float *x = make_images(B, H, W, 5, 0.05f, 0.95f);
  float *y = run(&c, x, B, H, W, 3);
  int used[3] = {0, 0, 0};
  for (int b = 0; b < B; b++) {
    int zero_channels = 0;
    for (int ch = 0; ch < 3; ch++) {
      int all_zero = 1, all_same = 1;
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
          all_zero &= AT(y, H, W, b, ch, i, j) == 0.0f;
          all_same &= AT(y, H, W, b, ch, i, j) == AT(x, H, W, b, ch, i, j);
        }
      if (all_zero) {
        zero_channels++;
        used[ch] = 1;
      } else {
        assert_true(all_same);
      }
    }
    assert_int_equal(zero_channels, 1);
  }
  assert_true(used[0] + used[1] + used[2] >= 2);
  free(x);
  free(y);
}

static void augment_gamma_with_a_fixed_exponent_is_a_power(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.gamma_p = 1;
  c.gamma_min = c.gamma_max = 1.15;
  const int B = 2, H = 16, W = 16;
  const size_t n = (size_t)B * 3 * H * W;
  float *x = make_images(B, H, W, 6, 0.0f, 1.0f);
  float *y = run(&c, x, B, H, W, 9);
  for (size_t i = 0; i < n; i++) {
    const double want = pow((double)x[i], 1.15);
    if (fabs(y[i] - want) > 1e-6) fail_msg("x %g: got %.8g, expected x^1.15 = %.8g", x[i], y[i], want);
  }
  free(x);
  free(y);
}

/* GaussNoise's variance is on the [0, 1] scale: residuals of a mid-grey image have that variance. */
static void augment_noise_variance_is_on_the_unit_scale(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.noise_p = 1;
  c.noise_var_min = c.noise_var_max = 1e-3;
  const int B = 2, H = 64, W = 64;
  const size_t n = (size_t)B * 3 * H * W;
  float *x = make_images(B, H, W, 7, 0.45f, 0.1f);
  float *y = run(&c, x, B, H, W, 11);
  double s = 0, ss = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = (double)y[i] - x[i];
    s += d;
    ss += d * d;
  }
  const double mean = s / (double)n, var = ss / (double)n - mean * mean;
  print_message("noise: mean %.2e, variance %.4e (want 1e-3)\n", mean, var);
  assert_true(fabs(mean) < 1e-3);
  assert_true(fabs(var - 1e-3) < 0.05e-3);
  free(x);
  free(y);
}

/* Brightness alone (brightness_by_max on [0, 1]): every pixel of an image moves by one beta. */
static void augment_brightness_adds_one_offset_per_image(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.bc_p = 1;
  c.brightness_limit = 0.2;
  const int B = 4, H = 8, W = 8;
  float *x = make_images(B, H, W, 8, 0.3f, 0.4f);
  float *y = run(&c, x, B, H, W, 13);
  double betas[4];
  for (int b = 0; b < B; b++) {
    const double beta = (double)AT(y, H, W, b, 0, 0, 0) - AT(x, H, W, b, 0, 0, 0);
    assert_true(fabs(beta) <= 0.2 + 1e-6);
    for (int ch = 0; ch < 3; ch++)
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
          assert_true(fabs((double)AT(y, H, W, b, ch, i, j) - AT(x, H, W, b, ch, i, j) - beta) < 1e-6);
    betas[b] = beta;
  }
  assert_true(betas[0] != betas[1] || betas[1] != betas[2]);
  free(x);
  free(y);
}

/* Intensity-weighted centroid of one image's channel 0 over pixels whose distance from (cx, cy)
 * is on the `outside` side of r_split. */
static void centroid(const float *y, int H, int W, double cx, double cy, double r_split, int outside, double *ox,
                     double *oy) {
  double s = 0, sx = 0, sy = 0;
  for (int i = 0; i < H; i++)
    for (int j = 0; j < W; j++) {
      const double r = hypot(j - cx, i - cy);
      if ((r > r_split) != outside) continue;
      const double v = AT(y, H, W, 0, 0, i, j);
      s += v;
      sx += v * j;
      sy += v * i;
    }
  assert_true(s > 0);
  *ox = sx / s;
  *oy = sy / s;
}

static float *two_blobs(int H, int W, double ax, double ay, double bx, double by) {
  float *x = calloc((size_t)3 * H * W, sizeof *x);
  assert_non_null(x);
  for (int ch = 0; ch < 3; ch++)
    for (int i = 0; i < H; i++)
      for (int j = 0; j < W; j++) {
        const double da = (j - ax) * (j - ax) + (i - ay) * (i - ay), db = (j - bx) * (j - bx) + (i - by) * (i - by);
        AT(x, H, W, 0, ch, i, j) = (float)(exp(-da / (2 * 1.2 * 1.2)) + exp(-db / (2 * 1.2 * 1.2)));
      }
  return x;
}

/* Rotation alone turns the image rigidly about ((W-1)/2, (H-1)/2), albumentations' centre: a
 * blob at radius 20 keeps its radius, the angle it turns by is within the limit, a second blob
 * turns by the same angle, and doubling the limit doubles the angle for the same seed (the
 * angle is drawn as limit * (2u - 1)). */
static void augment_rotation_turns_blobs_about_the_pixel_centre(void **state) {
  (void)state;
  const int H = 64, W = 64;
  const double cx = 31.5, cy = 31.5;
  const double ax = cx + 20, ay = cy, bx = cx, by = cy + 9;
  float *x = two_blobs(H, W, ax, ay, bx, by);
  shim_augment_config c = config_none();
  c.ssr_p = 1;
  c.rotate_limit_deg = 45;
  double phi[2];
  for (int pass = 0; pass < 2; pass++) {
    float *y = run(&c, x, 1, H, W, 17);
    double a2x, a2y, b2x, b2y;
    centroid(y, H, W, cx, cy, 14.5, 1, &a2x, &a2y);
    centroid(y, H, W, cx, cy, 14.5, 0, &b2x, &b2y);
    const double r = hypot(a2x - cx, a2y - cy);
    /* Image y points down: an angle counter-clockwise as displayed is atan2(-(dy), dx). */
    phi[pass] = atan2(-(a2y - cy), a2x - cx);
    const double px = cx + cos(phi[pass]) * (bx - cx) + sin(phi[pass]) * (by - cy);
    const double py = cy - sin(phi[pass]) * (bx - cx) + cos(phi[pass]) * (by - cy);
    print_message("limit %g: angle %.3f deg, radius %.3f, blob B at (%.3f, %.3f), predicted (%.3f, %.3f)\n",
                  c.rotate_limit_deg, phi[pass] * 180 / PI, r, b2x, b2y, px, py);
    assert_true(fabs(r - 20) < 0.15);
    assert_true(fabs(phi[pass]) * 180 / PI <= c.rotate_limit_deg + 0.2);
    assert_true(hypot(b2x - px, b2y - py) < 0.15);
    free(y);
    c.rotate_limit_deg = 90;
  }
  assert_true(fabs(phi[0]) * 180 / PI > 5); /* the seed gives a real turn */
  assert_true(fabs(phi[1] - 2 * phi[0]) * 180 / PI < 0.3);
  free(x);
}

/* OpticalDistortion with k = 0 and no shift still samples each pixel half a pixel to the right
 * and down (albumentations' camera centre W/2 against OpenCV's (W-1)/2); the far edge reflects
 * about the last pixel centre (BORDER_REFLECT_101). */
static void augment_optical_distortion_at_k0_shifts_half_a_pixel(void **state) {
  (void)state;
  shim_augment_config c = config_none();
  c.distort_p = 1;
  const int H = 6, W = 10;
  float *x = malloc((size_t)3 * H * W * sizeof *x);
  for (int ch = 0; ch < 3; ch++)
    for (int i = 0; i < H; i++)
      for (int j = 0; j < W; j++) AT(x, H, W, 0, ch, i, j) = (float)(0.05 * j + 0.1 * i);
  float *y = run(&c, x, 1, H, W, 1);
  for (int i = 0; i < H; i++)
    for (int j = 0; j < W; j++) {
      const double sj = j == W - 1 ? W - 1.5 : j + 0.5, si = i == H - 1 ? H - 1.5 : i + 0.5;
      const double want = 0.05 * sj + 0.1 * si;
      if (fabs(AT(y, H, W, 0, 1, i, j) - want) > 1e-5)
        fail_msg("(%d, %d): %.6f, expected %.6f", i, j, AT(y, H, W, 0, 1, i, j), want);
    }
  free(x);
  free(y);
}

static void augment_rejects_bad_arguments(void **state) {
  (void)state;
  float x[3 * 4 * 4] = {0}, y[3 * 4 * 4];
  shim_err err = {{0}};
  shim_augment_config c = config_none();
  c.hflip_p = 1.5;
  assert_int_equal(shim_augment(&c, "cpu", x, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "hflip_p"));
  c = config_none();
  c.gamma_min = 0;
  assert_int_equal(shim_augment(&c, "cpu", x, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "gamma_min"));
  c = config_none();
  c.scale_limit = 1.0;
  assert_int_equal(shim_augment(&c, "cpu", x, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "scale_limit"));
  c = config_none();
  c.noise_var_min = 0.2;
  c.noise_var_max = 0.1;
  assert_int_equal(shim_augment(&c, "cpu", x, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "noise_var"));
  c = config_none();
  assert_int_equal(shim_augment(&c, "cpu", x, 1, 1, 4, 0, y, &err), SHIM_E_INVALID);
  assert_int_equal(shim_augment(&c, "tpu", x, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "tpu"));
  assert_int_equal(shim_augment(&c, "cpu", NULL, 1, 4, 4, 0, y, &err), SHIM_E_INVALID);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(augment_paper_config_keeps_shape_and_range),
      cmocka_unit_test(augment_same_seed_same_output_other_seed_differs),
      cmocka_unit_test(augment_with_every_probability_zero_is_the_identity),
      cmocka_unit_test(augment_hflip_p1_is_an_exact_mirror),
      cmocka_unit_test(augment_channel_dropout_p1_zeroes_exactly_one_channel),
      cmocka_unit_test(augment_gamma_with_a_fixed_exponent_is_a_power),
      cmocka_unit_test(augment_noise_variance_is_on_the_unit_scale),
      cmocka_unit_test(augment_brightness_adds_one_offset_per_image),
      cmocka_unit_test(augment_rotation_turns_blobs_about_the_pixel_centre),
      cmocka_unit_test(augment_optical_distortion_at_k0_shifts_half_a_pixel),
      cmocka_unit_test(augment_rejects_bad_arguments),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

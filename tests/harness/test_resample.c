/* Resampling in world coordinates: a linear ramp in world space survives oblique source and
 * target grids exactly (trilinear is exact on linear functions), coverage and padding, nearest
 * labels, the spaced-and-cropped target grid (picai_prep's sizes and crop offsets), and
 * min-max normalisation. */
#include <stdlib.h>
#include <string.h>

#include "test_main.h"
#include "vol_fixture.h"

static void linear_ramp_preserved_in_world_coordinates(void **state) {
  (void)state;
  vol3 src = fx_volume(60, 60, 14, 0.5, 0.5, 3.0, -15, -12, -20, 20, 5);
  fx_fill_ramp(&src);
  /* Target: other spacing and direction, well inside the source. */
  double ci[3] = {30, 30, 7}, centre[3];
  vol_index_to_world(&src, ci, centre);
  vol3 dst = fx_volume(20, 16, 6, 0.7, 0.6, 1.5, 0, 0, 0, 32, -3);
  double half[3] = {-10 * 0.7, -8 * 0.6, -3 * 1.5}, off[3];
  for (int r = 0; r < 3; r++) {
    off[r] = 0;
    for (int c = 0; c < 3; c++) off[r] += dst.dir[r * 3 + c] * half[c];
    dst.origin[r] = centre[r] + off[r];
  }
  uint8_t *inside = malloc(vol_voxels(&dst));
  size_t n_in = 0;
  herr e;
  assert_int_equal(vol_resample(&src, &dst, VOL_LINEAR, inside, &n_in, &e), 0);
  assert_int_equal(n_in, vol_voxels(&dst));
  size_t q = 0;
  double worst = 0;
  for (size_t k = 0; k < dst.n[2]; k++)
    for (size_t j = 0; j < dst.n[1]; j++)
      for (size_t i = 0; i < dst.n[0]; i++, q++) {
        double w[3], idx[3] = {(double)i, (double)j, (double)k};
        vol_index_to_world(&dst, idx, w);
        double err = fabs(dst.data[q] - fx_ramp(w));
        if (err > worst) worst = err;
      }
  assert_true(worst < 2e-3); /* float voxels of values ~100 */
  /* The same with nearest-neighbour is only exact to half a voxel: it must differ. */
  assert_int_equal(vol_resample(&src, &dst, VOL_NEAREST, NULL, NULL, &e), 0);
  double worst_nn = 0;
  q = 0;
  for (size_t k = 0; k < dst.n[2]; k++)
    for (size_t j = 0; j < dst.n[1]; j++)
      for (size_t i = 0; i < dst.n[0]; i++, q++) {
        double w[3], idx[3] = {(double)i, (double)j, (double)k};
        vol_index_to_world(&dst, idx, w);
        double err = fabs(dst.data[q] - fx_ramp(w));
        if (err > worst_nn) worst_nn = err;
      }
  assert_true(worst_nn > 0.1);
  free(inside);
  vol_free(&src);
  vol_free(&dst);
}

/* A target larger than the source: voxels whose centres fall outside get 0 and are marked. */
static void coverage_and_padding(void **state) {
  (void)state;
  vol3 src = fx_volume(4, 4, 2, 1, 1, 1, 0, 0, 0, 0, 0);
  for (size_t i = 0; i < vol_voxels(&src); i++) src.data[i] = 7;
  vol3 dst = fx_volume(8, 8, 4, 1, 1, 1, -2, -2, -1, 0, 0);
  uint8_t inside[256];
  size_t n_in;
  herr e;
  assert_int_equal(vol_resample(&src, &dst, VOL_LINEAR, inside, &n_in, &e), 0);
  assert_int_equal(n_in, 4 * 4 * 2);
  size_t q = 0;
  for (size_t k = 0; k < 4; k++)
    for (size_t j = 0; j < 8; j++)
      for (size_t i = 0; i < 8; i++, q++) {
        bool in = i >= 2 && i < 6 && j >= 2 && j < 6 && k >= 1 && k < 3;
        assert_int_equal(inside[q], in);
        assert_float_equal(dst.data[q], in ? 7 : 0, 0);
      }
  vol_free(&src);
  vol_free(&dst);
}

/* Nearest keeps label values; a grid shifted by whole voxels is an exact copy. */
static void nearest_labels_exact_on_shifted_grid(void **state) {
  (void)state;
  vol3 src = fx_volume(10, 10, 5, 0.5, 0.5, 3, 1, 2, 3, 30, 0);
  for (size_t i = 0; i < vol_voxels(&src); i++) src.data[i] = (float)(i % 5);
  vol3 dst = src;
  dst.data = NULL;
  dst.n[0] = 8, dst.n[1] = 8, dst.n[2] = 3;
  double one[3] = {1, 1, 1};
  vol_index_to_world(&src, one, dst.origin);
  assert_int_equal(vol_alloc(&dst, NULL), 0);
  herr e;
  assert_int_equal(vol_resample(&src, &dst, VOL_NEAREST, NULL, NULL, &e), 0);
  for (size_t k = 0; k < 3; k++)
    for (size_t j = 0; j < 8; j++)
      for (size_t i = 0; i < 8; i++)
        assert_float_equal(dst.data[(k * 8 + j) * 8 + i], src.data[((k + 1) * 10 + j + 1) * 10 + i + 1], 0);
  vol_free(&src);
  vol_free(&dst);
}

static void grid_sizes_and_crop_offsets_follow_picai_prep(void **state) {
  (void)state;
  vol3 ref = fx_volume(384, 384, 19, 0.5, 0.5, 3.6, 10, 20, 30, 0, 0);
  double sp[3] = {0.5, 0.5, 3.0};
  size_t size[3] = {300, 300, 30};
  vol3 g;
  herr e;
  assert_int_equal(vol_grid_spaced_crop(&ref, sp, size, &g, &e), 0);
  /* x, y: 384 -> crop from 42; z: round(19 * 3.6 / 3) = 23 -> 3 slices of padding before. */
  assert_float_equal(g.origin[0], 10 + 42 * 0.5, 1e-9);
  assert_float_equal(g.origin[1], 20 + 42 * 0.5, 1e-9);
  assert_float_equal(g.origin[2], 30 - 3 * 3.0, 1e-9);
  assert_int_equal(g.n[0], 300);
  assert_int_equal(g.n[2], 30);
  assert_float_equal(g.spacing[2], 3.0, 0);
  assert_null(g.data);
  /* Odd differences round down; half sizes round to even as numpy does (2.5 -> 2). */
  vol3 ref2 = fx_volume(301, 5, 5, 1, 1, 1, 0, 0, 0, 0, 0);
  double sp2[3] = {1, 2, 1};
  size_t size2[3] = {300, 5, 4};
  assert_int_equal(vol_grid_spaced_crop(&ref2, sp2, size2, &g, &e), 0);
  assert_float_equal(g.origin[0], 0, 1e-12);
  assert_float_equal(g.origin[1], -1 * 2, 1e-12); /* full 2 (2.5 to even), pad (5 - 2) / 2 = 1 */
  assert_float_equal(g.origin[2], 0, 1e-12);      /* full 5, crop (5 - 4) / 2 = 0 */
  /* The offset follows the direction: with a rotated reference it moves along its axes. */
  vol3 ref3 = fx_volume(10, 10, 10, 1, 1, 1, 0, 0, 0, 90, 0);
  size_t size3[3] = {6, 10, 10};
  double sp3[3] = {1, 1, 1};
  assert_int_equal(vol_grid_spaced_crop(&ref3, sp3, size3, &g, &e), 0);
  assert_float_equal(g.origin[0], 0, 1e-12);
  assert_float_equal(g.origin[1], 2, 1e-12);
  vol_free(&ref);
  vol_free(&ref2);
  vol_free(&ref3);
}

static void minmax_normalisation(void **state) {
  (void)state;
  float v[5] = {10, 20, 30, 1000, -5};
  uint8_t in[5] = {1, 1, 1, 0, 0};
  herr e;
  assert_int_equal(vol_normalize_minmax(v, in, 5, &e), 0);
  assert_float_equal(v[0], 0, 1e-7);
  assert_float_equal(v[1], 0.5, 1e-7);
  assert_float_equal(v[2], 1, 1e-7);
  assert_float_equal(v[3], 0, 0);
  assert_float_equal(v[4], 0, 0);
  float c[3] = {4, 4, 4};
  assert_int_equal(vol_normalize_minmax(c, NULL, 3, &e), -1);
  assert_non_null(strstr(e.msg, "constant"));
  uint8_t none[3] = {0, 0, 0};
  assert_int_equal(vol_normalize_minmax(c, none, 3, &e), -1);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(linear_ramp_preserved_in_world_coordinates),
      cmocka_unit_test(coverage_and_padding),
      cmocka_unit_test(nearest_labels_exact_on_shifted_grid),
      cmocka_unit_test(grid_sizes_and_crop_offsets_follow_picai_prep),
      cmocka_unit_test(minmax_normalisation),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

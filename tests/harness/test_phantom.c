/* The phantom simulator: lesion contrast measured from images and masks matches the
 * parameters per channel, negatives have empty masks, cases are deterministic and a smaller
 * set is a prefix of a larger one, parameters are checked, and a written set reads back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"
#include "harness/data/phantom.h"
#include "harness/formats/png.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

enum { SIDE = 128 };

#define ASSERT_NEAR(a, b, tol)                                                               \
  do {                                                                                      \
    double a_ = (a), b_ = (b);                                                              \
    if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.6g, expected %.6g ± %g", #a, a_, b_, (double)(tol)); \
  } while (0)

typedef struct rendered {
  uint8_t rgb[SIDE * SIDE * 3], mask[SIDE * SIDE], zones[SIDE * SIDE];
  phantom_case_info info;
} rendered;

/* A pixel whose 3x3 neighbourhood shows one tissue and one mask value, so partial-volume
 * edges do not blur the measurement. */
static int interior(const rendered *r, int x, int y) {
  if (x < 1 || y < 1 || x >= SIDE - 1 || y >= SIDE - 1) return 0;
  size_t o = (size_t)y * SIDE + x;
  for (int dy = -1; dy <= 1; dy++)
    for (int dx = -1; dx <= 1; dx++) {
      size_t q = (size_t)(y + dy) * SIDE + x + dx;
      if (r->zones[q] != r->zones[o] || r->mask[q] != r->mask[o]) return 0;
    }
  return 1;
}

/* Per channel: mean inside the lesion over mean of the same tissue outside it, within three
 * lesion radii (so slow bias variation cancels). Returns 0 when too few pixels. */
static int lesion_ratio(const rendered *r, double ratio[3]) {
  double in[3] = {0}, out[3] = {0};
  size_t nin = 0, nout = 0;
  int zone = r->info.lesion_zone;
  double lim = 3 * r->info.lesion_r;
  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++) {
      size_t o = (size_t)y * SIDE + x;
      if (r->zones[o] != zone || !interior(r, x, y)) continue;
      if (hypot(x + 0.5 - r->info.lesion_cx, y + 0.5 - r->info.lesion_cy) > lim) continue;
      double *acc = r->mask[o] ? in : out;
      for (int c = 0; c < 3; c++) acc[c] += r->rgb[3 * o + c];
      if (r->mask[o]) nin++;
      else nout++;
    }
  if (nin < 4 || nout < 4) return 0;
  for (int c = 0; c < 3; c++) ratio[c] = (in[c] / nin) / (out[c] / nout);
  return 1;
}

static void ideal_params(phantom_params *p) {
  phantom_params_default(p);
  p->size = SIDE;
  p->noise_t2w = p->noise_adc = p->noise_hbv = 0;
  p->bias_strength = p->texture_strength = p->intensity_jitter = 0;
  p->mimic_mean = 0;
  p->lesion_edge = 0;
  p->lesion_radius_min = 0.25;
  p->lesion_radius_max = 0.4;
  p->lesion_t2w_min = p->lesion_t2w_max = 0.3;
  p->lesion_adc_min = p->lesion_adc_max = 0.4;
  p->lesion_hbv_min = p->lesion_hbv_max = 0.8;
}

static void lesion_contrast_matches_the_parameters(void **state) {
  phantom_params p;
  ideal_params(&p);
  herr e = {{0}};
  assert_int_equal(phantom_params_check(&p, &e), 0);
  rendered *r = malloc(sizeof *r);
  int measured = 0, zones_seen[6] = {0};
  for (uint64_t i = 0; i < 24; i++) {
    phantom_render(&p, 11, i, r->rgb, r->mask, r->zones, &r->info);
    if (!r->info.label) continue;
    ASSERT_NEAR(r->info.lesion_contrast[0], 0.3, 1e-12);
    double ratio[3];
    if (!lesion_ratio(r, ratio)) continue;
    measured++;
    zones_seen[r->info.lesion_zone]++;
    /* Only 8-bit rounding separates the image from the model. */
    ASSERT_NEAR(ratio[0], 1 - 0.3, 0.02);
    ASSERT_NEAR(ratio[1], 1 - 0.4, 0.02);
    ASSERT_NEAR(ratio[2], 1 + 0.8, 0.03);
  }
  assert_true(measured >= 8);
  assert_true(zones_seen[PHANTOM_PZ] > 0); /* lesion_pz_probability 0.7: both zones occur */
  free(r);
}

/* With noise, bias, texture and a blurred edge (the defaults), the measured contrast follows
 * each case's drawn contrast on average: darker on T2W and ADC, brighter on HBV. */
static void lesion_contrast_survives_default_noise(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.size = SIDE;
  p.mimic_mean = 0;
  p.lesion_radius_min = 0.25;
  p.lesion_radius_max = 0.4;
  rendered *r = malloc(sizeof *r);
  double rel[3] = {0};
  int measured = 0, right_sign = 0;
  for (uint64_t i = 0; i < 60; i++) {
    phantom_render(&p, 5, i, r->rgb, r->mask, r->zones, &r->info);
    if (!r->info.label) continue;
    double ratio[3];
    if (!lesion_ratio(r, ratio)) continue;
    const double *c = r->info.lesion_contrast;
    rel[0] += (1 - ratio[0]) / c[0];
    rel[1] += (1 - ratio[1]) / c[1];
    rel[2] += (ratio[2] - 1) / c[2];
    right_sign += ratio[0] < 1 && ratio[1] < 1 && ratio[2] > 1;
    measured++;
  }
  assert_true(measured >= 20);
  for (int ch = 0; ch < 3; ch++) {
    double m = rel[ch] / measured;
    if (m < 0.8 || m > 1.1) fail_msg("channel %d: measured / drawn contrast %.3f, expected 0.8 .. 1.1", ch, m);
  }
  assert_true(right_sign >= measured * 8 / 10);
  free(r);
}

static void masks_mark_lesions_inside_the_gland_only(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.size = SIDE;
  rendered *r = malloc(sizeof *r);
  int pos = 0, neg = 0;
  for (uint64_t i = 0; i < 20; i++) {
    phantom_render(&p, 3, i, r->rgb, r->mask, r->zones, &r->info);
    size_t on = 0, outside_gland = 0;
    for (size_t o = 0; o < SIDE * SIDE; o++) {
      assert_true(r->mask[o] == 0 || r->mask[o] == 255);
      if (r->mask[o]) {
        on++;
        outside_gland += r->zones[o] != PHANTOM_PZ && r->zones[o] != PHANTOM_TZ;
      }
    }
    if (r->info.label) {
      pos++;
      assert_true(on > 0);
      assert_true(outside_gland <= on / 10 + 2); /* at most a rim of partial-volume pixels */
      assert_true(r->info.lesion_zone == PHANTOM_PZ || r->info.lesion_zone == PHANTOM_TZ);
    } else {
      neg++;
      assert_int_equal(on, 0);
      assert_int_equal(r->info.lesion_zone, 0);
    }
  }
  assert_int_equal(pos, 10); /* positive_fraction 0.5, spread evenly */
  assert_int_equal(neg, 10);
  free(r);
}

static void labels_spread_the_positive_fraction_over_every_prefix(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.positive_fraction = 0.3;
  int n = 0;
  for (uint64_t i = 0; i < 100; i++) {
    n += phantom_case_label(&p, i);
    if (i == 9) assert_int_equal(n, 3);
  }
  assert_int_equal(n, 30);
  p.positive_fraction = 0;
  assert_int_equal(phantom_case_label(&p, 5), 0);
  p.positive_fraction = 1;
  assert_int_equal(phantom_case_label(&p, 5), 1);
}

static void rendering_is_deterministic_per_seed_and_index(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.size = 64;
  uint8_t a[64 * 64 * 3], b[64 * 64 * 3], ma[64 * 64], mb[64 * 64];
  phantom_render(&p, 9, 3, a, ma, NULL, NULL);
  phantom_render(&p, 9, 3, b, mb, NULL, NULL);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_equal(ma, mb, sizeof ma);
  phantom_render(&p, 10, 3, b, mb, NULL, NULL);
  assert_memory_not_equal(a, b, sizeof a);
  phantom_render(&p, 9, 4, b, mb, NULL, NULL);
  assert_memory_not_equal(a, b, sizeof a);
}

static char *tmp_dir(void) {
  char tmpl[] = "/tmp/mdh-phantom-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return strdup(tmpl);
}

static void read_png(const char *dir, const char *rel, png_image8 *img) {
  char *path = fs_join(dir, rel);
  herr e = {{0}};
  if (png_read8(path, img, &e)) fail_msg("%s", e.msg);
  free(path);
}

static size_t progress_calls;
static void count_progress(void *user, size_t done, size_t total) { progress_calls++; }

static void a_smaller_set_is_a_prefix_of_a_larger_one(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.size = 48;
  char *small = tmp_dir(), *large = tmp_dir();
  herr e = {{0}};
  progress_calls = 0;
  phantom_hooks hooks = {.progress = count_progress};
  assert_int_equal(phantom_write_dataset(small, &p, 3, 77, &hooks, &e), 0);
  assert_int_equal(progress_calls, 3);
  assert_int_equal(phantom_write_dataset(large, &p, 7, 77, NULL, &e), 0);
  ds_manifest ms, ml;
  assert_int_equal(ds_manifest_read(small, &ms, &e), 0);
  assert_int_equal(ds_manifest_read(large, &ml, &e), 0);
  assert_int_equal(ms.n, 3);
  assert_int_equal(ml.n, 7);
  for (size_t i = 0; i < ms.n; i++) {
    const ds_case *a = &ms.cases[i], *b = &ml.cases[i];
    assert_string_equal(a->case_id, b->case_id);
    assert_int_equal(a->label, b->label);
    assert_int_equal(a->ok, 1);
    assert_string_equal(a->split, "");
    assert_int_equal(a->embed, 0);
    png_image8 ia, ib;
    read_png(small, a->image, &ia);
    read_png(large, b->image, &ib);
    assert_int_equal(ia.width, 48);
    assert_int_equal(ia.channels, 3);
    assert_memory_equal(ia.pixels, ib.pixels, 48 * 48 * 3);
    png_image8_free(&ia);
    png_image8_free(&ib);
    read_png(small, a->mask, &ia);
    assert_int_equal(ia.channels, 1);
    size_t on = 0;
    for (size_t o = 0; o < 48 * 48; o++) on += ia.pixels[o] != 0;
    assert_true(a->label ? on > 0 : on == 0);
    png_image8_free(&ia);
  }
  assert_string_equal(ms.cases[1].case_id, "phantom-000001");
  char *kind, *params;
  assert_int_equal(ds_read_info(small, &kind, &params, &e), 0);
  assert_string_equal(kind, "phantom");
  assert_non_null(strstr(params, "\"n\":3"));
  assert_non_null(strstr(params, "\"seed\":\"77\""));
  assert_non_null(strstr(params, "\"lesion_hbv_max\":1.5"));
  free(kind);
  free(params);
  ds_manifest_free(&ms);
  ds_manifest_free(&ml);
  fs_remove_tree(small, &e);
  fs_remove_tree(large, &e);
  free(small);
  free(large);
}

static int cancel_now(void *user) { return 1; }

static void a_cancelled_set_has_no_manifest(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  p.size = 32;
  char *dir = tmp_dir();
  herr e = {{0}};
  assert_int_equal(phantom_write_dataset(dir, &p, 2, 1, NULL, &e), 0);
  phantom_hooks hooks = {.cancelled = cancel_now};
  assert_int_equal(phantom_write_dataset(dir, &p, 2, 1, &hooks, &e), -1);
  assert_non_null(strstr(e.msg, "cancelled"));
  char *m = fs_join(dir, "manifest.csv");
  assert_false(fs_exists(m)); /* the old one was removed first */
  free(m);
  fs_remove_tree(dir, &e);
  free(dir);
}

static void parameters_are_checked_by_name(void **state) {
  phantom_params p;
  phantom_params_default(&p);
  herr e = {{0}};
  assert_int_equal(phantom_params_check(&p, &e), 0);
  assert_int_equal(phantom_param_set(&p, "lesion_t2w_min", "0.05", &e), 0);
  assert_int_equal(phantom_param_set(&p, "lesion_t2w_max", "0.05", &e), 0);
  assert_int_equal(phantom_params_check(&p, &e), 0); /* min 0.05 == max: a fixed contrast */
  assert_int_equal(phantom_param_set(&p, "lesion_t2w_max", "0.01", &e), 0);
  assert_int_equal(phantom_params_check(&p, &e), -1);
  assert_non_null(strstr(e.msg, "lesion_t2w_min = 0.05 is larger than lesion_t2w_max = 0.01"));
  assert_int_equal(phantom_param_set(&p, "size", "12.5", &e), -1);
  assert_non_null(strstr(e.msg, "size expects an integer in [16, 2048], got '12.5'"));
  assert_int_equal(phantom_param_set(&p, "noise_hbv", "abc", &e), -1);
  assert_int_equal(phantom_param_set(&p, "noise", "0.1", &e), -1);
  assert_non_null(strstr(e.msg, "no phantom parameter 'noise'"));
  phantom_params_default(&p);
  p.positive_fraction = 1.5;
  assert_int_equal(phantom_params_check(&p, &e), -1);
  assert_non_null(strstr(e.msg, "positive_fraction = 1.5 is outside [0, 1]"));
  /* Every table entry is in the JSON, and the defaults are inside their own ranges. */
  phantom_params_default(&p);
  char *j = phantom_params_json(&p);
  for (const phantom_param_desc *d = phantom_param_table; d->name; d++) {
    char key[80];
    snprintf(key, sizeof key, "\"%s\": ", d->name);
    assert_non_null(strstr(j, key));
  }
  free(j);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lesion_contrast_matches_the_parameters),
      cmocka_unit_test(lesion_contrast_survives_default_noise),
      cmocka_unit_test(masks_mark_lesions_inside_the_gland_only),
      cmocka_unit_test(labels_spread_the_positive_fraction_over_every_prefix),
      cmocka_unit_test(rendering_is_deterministic_per_seed_and_index),
      cmocka_unit_test(a_smaller_set_is_a_prefix_of_a_larger_one),
      cmocka_unit_test(a_cancelled_set_has_no_manifest),
      cmocka_unit_test(parameters_are_checked_by_name),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* harness/image/resize and crop: Pillow's Image.resize reproduced exactly (8-bit RGB/L and float
 * "F" images, every filter, up, down and one-axis sizes, against values Pillow 9.4 produced),
 * hand-computed cases, constant images, copies, u8 / f32 agreement, crops and mirrors. */
#include "test_main.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/image/crop.h"
#include "harness/image/resize.h"
#include "resize_pil_cases.h"

static const img_filter all_filters[] = {IMG_NEAREST, IMG_BILINEAR, IMG_BICUBIC, IMG_LANCZOS};

static void pil_source_u8(int c, unsigned char *px) {
  for (int y = 0; y < PIL_SH; y++)
    for (int x = 0; x < PIL_SW; x++)
      for (int ch = 0; ch < c; ch++)
        px[(y * PIL_SW + x) * c + ch] =
            (unsigned char)(((x * 37 + y * 23 + ch * 91) * 13 + ((x + y) % 3 == 0 ? 200 : 0)) % 256);
}

static void u8_matches_pillow_exactly(void **state) {
  (void)state;
  unsigned char src[PIL_SW * PIL_SH * 3];
  herr e;
  for (size_t i = 0; i < sizeof pil_cases / sizeof pil_cases[0]; i++) {
    const pil_case *k = &pil_cases[i];
    pil_source_u8(k->channels, src);
    size_t n = (size_t)(k->dw * k->dh * k->channels);
    unsigned char *got = malloc(n);
    assert_int_equal(img_resize_u8(src, PIL_SW, PIL_SH, k->channels, got, k->dw, k->dh, k->f, &e), 0);
    for (size_t j = 0; j < n; j++)
      if (got[j] != k->want[j])
        fail_msg("%s %dx%d c=%d: value %zu is %d, Pillow gives %d", img_filter_name(k->f), k->dw, k->dh,
                 k->channels, j, got[j], k->want[j]);
    free(got);
  }
}

static void f32_matches_pillow_float_mode(void **state) {
  (void)state;
  float src[PIL_SW * PIL_SH];
  for (int y = 0; y < PIL_SH; y++)
    for (int x = 0; x < PIL_SW; x++)
      src[y * PIL_SW + x] = (float)(((x * 5 + y * 3) % 7) * 0.25 - 0.6 + (x == 3 ? 1.5 : 0.0));
  herr e;
  for (size_t i = 0; i < sizeof pil_fcases / sizeof pil_fcases[0]; i++) {
    const pil_fcase *k = &pil_fcases[i];
    size_t n = (size_t)(k->dw * k->dh);
    float *got = malloc(n * sizeof *got);
    assert_int_equal(img_resize_f32(src, PIL_SW, PIL_SH, 1, got, k->dw, k->dh, k->f, &e), 0);
    for (size_t j = 0; j < n; j++)
      if (got[j] != k->want[j]) /* same double sums in the same order: bit-identical */
        fail_msg("%s %dx%d: value %zu is %.9g, Pillow gives %.9g", img_filter_name(k->f), k->dw, k->dh, j, got[j],
                 k->want[j]);
    free(got);
  }
}

static void hand_computed_cases(void **state) {
  (void)state;
  herr e;
  /* 4 -> 2 bilinear: the triangle widens to support 2; weights (.75, .75, .25) / 1.75. */
  float a[4] = {0, 70, 140, 210}, b[2];
  assert_int_equal(img_resize_f32(a, 4, 1, 1, b, 2, 1, IMG_BILINEAR, &e), 0);
  assert_float_equal(b[0], 50.0f, 1e-4);
  assert_float_equal(b[1], 160.0f, 1e-4);
  /* 2 -> 4 bilinear: the edge outputs see one tap only. */
  float c[2] = {0, 100}, d[4];
  assert_int_equal(img_resize_f32(c, 2, 1, 1, d, 4, 1, IMG_BILINEAR, &e), 0);
  assert_float_equal(d[0], 0.0f, 1e-6);
  assert_float_equal(d[1], 25.0f, 1e-5);
  assert_float_equal(d[2], 75.0f, 1e-5);
  assert_float_equal(d[3], 100.0f, 1e-6);
  /* Vertical pass alone, same numbers. */
  uint8_t col[4] = {0, 70, 140, 210}, col2[2];
  assert_int_equal(img_resize_u8(col, 1, 4, 1, col2, 1, 2, IMG_BILINEAR, &e), 0);
  assert_int_equal(col2[0], 50);
  assert_int_equal(col2[1], 160);
  /* nearest 5 -> 2 samples the pixel centres 1.25 and 3.75. */
  uint8_t n5[5] = {10, 20, 30, 40, 50}, n2[2];
  assert_int_equal(img_resize_u8(n5, 5, 1, 1, n2, 2, 1, IMG_NEAREST, &e), 0);
  assert_int_equal(n2[0], 20);
  assert_int_equal(n2[1], 40);
  /* bicubic upscale of a step overshoots: the 8-bit path clips at 0 and 255. */
  uint8_t step[4] = {0, 0, 255, 255}, up[8];
  assert_int_equal(img_resize_u8(step, 4, 1, 1, up, 8, 1, IMG_BICUBIC, &e), 0);
  assert_int_equal(up[0], 0);
  assert_int_equal(up[7], 255);
  float stepf[4] = {0, 0, 255, 255}, upf[8];
  assert_int_equal(img_resize_f32(stepf, 4, 1, 1, upf, 8, 1, IMG_BICUBIC, &e), 0);
  float lo = upf[0], hi = upf[0];
  for (int i = 0; i < 8; i++) lo = fminf(lo, upf[i]), hi = fmaxf(hi, upf[i]);
  assert_true(lo < 0.0f);
  assert_true(hi > 255.0f);
}

static void constant_image_stays_constant(void **state) {
  (void)state;
  enum { W = 13, H = 9 };
  float src[W * H * 3];
  uint8_t src8[W * H * 3];
  for (int i = 0; i < W * H * 3; i++) src[i] = (float)(i % 3) * 0.5f - 0.25f, src8[i] = (uint8_t)(77 + i % 3);
  const int sizes[][2] = {{5, 4}, {29, 31}, {13, 2}, {1, 9}, {2, 40}};
  herr e;
  for (int f = 0; f < 4; f++)
    for (int s = 0; s < 5; s++) {
      int dw = sizes[s][0], dh = sizes[s][1];
      float *d = malloc((size_t)(dw * dh * 3) * sizeof *d);
      uint8_t *d8 = malloc((size_t)(dw * dh * 3));
      assert_int_equal(img_resize_f32(src, W, H, 3, d, dw, dh, all_filters[f], &e), 0);
      assert_int_equal(img_resize_u8(src8, W, H, 3, d8, dw, dh, all_filters[f], &e), 0);
      for (int i = 0; i < dw * dh * 3; i++) {
        assert_float_equal(d[i], (float)(i % 3) * 0.5f - 0.25f, 1e-6);
        assert_int_equal(d8[i], 77 + i % 3);
      }
      free(d);
      free(d8);
    }
}

static void same_size_is_a_copy(void **state) {
  (void)state;
  float src[6 * 4 * 2], dst[6 * 4 * 2];
  uint8_t s8[6 * 4 * 2], d8[6 * 4 * 2];
  for (int i = 0; i < 48; i++) src[i] = (float)i * 1.37f - 9.0f, s8[i] = (uint8_t)(i * 53);
  herr e;
  for (int f = 0; f < 4; f++) {
    memset(dst, 0, sizeof dst);
    assert_int_equal(img_resize_f32(src, 6, 4, 2, dst, 6, 4, all_filters[f], &e), 0);
    assert_memory_equal(dst, src, sizeof src);
    assert_int_equal(img_resize_u8(s8, 6, 4, 2, d8, 6, 4, all_filters[f], &e), 0);
    assert_memory_equal(d8, s8, sizeof s8);
  }
}

/* A smooth image: no value gets near the clipping range, so the only difference between the
 * two paths is the 8-bit rounding (after each pass) and the fixed-point weights: the 8-bit
 * result is within one level of the rounded float result (not of the float itself: the two
 * roundings add up to a little more than one level at worst). */
static void u8_and_f32_agree_within_one_level(void **state) {
  (void)state;
  enum { W = 40, H = 30 };
  uint8_t s8[W * H * 3];
  float sf[W * H * 3];
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int c = 0; c < 3; c++) {
        double v = 128 + 60 * sin(x * 0.31 + c) * cos(y * 0.23 - c) + 20 * sin((x + y) * 0.11);
        s8[(y * W + x) * 3 + c] = (uint8_t)lround(v);
        sf[(y * W + x) * 3 + c] = (float)lround(v);
      }
  const int sizes[][2] = {{17, 13}, {64, 48}, {40, 11}, {9, 30}, {23, 57}};
  herr e;
  for (int f = 0; f < 4; f++)
    for (int s = 0; s < 5; s++) {
      int dw = sizes[s][0], dh = sizes[s][1];
      uint8_t *d8 = malloc((size_t)(dw * dh * 3));
      float *df = malloc((size_t)(dw * dh * 3) * sizeof *df);
      assert_int_equal(img_resize_u8(s8, W, H, 3, d8, dw, dh, all_filters[f], &e), 0);
      assert_int_equal(img_resize_f32(sf, W, H, 3, df, dw, dh, all_filters[f], &e), 0);
      for (int i = 0; i < dw * dh * 3; i++)
        if (labs((long)d8[i] - lround(df[i])) > 1)
          fail_msg("%s %dx%d: u8 %d vs f32 %.3f at %d", img_filter_name(all_filters[f]), dw, dh, d8[i], df[i], i);
      free(d8);
      free(df);
    }
}

static void bad_arguments_are_errors(void **state) {
  (void)state;
  float s[4] = {0}, d[16];
  herr e;
  assert_int_equal(img_resize_f32(s, 2, 2, 0, d, 2, 2, IMG_BICUBIC, &e), -1);
  assert_non_null(strstr(e.msg, "0 channels"));
  assert_int_equal(img_resize_f32(s, 2, 2, 5, d, 2, 2, IMG_BICUBIC, &e), -1);
  assert_int_equal(img_resize_f32(s, 2, 2, 1, d, 0, 2, IMG_BICUBIC, &e), -1);
  assert_non_null(strstr(e.msg, "target size 0x2"));
  assert_int_equal(img_resize_f32(s, -1, 2, 1, d, 2, 2, IMG_BICUBIC, &e), -1);
  assert_non_null(strstr(e.msg, "source size -1x2"));
  assert_int_equal(img_resize_f32(NULL, 2, 2, 1, d, 2, 2, IMG_BICUBIC, &e), -1);
  assert_int_equal(img_resize_f32(s, 2, 2, 1, d, 4, 4, (img_filter)9, &e), -1);
  img_filter f;
  assert_int_equal(img_filter_parse("Lanczos", &f, &e), 0);
  assert_int_equal(f, IMG_LANCZOS);
  assert_int_equal(img_filter_parse("nearest", &f, &e), 0);
  assert_int_equal(f, IMG_NEAREST);
  assert_int_equal(img_filter_parse("bicubic", &f, &e), 0);
  assert_int_equal(f, IMG_BICUBIC);
  assert_int_equal(img_filter_parse("hamming", &f, &e), -1);
  assert_non_null(strstr(e.msg, "'hamming'"));
  assert_non_null(strstr(e.msg, "nearest, bilinear, bicubic or lanczos"));
  assert_string_equal(img_filter_name(IMG_BILINEAR), "bilinear");
}

static void crop_copies_the_window(void **state) {
  (void)state;
  float img[5 * 4 * 2];
  for (int i = 0; i < 40; i++) img[i] = (float)i;
  float out[3 * 2 * 2];
  herr e;
  assert_int_equal(img_crop_f32(img, 5, 4, 2, 1, 2, 3, 2, out, &e), 0);
  /* row 2 starts at pixel 10 (value 20); the window starts at pixel 11 */
  const float want[] = {22, 23, 24, 25, 26, 27, 32, 33, 34, 35, 36, 37};
  assert_memory_equal(out, want, sizeof want);
  assert_int_equal(img_crop_f32(img, 5, 4, 2, 3, 0, 3, 2, out, &e), -1);
  assert_non_null(strstr(e.msg, "window 3x2 at (3, 0) is not inside the 5x4 image"));
  assert_int_equal(img_crop_f32(img, 5, 4, 2, -1, 0, 2, 2, out, &e), -1);
  assert_int_equal(img_crop_f32(img, 5, 4, 2, 0, 0, 0, 2, out, &e), -1);
  uint8_t i8[4 * 3], o8[2 * 2];
  for (int i = 0; i < 12; i++) i8[i] = (uint8_t)i;
  assert_int_equal(img_crop_u8(i8, 4, 3, 1, 2, 1, 2, 2, o8, &e), 0);
  const uint8_t w8[] = {6, 7, 10, 11};
  assert_memory_equal(o8, w8, sizeof w8);
}

static void hflip_mirrors_rows(void **state) {
  (void)state;
  float img[3 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  img_hflip_f32(img, 3, 2, 2);
  const float want[] = {5, 6, 3, 4, 1, 2, 11, 12, 9, 10, 7, 8};
  assert_memory_equal(img, want, sizeof want);
  img_hflip_f32(img, 3, 2, 2);
  img_hflip_f32(img, 3, 2, 2);
  assert_memory_equal(img, want, sizeof want);
  uint8_t r[4] = {1, 2, 3, 4};
  img_hflip_u8(r, 4, 1, 1);
  const uint8_t wr[] = {4, 3, 2, 1};
  assert_memory_equal(r, wr, sizeof wr);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(u8_matches_pillow_exactly),
      cmocka_unit_test(f32_matches_pillow_float_mode),
      cmocka_unit_test(hand_computed_cases),
      cmocka_unit_test(constant_image_stays_constant),
      cmocka_unit_test(same_size_is_a_copy),
      cmocka_unit_test(u8_and_f32_agree_within_one_level),
      cmocka_unit_test(bad_arguments_are_errors),
      cmocka_unit_test(crop_copies_the_window),
      cmocka_unit_test(hflip_mirrors_rows),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* harness/formats/png: round trips of pixels and text chunks (ASCII and UTF-8), the float to
 * 8-bit conversion diffusers uses, and clear errors for files that are not or no longer PNGs. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/png.h"
#include "harness/util/fsutil.h"

static char *tmp_path(const char *name) {
  static char dir[64];
  if (!dir[0]) {
    strcpy(dir, "/tmp/mdh-png-XXXXXX");
    assert_non_null(mkdtemp(dir));
  }
  return fs_join(dir, name);
}

static void rgb_round_trip_keeps_pixels_and_parameters(void **state) {
  (void)state;
  enum { W = 7, H = 5 };
  uint8_t px[W * H * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 37 + 11);
  const char *params = "a t2w prostate mri\nNegative prompt: \nSteps: 5, Sampler: PNDM, CFG scale: 7.5, Seed: 3";
  png_text_kv kv[] = {{"parameters", params}, {"prompt-utf8", "prostate – ADC µm²"}};
  char *p = tmp_path("rgb.png");
  herr e;
  assert_int_equal(png_write8(p, px, W, H, 3, kv, 2, &e), 0);
  png_image8 img;
  assert_int_equal(png_read8(p, &img, &e), 0);
  assert_int_equal(img.width, W);
  assert_int_equal(img.height, H);
  assert_int_equal(img.channels, 3);
  assert_memory_equal(img.pixels, px, sizeof px);
  assert_string_equal(png_image8_text(&img, "parameters"), params);
  assert_string_equal(png_image8_text(&img, "prompt-utf8"), "prostate – ADC µm²");
  assert_null(png_image8_text(&img, "absent"));
  png_image8_free(&img);
  free(p);
}

static void grey_and_rgba_round_trip(void **state) {
  (void)state;
  uint8_t px[4 * 3 * 4];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(255 - i);
  herr e;
  for (int ch = 1; ch <= 4; ch += 3) {
    char *p = tmp_path(ch == 1 ? "g.png" : "rgba.png");
    assert_int_equal(png_write8(p, px, 4, 3, ch, NULL, 0, &e), 0);
    png_image8 img;
    assert_int_equal(png_read8(p, &img, &e), 0);
    assert_int_equal(img.channels, ch);
    assert_memory_equal(img.pixels, px, (size_t)(4 * 3 * ch));
    assert_int_equal(img.n_text, 0);
    png_image8_free(&img);
    free(p);
  }
}

static void unit_floats_round_like_numpy(void **state) {
  (void)state;
  const float in[] = {0.0f, 1.0f, -0.5f, 2.0f, NAN, 0.5f, 1.5f / 255.0f, 2.5f / 255.0f, 0.2f};
  uint8_t out[9];
  png_from_unit_float(in, 9, out);
  /* (x * 255).round() in float32, half to even: 0.5 -> 127.5 -> 128; 1.5 -> 2; 2.5 -> 2 */
  const uint8_t want[] = {0, 255, 0, 255, 0, 128, 2, 2, 51};
  assert_memory_equal(out, want, 9);
}

static void not_a_png_names_the_file(void **state) {
  (void)state;
  char *p = tmp_path("text.png");
  herr e;
  assert_int_equal(fs_write_atomic(p, "hello, not an image", 19, &e), 0);
  png_image8 img;
  assert_int_not_equal(png_read8(p, &img, &e), 0);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "not a PNG"));
  free(p);
}

static void truncated_png_is_an_error(void **state) {
  (void)state;
  uint8_t px[16 * 16 * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7919 >> 3);
  char *p = tmp_path("cut.png");
  herr e;
  assert_int_equal(png_write8(p, px, 16, 16, 3, NULL, 0, &e), 0);
  size_t len;
  char *bytes = fs_read_file(p, &len, &e);
  assert_non_null(bytes);
  assert_int_equal(fs_write_atomic(p, bytes, len / 2, &e), 0);
  free(bytes);
  png_image8 img;
  assert_int_not_equal(png_read8(p, &img, &e), 0);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "corrupt or truncated"));
  free(p);
}

static void bad_write_arguments_are_errors(void **state) {
  (void)state;
  uint8_t px[12] = {0};
  char *p = tmp_path("bad.png");
  herr e;
  assert_int_not_equal(png_write8(p, px, 2, 2, 2, NULL, 0, &e), 0);
  assert_non_null(strstr(e.msg, "channels"));
  assert_int_not_equal(png_write8(p, px, 0, 2, 3, NULL, 0, &e), 0);
  png_text_kv kv = {"", "x"};
  assert_int_not_equal(png_write8(p, px, 2, 2, 3, &kv, 1, &e), 0);
  assert_false(fs_exists(p));
  free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rgb_round_trip_keeps_pixels_and_parameters),
      cmocka_unit_test(grey_and_rgba_round_trip),
      cmocka_unit_test(unit_floats_round_like_numpy),
      cmocka_unit_test(not_a_png_names_the_file),
      cmocka_unit_test(truncated_png_is_an_error),
      cmocka_unit_test(bad_write_arguments_are_errors),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

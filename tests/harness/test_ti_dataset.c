/* harness/train/ti_dataset: folders of training PNGs with captions (sorted, hidden files and
 * folders skipped), and image preparation: square crops (centre and seeded random), the PIL
 * resize, mirroring, grey/RGBA to RGB, CHW values x / 127.5 - 1, and errors naming the file. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/formats/png.h"
#include "harness/image/resize.h"
#include "harness/train/ti_dataset.h"
#include "harness/util/fsutil.h"

static char tmpdir[64];

static char *tmp_path(const char *name) {
  if (!tmpdir[0]) {
    strcpy(tmpdir, "/tmp/mdh-tids-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
  }
  return fs_join(tmpdir, name);
}

static void put_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* w x h image with c channels, value (x * 17 + y * 41 + ch * 83) % 256, written under name. */
static char *put_png(const char *name, int w, int h, int c, uint8_t *px_out) {
  uint8_t *px = malloc((size_t)(w * h * c));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++) px[(y * w + x) * c + ch] = (uint8_t)((x * 17 + y * 41 + ch * 83) % 256);
  char *p = tmp_path(name);
  herr e;
  if (png_write8(p, px, (uint32_t)w, (uint32_t)h, c, NULL, 0, &e)) fail_msg("%s", e.msg);
  if (px_out) memcpy(px_out, px, (size_t)(w * h * c));
  free(px);
  return p;
}

static float val(uint8_t v) { return (float)v / 127.5f - 1.0f; }

static void folder_lists_pngs_sorted_with_captions(void **state) {
  (void)state;
  char *dir = tmp_path("set");
  herr e;
  assert_int_equal(fs_mkdir_p(dir, &e), 0);
  char *paths[] = {fs_join(dir, "b.png"), fs_join(dir, "a.png"), fs_join(dir, "c.PNG"), fs_join(dir, "._a.png")};
  for (int i = 0; i < 4; i++) {
    uint8_t px[4 * 3] = {0};
    assert_int_equal(png_write8(paths[i], px, 2, 2, 1, NULL, 0, &e), 0);
  }
  char *cap = fs_join(dir, "a.txt"), *note = fs_join(dir, "notes.txt"), *sub = fs_join(dir, "d.png");
  put_text(cap, "  t2w prostate, csPCa \r\n\n");
  put_text(note, "not an image");
  assert_int_equal(mkdir(sub, 0777), 0);
  ti_image_set s;
  assert_int_equal(ti_image_set_from_dir(dir, &s, &e), 0);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.items[0].path, paths[1]);
  assert_string_equal(s.items[0].caption, "t2w prostate, csPCa");
  assert_string_equal(s.items[1].path, paths[0]);
  assert_string_equal(s.items[1].caption, "");
  assert_string_equal(s.items[2].path, paths[2]);
  assert_int_equal(ti_image_set_add(&s, "/x/y.png", NULL, &e), 0);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.items[3].caption, "");
  ti_image_set_free(&s);
  assert_int_equal(s.n, 0);
  for (int i = 0; i < 4; i++) free(paths[i]);
  free(cap);
  free(note);
  free(sub);
  free(dir);
}

static void folder_without_pngs_is_an_error(void **state) {
  (void)state;
  char *dir = tmp_path("empty");
  herr e;
  assert_int_equal(fs_mkdir_p(dir, &e), 0);
  char *txt = fs_join(dir, "x.txt");
  put_text(txt, "caption without image");
  ti_image_set s;
  assert_int_equal(ti_image_set_from_dir(dir, &s, &e), -1);
  assert_non_null(strstr(e.msg, dir));
  assert_non_null(strstr(e.msg, "no .png files"));
  assert_int_equal(s.n, 0);
  char *missing = tmp_path("no-such-dir");
  assert_int_equal(ti_image_set_from_dir(missing, &s, &e), -1);
  assert_non_null(strstr(e.msg, missing));
  free(missing);
  free(txt);
  free(dir);
}

static void centre_crop_without_resize_keeps_pixels(void **state) {
  (void)state;
  uint8_t px[6 * 4 * 3];
  char *p = put_png("wide.png", 6, 4, 3, px);
  ti_image_set s = {0};
  herr e;
  assert_int_equal(ti_image_set_add(&s, p, "", &e), 0);
  float out[3 * 4 * 4];
  assert_int_equal(ti_image_load(&s, 0, 4, TI_CROP_CENTER, IMG_BICUBIC, 0, NULL, out, &e), 0);
  /* side 4, x0 = (6 - 4) / 2 = 1; CHW: channel c, row y, column x */
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 4; x++) assert_float_equal(out[c * 16 + y * 4 + x], val(px[(y * 6 + x + 1) * 3 + c]), 0);
  assert_float_equal(val(0), -1.0f, 0);
  assert_float_equal(val(255), 1.0f, 0);
  /* mirrored: column x holds source column 3 - x of the crop */
  assert_int_equal(ti_image_load(&s, 0, 4, TI_CROP_CENTER, IMG_BICUBIC, 1, NULL, out, &e), 0);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 4; x++)
        assert_float_equal(out[c * 16 + y * 4 + x], val(px[(y * 6 + (3 - x) + 1) * 3 + c]), 0);
  ti_image_set_free(&s);
  free(p);
}

static void resize_is_the_8bit_pil_path(void **state) {
  (void)state;
  uint8_t px[5 * 9 * 3];
  char *p = put_png("tall.png", 5, 9, 3, px);
  ti_image_set s = {0};
  herr e;
  assert_int_equal(ti_image_set_add(&s, p, "", &e), 0);
  /* side 5, y0 = (9 - 5) / 2 = 2, then 5 -> 8 with lanczos on 8-bit values */
  uint8_t sq[5 * 5 * 3], rs[8 * 8 * 3];
  for (int y = 0; y < 5; y++) memcpy(sq + y * 15, px + (y + 2) * 15, 15);
  assert_int_equal(img_resize_u8(sq, 5, 5, 3, rs, 8, 8, IMG_LANCZOS, &e), 0);
  float out[3 * 8 * 8];
  assert_int_equal(ti_image_load(&s, 0, 8, TI_CROP_CENTER, IMG_LANCZOS, 0, NULL, out, &e), 0);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 64; i++) assert_float_equal(out[c * 64 + i], val(rs[i * 3 + c]), 0);
  ti_image_set_free(&s);
  free(p);
}

static void grey_and_rgba_become_rgb(void **state) {
  (void)state;
  uint8_t g[3 * 3], rgba[3 * 3 * 4];
  char *pg = put_png("grey.png", 3, 3, 1, g), *pa = put_png("rgba.png", 3, 3, 4, rgba);
  ti_image_set s = {0};
  herr e;
  assert_int_equal(ti_image_set_add(&s, pg, "", &e), 0);
  assert_int_equal(ti_image_set_add(&s, pa, "", &e), 0);
  float out[3 * 9];
  assert_int_equal(ti_image_load(&s, 0, 3, TI_CROP_CENTER, IMG_BILINEAR, 0, NULL, out, &e), 0);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 9; i++) assert_float_equal(out[c * 9 + i], val(g[i]), 0);
  assert_int_equal(ti_image_load(&s, 1, 3, TI_CROP_CENTER, IMG_BILINEAR, 0, NULL, out, &e), 0);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 9; i++) assert_float_equal(out[c * 9 + i], val(rgba[i * 4 + c]), 0);
  ti_image_set_free(&s);
  free(pg);
  free(pa);
}

static void random_crop_is_seeded(void **state) {
  (void)state;
  uint8_t px[10 * 4 * 3];
  char *p = put_png("strip.png", 10, 4, 3, px);
  ti_image_set s = {0};
  herr e;
  assert_int_equal(ti_image_set_add(&s, p, "", &e), 0);
  float a[3 * 16], b[3 * 16];
  int seen[7] = {0};
  for (uint64_t stream = 0; stream < 40; stream++) {
    rng r1, r2, ref;
    rng_seed(&r1, 11, stream);
    rng_seed(&r2, 11, stream);
    rng_seed(&ref, 11, stream);
    assert_int_equal(ti_image_load(&s, 0, 4, TI_CROP_RANDOM, IMG_NEAREST, 0, &r1, a, &e), 0);
    assert_int_equal(ti_image_load(&s, 0, 4, TI_CROP_RANDOM, IMG_NEAREST, 0, &r2, b, &e), 0);
    assert_memory_equal(a, b, sizeof a);
    int x0 = (int)rng_below(&ref, 7); /* x in [0, 10 - 4]; then y from [0, 1) */
    assert_int_equal(rng_below(&ref, 1), 0);
    assert_memory_equal(&r1, &ref, sizeof ref); /* exactly two draws */
    seen[x0]++;
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 4; x++) assert_float_equal(a[y * 4 + x], val(px[(y * 10 + x + x0) * 3]), 0);
  }
  int distinct = 0;
  for (int i = 0; i < 7; i++) distinct += seen[i] > 0;
  assert_true(distinct >= 4);
  assert_int_equal(ti_image_load(&s, 0, 4, TI_CROP_RANDOM, IMG_NEAREST, 0, NULL, a, &e), -1);
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "random stream"));
  ti_image_set_free(&s);
  free(p);
}

static void bad_images_name_the_file(void **state) {
  (void)state;
  char *bad = tmp_path("bad.png"), *gone = tmp_path("gone.png");
  put_text(bad, "this is not a png");
  ti_image_set s = {0};
  herr e;
  assert_int_equal(ti_image_set_add(&s, bad, "", &e), 0);
  assert_int_equal(ti_image_set_add(&s, gone, "", &e), 0);
  float out[3 * 4];
  assert_int_equal(ti_image_load(&s, 0, 2, TI_CROP_CENTER, IMG_BICUBIC, 0, NULL, out, &e), -1);
  assert_non_null(strstr(e.msg, bad));
  assert_int_equal(ti_image_load(&s, 1, 2, TI_CROP_CENTER, IMG_BICUBIC, 0, NULL, out, &e), -1);
  assert_non_null(strstr(e.msg, gone));
  assert_int_equal(ti_image_load(&s, 2, 2, TI_CROP_CENTER, IMG_BICUBIC, 0, NULL, out, &e), -1);
  assert_non_null(strstr(e.msg, "image 2 does not exist"));
  assert_int_equal(ti_image_load(&s, 0, 0, TI_CROP_CENTER, IMG_BICUBIC, 0, NULL, out, &e), -1);
  assert_non_null(strstr(e.msg, "size 0"));
  ti_image_set_free(&s);
  free(bad);
  free(gone);
}

static int remove_tmpdir(void **state) {
  (void)state;
  if (tmpdir[0]) fs_remove_tree(tmpdir, NULL);
  return 0;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(folder_lists_pngs_sorted_with_captions),
      cmocka_unit_test(folder_without_pngs_is_an_error),
      cmocka_unit_test(centre_crop_without_resize_keeps_pixels),
      cmocka_unit_test(resize_is_the_8bit_pil_path),
      cmocka_unit_test(grey_and_rgba_become_rgb),
      cmocka_unit_test(random_crop_is_seeded),
      cmocka_unit_test(bad_images_name_the_file),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, remove_tmpdir);
}

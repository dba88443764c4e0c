/* NIfTI-1 reading: headers built byte by byte (either byte order, scl_slope/inter, sform,
 * qform with qfac, method 1), RAS -> LPS, the harness's own writer round trip (.nii, .nii.gz),
 * and refusal of truncated files and unsupported variants with a clear reason. */
#include <stdlib.h>
#include <string.h>

#include "harness/util/fsutil.h"
#include "test_main.h"
#include "vol_fixture.h"

static char *tmpdir(void) {
  char t[] = "/tmp/mdh-nii-XXXXXX";
  if (!mkdtemp(t)) abort();
  return strdup(t);
}

/* A header under construction, in little- or big-endian byte order. */
typedef struct hb {
  unsigned char b[352 + 64];
  int big;
} hb;

static void put(hb *h, size_t off, const void *v, size_t n) {
  const unsigned char *p = v;
  for (size_t i = 0; i < n; i++) h->b[off + i] = h->big ? p[n - 1 - i] : p[i];
}
static void p16(hb *h, size_t off, int v) {
  int16_t x = (int16_t)v;
  put(h, off, &x, 2);
}
static void p32(hb *h, size_t off, int v) {
  int32_t x = v;
  put(h, off, &x, 4);
}
static void pf(hb *h, size_t off, double v) {
  float x = (float)v;
  put(h, off, &x, 4);
}

/* 2 x 2 x 2 int16 volume with values 0..7 (in the header's byte order). */
static void hb_init(hb *h, int big) {
  memset(h, 0, sizeof *h);
  h->big = big;
  p32(h, 0, 348);
  p16(h, 40, 3);
  for (int a = 1; a <= 7; a++) p16(h, 40 + 2 * a, a <= 3 ? 2 : 1);
  p16(h, 70, 4);
  p16(h, 72, 16);
  pf(h, 76, 1);
  for (int a = 1; a <= 3; a++) pf(h, 76 + 4 * a, 1);
  pf(h, 108, 352);
  memcpy(h->b + 344, "n+1", 4);
  for (int i = 0; i < 8; i++) p16(h, 352 + 2 * i, i);
}

static void sform(hb *h, const double rows[12]) {
  p16(h, 254, 1);
  for (int i = 0; i < 12; i++) pf(h, 280 + 4 * i, rows[i]);
}

static char *write_hb(const char *dir, const char *name, const hb *h, size_t len) {
  char *p = fs_join(dir, name);
  fx_spit(p, h->b, len);
  return p;
}

static void world_of(const vol3 *v, double i, double j, double k, double w[3]) {
  double idx[3] = {i, j, k};
  vol_index_to_world(v, idx, w);
}

static void big_endian_sform_and_scaling(void **state) {
  (void)state;
  char *d = tmpdir();
  hb h;
  hb_init(&h, 1);
  pf(&h, 112, 2.0); /* scl_slope */
  pf(&h, 116, 1.0); /* scl_inter */
  double rows[12] = {-0.5, 0, 0, 10, 0, -0.5, 0, 20, 0, 0, 3, -5};
  sform(&h, rows);
  char *p = write_hb(d, "be.nii", &h, 352 + 16);
  vol3 v;
  herr e;
  assert_int_equal(vol_read(p, &v, &e), 0);
  for (int i = 0; i < 8; i++) assert_float_equal(v.data[i], 2.0 * i + 1.0, 0);
  /* RAS (10, 20, -5) is LPS (-10, -20, -5); RAS -x/-y axes are LPS +x/+y. */
  assert_float_equal(v.origin[0], -10, 1e-6);
  assert_float_equal(v.origin[1], -20, 1e-6);
  assert_float_equal(v.origin[2], -5, 1e-6);
  assert_float_equal(v.spacing[0], 0.5, 1e-7);
  assert_float_equal(v.spacing[2], 3, 1e-7);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) assert_float_equal(v.dir[r * 3 + c], r == c, 1e-7);
  vol_free(&v);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

/* qform: 90 degrees about z, qfac -1, pixdim (1, 2, 3), offset (1, 2, 3). */
static void qform_with_qfac(void **state) {
  (void)state;
  char *d = tmpdir();
  hb h;
  hb_init(&h, 0);
  p16(&h, 252, 1);
  pf(&h, 76, -1);
  pf(&h, 80, 1), pf(&h, 84, 2), pf(&h, 88, 3);
  pf(&h, 264, sqrt(0.5));
  pf(&h, 268, 1), pf(&h, 272, 2), pf(&h, 276, 3);
  char *p = write_hb(d, "q.nii", &h, 352 + 16);
  vol3 v;
  herr e;
  assert_int_equal(vol_read(p, &v, &e), 0);
  double w[3];
  world_of(&v, 0, 0, 0, w);
  assert_float_equal(w[0], -1, 1e-6), assert_float_equal(w[1], -2, 1e-6), assert_float_equal(w[2], 3, 1e-6);
  world_of(&v, 1, 0, 0, w); /* RAS +y -> LPS -y */
  assert_float_equal(w[0], -1, 1e-6), assert_float_equal(w[1], -3, 1e-6), assert_float_equal(w[2], 3, 1e-6);
  world_of(&v, 0, 1, 0, w); /* RAS -x, 2 mm -> LPS +x */
  assert_float_equal(w[0], 1, 1e-6), assert_float_equal(w[1], -2, 1e-6), assert_float_equal(w[2], 3, 1e-6);
  world_of(&v, 0, 0, 1, w); /* qfac -1: -z, 3 mm */
  assert_float_equal(w[0], -1, 1e-6), assert_float_equal(w[1], -2, 1e-6), assert_float_equal(w[2], 0, 1e-6);
  vol_free(&v);

  /* A sheared sform is not an ITK geometry: the qform is used instead. */
  double sheared[12] = {1, 0.5, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  sform(&h, sheared);
  free(p);
  p = write_hb(d, "q2.nii", &h, 352 + 16);
  assert_int_equal(vol_read(p, &v, &e), 0);
  world_of(&v, 0, 1, 0, w);
  assert_float_equal(w[0], 1, 1e-6);
  vol_free(&v);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

static void method1_and_singleton_4d(void **state) {
  (void)state;
  char *d = tmpdir();
  hb h;
  hb_init(&h, 0);
  p16(&h, 40, 4); /* dim[4] is already 1 */
  pf(&h, 80, 0.7);
  char *p = write_hb(d, "m1.nii", &h, 352 + 16 + 5); /* trailing bytes are allowed */
  vol3 v;
  herr e;
  assert_int_equal(vol_read(p, &v, &e), 0);
  assert_float_equal(v.spacing[0], 0.7, 1e-7);
  double w[3];
  world_of(&v, 1, 1, 1, w);
  assert_float_equal(w[0], -0.7, 1e-6); /* index axes along RAS, so LPS -x */
  assert_float_equal(w[1], -1, 1e-6);
  assert_float_equal(w[2], 1, 1e-6);
  assert_float_equal(v.data[7], 7, 0);
  vol_free(&v);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

static void writer_round_trip_nii_and_gz(void **state) {
  (void)state;
  char *d = tmpdir();
  vol3 v = fx_volume(9, 7, 5, 0.5, 0.5, 3.6, -30.5, 12.25, -7, 15, -8);
  fx_fill_ramp(&v);
  const char *names[] = {"w.nii", "w.nii.gz"};
  for (int n = 0; n < 2; n++) {
    char *p = fs_join(d, names[n]);
    herr e;
    assert_int_equal(vol_write_nifti(p, &v, &e), 0);
    vol3 r;
    assert_int_equal(vol_read(p, &r, &e), 0);
    for (int a = 0; a < 3; a++) {
      assert_int_equal(r.n[a], v.n[a]);
      assert_float_equal(r.spacing[a], v.spacing[a], 1e-5);
      assert_float_equal(r.origin[a], v.origin[a], 1e-4);
    }
    for (int i = 0; i < 9; i++) assert_float_equal(r.dir[i], v.dir[i], 1e-5);
    assert_memory_equal(r.data, v.data, vol_voxels(&v) * sizeof(float));
    /* With the sform switched off, the qform describes the same geometry. */
    if (n == 0) {
      size_t len;
      unsigned char *b = fx_slurp(p, &len);
      b[254] = b[255] = 0;
      fx_spit(p, b, len);
      free(b);
      vol3 q;
      assert_int_equal(vol_read(p, &q, &e), 0);
      for (int i = 0; i < 9; i++) assert_float_equal(q.dir[i], v.dir[i], 1e-5);
      for (int a = 0; a < 3; a++) assert_float_equal(q.origin[a], v.origin[a], 1e-4);
      vol_free(&q);
    }
    vol_free(&r);
    free(p);
  }
  vol_free(&v);
  fs_remove_tree(d, NULL);
  free(d);
}

static void expect_error(const char *path, const char *needle) {
  vol3 r;
  herr e;
  herr_clear(&e);
  int rc = vol_read(path, &r, &e);
  if (rc == 0 || !strstr(e.msg, needle) || !strstr(e.msg, path))
    fail_msg("reading %s: rc %d, message '%s', expected one naming the file and containing '%s'", path, rc, e.msg,
             needle);
}

static void bad_files_refused(void **state) {
  (void)state;
  char *d = tmpdir();
  hb h;
  char *p;
  hb_init(&h, 0);
  p = write_hb(d, "short.nii", &h, 352 + 10);
  expect_error(p, "truncated");
  free(p);
  p = write_hb(d, "hdr.nii", &h, 200);
  expect_error(p, "348-byte");
  free(p);
  hb_init(&h, 0);
  memcpy(h.b + 344, "ni1", 4);
  p = write_hb(d, "pair.nii", &h, 368);
  expect_error(p, "two-file");
  free(p);
  hb_init(&h, 0);
  memcpy(h.b + 344, "xyz", 4);
  p = write_hb(d, "magic.nii", &h, 368);
  expect_error(p, "magic");
  free(p);
  hb_init(&h, 0);
  p32(&h, 0, 540);
  p = write_hb(d, "two.nii", &h, 368);
  expect_error(p, "NIfTI-2");
  free(p);
  hb_init(&h, 0);
  p16(&h, 70, 128), p16(&h, 72, 24);
  p = write_hb(d, "rgb.nii", &h, 368);
  expect_error(p, "datatype 128");
  free(p);
  hb_init(&h, 0);
  p16(&h, 72, 8);
  p = write_hb(d, "bitpix.nii", &h, 368);
  expect_error(p, "bitpix");
  free(p);
  hb_init(&h, 0);
  p16(&h, 40, 4), p16(&h, 48, 3);
  p = write_hb(d, "4d.nii", &h, 368);
  expect_error(p, "dim[4]");
  free(p);
  hb_init(&h, 0);
  p16(&h, 44, 0);
  p = write_hb(d, "dim0.nii", &h, 368);
  expect_error(p, "dim[2] = 0");
  free(p);
  hb_init(&h, 0);
  pf(&h, 108, 100);
  p = write_hb(d, "off.nii", &h, 368);
  expect_error(p, "vox_offset");
  free(p);
  hb_init(&h, 0);
  pf(&h, 84, 0);
  p = write_hb(d, "pix.nii", &h, 368);
  expect_error(p, "pixdim[2]");
  free(p);
  /* A gzip stream cut short. */
  vol3 v = fx_volume(32, 32, 8, 1, 1, 1, 0, 0, 0, 0, 0);
  fx_fill_ramp(&v);
  p = fs_join(d, "cut.nii.gz");
  assert_int_equal(vol_write_nifti(p, &v, NULL), 0);
  size_t len;
  free(fx_slurp(p, &len));
  fx_truncate(p, len / 2);
  expect_error(p, "gzip");
  free(p);
  vol_free(&v);
  fs_remove_tree(d, NULL);
  free(d);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(big_endian_sform_and_scaling),
      cmocka_unit_test(qform_with_qfac),
      cmocka_unit_test(method1_and_singleton_4d),
      cmocka_unit_test(writer_round_trip_nii_and_gz),
      cmocka_unit_test(bad_files_refused),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

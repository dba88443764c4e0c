/* MetaImage reading: geometry and voxels of files written by the harness and by hand (ITK's
 * key order, TransformMatrix rows as axes, big-endian shorts, .mhd + .raw, HeaderSize), and the
 * refusal of truncated data, trailing bytes and corrupt headers with a clear reason. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "test_main.h"
#include "vol_fixture.h"

static char *tmpdir(void) {
  char t[] = "/tmp/mdh-mha-XXXXXX";
  if (!mkdtemp(t)) abort();
  return strdup(t);
}

static void assert_same_geometry(const vol3 *a, const vol3 *b) {
  for (int i = 0; i < 3; i++) {
    assert_int_equal(a->n[i], b->n[i]);
    assert_true(fabs(a->spacing[i] - b->spacing[i]) < 1e-12);
    assert_true(fabs(a->origin[i] - b->origin[i]) < 1e-9);
  }
  for (int i = 0; i < 9; i++) assert_true(fabs(a->dir[i] - b->dir[i]) < 1e-12);
}

static void roundtrip_raw_and_compressed(void **state) {
  (void)state;
  char *d = tmpdir();
  vol3 v = fx_volume(7, 5, 4, 0.5, 0.6, 3.0, -10.5, 20.25, 3.0, 20, 10);
  fx_fill_ramp(&v);
  for (int compress = 0; compress < 2; compress++) {
    char *p = fs_join(d, compress ? "z.mha" : "r.mha");
    herr e;
    assert_int_equal(vol_write_metaimage(p, &v, compress, &e), 0);
    vol3 r;
    assert_int_equal(vol_read(p, &r, &e), 0);
    assert_same_geometry(&v, &r);
    assert_memory_equal(v.data, r.data, vol_voxels(&v) * sizeof(float));
    vol_free(&r);
    free(p);
  }
  vol_free(&v);
  fs_remove_tree(d, NULL);
  free(d);
}

/* A header as ITK writes it, with big-endian MET_SHORT: TransformMatrix's first row is the
 * direction of the first index axis. */
static void handwritten_msb_short_oblique(void **state) {
  (void)state;
  char *d = tmpdir(), *p = fs_join(d, "h.mha");
  const char *hdr =
      "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = True\n"
      "CompressedData = False\nTransformMatrix = 0 1 0 -1 0 0 0 0 1\nOffset = 1 2 3\n"
      "CenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\nElementSpacing = 0.5 0.25 2\n"
      "DimSize = 2 3 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n";
  size_t hl = strlen(hdr);
  unsigned char *buf = malloc(hl + 24);
  memcpy(buf, hdr, hl);
  for (int i = 0; i < 12; i++) {
    int16_t v = (int16_t)(i * 300 - 1000);
    buf[hl + 2 * i] = (unsigned char)((uint16_t)v >> 8);
    buf[hl + 2 * i + 1] = (unsigned char)((uint16_t)v & 0xff);
  }
  fx_spit(p, buf, hl + 24);
  vol3 r;
  herr e;
  assert_int_equal(vol_read_metaimage(p, &r, &e), 0);
  assert_int_equal(r.n[0], 2);
  assert_int_equal(r.n[1], 3);
  assert_int_equal(r.n[2], 2);
  for (int i = 0; i < 12; i++) assert_float_equal(r.data[i], i * 300 - 1000, 0);
  /* index (1, 0, 0) lies 0.5 mm along axis 0 = world +y; index (0, 1, 0) 0.25 mm along -x. */
  double i1[3] = {1, 0, 0}, j1[3] = {0, 1, 0}, w[3];
  vol_index_to_world(&r, i1, w);
  assert_float_equal(w[0], 1, 1e-12);
  assert_float_equal(w[1], 2.5, 1e-12);
  assert_float_equal(w[2], 3, 1e-12);
  vol_index_to_world(&r, j1, w);
  assert_float_equal(w[0], 0.75, 1e-12);
  assert_float_equal(w[1], 2, 1e-12);
  vol_free(&r);
  free(buf);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

/* .mhd with a separate data file, HeaderSize skipping a preamble, ElementSize as spacing. */
static void mhd_with_raw_file_and_header_size(void **state) {
  (void)state;
  char *d = tmpdir(), *p = fs_join(d, "a.mhd"), *raw = fs_join(d, "a.raw");
  FILE *f = fopen(p, "w");
  fputs(
      "ObjectType = Image\nNDims = 3\nDimSize = 2 2 1\nElementSize = 1.5 1.5 4\nHeaderSize = 3\n"
      "ElementType = MET_UCHAR\nElementDataFile = a.raw\n",
      f);
  fclose(f);
  unsigned char data[7] = {9, 9, 9, 10, 20, 30, 250};
  fx_spit(raw, data, sizeof data);
  vol3 r;
  herr e;
  assert_int_equal(vol_read(p, &r, &e), 0);
  assert_float_equal(r.spacing[0], 1.5, 0);
  assert_float_equal(r.spacing[2], 4, 0);
  assert_float_equal(r.data[0], 10, 0);
  assert_float_equal(r.data[3], 250, 0);
  vol_free(&r);
  /* HeaderSize = -1: the data is the end of the file. */
  f = fopen(p, "w");
  fputs("NDims = 3\nDimSize = 2 1 1\nHeaderSize = -1\nElementType = MET_UCHAR\nElementDataFile = a.raw\n", f);
  fclose(f);
  assert_int_equal(vol_read(p, &r, &e), 0);
  assert_float_equal(r.data[0], 30, 0);
  assert_float_equal(r.data[1], 250, 0);
  vol_free(&r);
  free(p);
  free(raw);
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

static void truncated_data_refused(void **state) {
  (void)state;
  char *d = tmpdir();
  vol3 v = fx_volume(16, 16, 4, 1, 1, 1, 0, 0, 0, 0, 0);
  fx_fill_ramp(&v);
  char *raw = fs_join(d, "raw.mha"), *z = fs_join(d, "z.mha");
  assert_int_equal(vol_write_metaimage(raw, &v, false, NULL), 0);
  assert_int_equal(vol_write_metaimage(z, &v, true, NULL), 0);
  size_t rl, zl;
  free(fx_slurp(raw, &rl));
  free(fx_slurp(z, &zl));
  fx_truncate(raw, rl - 10);
  expect_error(raw, "truncated");
  fx_truncate(z, zl - 40);
  expect_error(z, "truncated");
  /* Extra bytes after the voxels: the header does not describe the file. */
  assert_int_equal(vol_write_metaimage(raw, &v, false, NULL), 0);
  unsigned char *b = fx_slurp(raw, &rl);
  b = realloc(b, rl + 4);
  memset(b + rl, 0, 4);
  fx_spit(raw, b, rl + 4);
  free(b);
  expect_error(raw, "bytes of voxel data");
  vol_free(&v);
  free(raw);
  free(z);
  fs_remove_tree(d, NULL);
  free(d);
}

/* A compressed stream whose bytes were damaged (not just cut short). */
static void corrupt_compressed_stream_refused(void **state) {
  (void)state;
  char *d = tmpdir(), *p = fs_join(d, "c.mha");
  vol3 v = fx_volume(16, 16, 4, 1, 1, 1, 0, 0, 0, 0, 0);
  fx_fill_ramp(&v);
  assert_int_equal(vol_write_metaimage(p, &v, true, NULL), 0);
  size_t len;
  unsigned char *b = fx_slurp(p, &len);
  for (size_t i = len - 200; i < len - 100; i++) b[i] ^= 0x5a;
  fx_spit(p, b, len);
  free(b);
  expect_error(p, "compressed");
  vol_free(&v);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

static void corrupt_headers_refused(void **state) {
  (void)state;
  static const struct {
    const char *header, *needle;
  } cases[] = {
      {"NDims = 3\nDimSize = 2 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n", "expected 3 numbers"},
      {"NDims = 4\nDimSize = 2 2 2 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n", "NDims"},
      {"NDims = 3\nDimSize = 2 2 0\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n", "DimSize"},
      {"NDims = 3\nDimSize = 100000 100000 1000\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n", "voxels"},
      {"NDims = 3\nDimSize = 2 2 2\nElementType = MET_FLOAT_MATRIX\nElementDataFile = LOCAL\n", "ElementType"},
      {"NDims = 3\nDimSize = 2 2 2\nElementNumberOfChannels = 3\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
       "single-channel"},
      {"NDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\n", "ElementDataFile"},
      {"NDims = 3\nDimSize = 2 2 2\nElementDataFile = LOCAL\n", "no ElementType"},
      {"NDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 0 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
       "spacing"},
      {"NDims = 3\nDimSize = 2 2 2\nTransformMatrix = 1 0 0 1 0 0 0 0 1\nElementType = MET_UCHAR\n"
       "ElementDataFile = LOCAL\n",
       "orthonormal"},
      {"NDims = 3\nDimSize = 2 2 2\nCompressedData = maybe\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n",
       "True or False"},
      {"NDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\nElementDataFile = LIST\n", "multi-file"},
      {"NDims = 3\nDimSize = 2 2 2\nElementType = MET_UCHAR\nElementDataFile = /etc/passwd\n", "absolute"},
      {"\x89PNG\r\n\x1a\n garbage", "binary bytes"},
  };
  char *d = tmpdir(), *p = fs_join(d, "bad.mha");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t hl = strlen(cases[i].header);
    unsigned char *b = calloc(1, hl + 8);
    memcpy(b, cases[i].header, hl);
    fx_spit(p, b, hl + 8);
    free(b);
    expect_error(p, cases[i].needle);
  }
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

static void non_finite_voxels_refused(void **state) {
  (void)state;
  char *d = tmpdir(), *p = fs_join(d, "nan.mha");
  vol3 v = fx_volume(2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0);
  v.data[5] = NAN;
  assert_int_equal(vol_write_metaimage(p, &v, false, NULL), 0);
  expect_error(p, "not a finite number");
  vol_free(&v);
  free(p);
  fs_remove_tree(d, NULL);
  free(d);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(roundtrip_raw_and_compressed),      cmocka_unit_test(handwritten_msb_short_oblique),
      cmocka_unit_test(mhd_with_raw_file_and_header_size), cmocka_unit_test(truncated_data_refused),
      cmocka_unit_test(corrupt_compressed_stream_refused), cmocka_unit_test(corrupt_headers_refused),
      cmocka_unit_test(non_finite_voxels_refused),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

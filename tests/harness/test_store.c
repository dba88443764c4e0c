/* Tests for the HDF5 results store: a full stage file round-trips exactly (config, provenance,
 * metrics, series, arrays, artifacts), the on-disk layout is what results/README.md says, and
 * store_open refuses files that are not finished stage files. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/store/store.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

/* ---- fixtures ---- */

typedef struct tmp {
  char dir[64];
  char path[128];
} tmp;

static void tmp_make(tmp *t) {
  snprintf(t->dir, sizeof t->dir, "/tmp/mdh_store_XXXXXX");
  assert_non_null(mkdtemp(t->dir));
  snprintf(t->path, sizeof t->path, "%s/stage.h5", t->dir);
}

static void tmp_free(tmp *t) {
  herr e;
  assert_int_equal(fs_remove_tree(t->dir, &e), 0);
}

static const char *k_yaml = "kind: train\nseed: 12345\nmodel:\n  name: tiny-sd\n  lr: 1.0e-4\n";

static store_provenance sample_provenance(void) {
  return (store_provenance){.harness_version = "0.1.0",
                            .git_commit = "abc123def456",
                            .libtorch_version = "2.1.2",
                            .device = "cuda:0 (NVIDIA H100 80GB HBM3)",
                            .host = "node-7",
                            .start_time = "2026-11-25T10:46:03Z",
                            .end_time = "2026-11-25T10:50:00Z",
                            .seed = 18446744073709551557ull,
                            .threads = 16};
}

static double loss_at(size_t i) { return 1.0 / (double)(i + 1) + 1e-3 * sin((double)i); }

static store_writer *create_ok(const char *path) {
  herr e = {{0}};
  store_writer *w = store_create(path, "s1-train", "train", "lr=1e-4", &e);
  if (!w) fail_msg("store_create: %s", e.msg);
  return w;
}

static void close_ok(store_writer *w) {
  herr e = {{0}};
  if (store_close(w, &e) != 0) fail_msg("store_close: %s", e.msg);
}

static store_reader *open_ok(const char *path) {
  herr e = {{0}};
  store_reader *r = store_open(path, &e);
  if (!r) fail_msg("store_open: %s", e.msg);
  return r;
}

#define OK(call)                                              \
  do {                                                        \
    herr e_ = {{0}};                                          \
    herr *e = &e_;                                            \
    if ((call) != 0) fail_msg("%s: %s", #call, e_.msg);       \
  } while (0)

static store_series *series_ok(store_writer *w, const char *name, const char *const *cols,
                               size_t n) {
  herr e = {{0}};
  store_series *s = store_series_create(w, name, cols, n, &e);
  if (!s) fail_msg("store_series_create(%s): %s", name, e.msg);
  return s;
}

/* The stage file most tests read: everything the store can hold. */
static void write_full(const char *path) {
  store_writer *w = create_ok(path);
  store_provenance p = sample_provenance();
  OK(store_put_config(w, k_yaml, e));
  OK(store_put_provenance(w, &p, e));
  OK(store_put_metric(w, "test/auc", 0.875, e));
  OK(store_put_metric(w, "test/ci/low", 0.8125, e));
  OK(store_put_metric(w, "train.loss_final", 0.03125, e));
  OK(store_put_metric(w, "steps", 5100, e));
  OK(store_put_metric_str(w, "best_model", "epoch-7", e));

  const char *cols[] = {"step", "loss", "lr"};
  store_series *s = series_ok(w, "train/loss", cols, 3);
  for (size_t i = 0; i < 5000; i++) {
    double row[3] = {(double)i, loss_at(i), 1e-4 * (double)(i % 7)};
    OK(store_series_append(s, row, e));
  }
  double block[100 * 3];
  for (size_t i = 0; i < 100; i++) {
    block[3 * i] = (double)(5000 + i);
    block[3 * i + 1] = loss_at(5000 + i);
    block[3 * i + 2] = -1.5;
  }
  OK(store_series_append_rows(s, block, 100, e));
  OK(store_series_close(s, e));

  const size_t d2x3[] = {2, 3}, d4[] = {4}, d2x2x2[] = {2, 2, 2};
  const double f64[] = {0.1, -2.5, 1e300, -0.0, 3.0, 1.0 / 3.0};
  const float f32[] = {1.5f, -2.25f, 3.1f, 1e-30f};
  const int32_t i32[] = {INT32_MIN, -1, 0, INT32_MAX};
  const int64_t i64[] = {-(INT64_C(1) << 53), -7, INT64_C(123456789012), INT64_C(1) << 53};
  const uint8_t u8[] = {0, 1, 7, 127, 128, 200, 254, 255};
  OK(store_put_array(w, "f64", STORE_F64, 2, d2x3, f64, e));
  OK(store_put_array(w, "f32", STORE_F32, 1, d4, f32, e));
  OK(store_put_array(w, "ints/i32", STORE_I32, 1, d4, i32, e));
  OK(store_put_array(w, "ints/i64", STORE_I64, 1, d4, i64, e));
  OK(store_put_array(w, "u8", STORE_U8, 3, d2x2x2, u8, e));

  OK(store_put_artifact(w, "samples/grid", "images/grid.png", e));
  OK(store_put_artifact(w, "checkpoint", "ckpt/final.safetensors", e));
  close_ok(w);
}

/* Opens the file with plain HDF5 (no store code) for checks of the on-disk layout. */
static hid_t raw_open(const char *path, unsigned flags) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, flags, H5P_DEFAULT);
  assert_true(f >= 0);
  return f;
}

static long long raw_int_attr(hid_t obj, const char *name) {
  long long v = -999;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0);
  H5Aclose(a);
  return v;
}

static void raw_set_str_attr(hid_t obj, const char *name, const char *value) {
  if (H5Aexists(obj, name) > 0) assert_true(H5Adelete(obj, name) >= 0);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Awrite(a, t, &value) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

static void raw_set_int_attr(hid_t obj, const char *name, int value) {
  if (H5Aexists(obj, name) > 0) assert_true(H5Adelete(obj, name) >= 0);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0);
  assert_true(H5Awrite(a, H5T_NATIVE_INT, &value) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
}

static void expect_open_error(const char *path, const char *needle) {
  herr e = {{0}};
  store_reader *r = store_open(path, &e);
  if (r) {
    store_reader_close(r);
    fail_msg("store_open(%s) succeeded; expected an error containing '%s'", path, needle);
  }
  if (!strstr(e.msg, needle)) fail_msg("message '%s' lacks '%s'", e.msg, needle);
  if (!strstr(e.msg, path)) fail_msg("message '%s' does not name the file", e.msg);
}

static void free_strs(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* ---- round trips ---- */

static void store_roundtrip_root_attributes_and_config(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  assert_string_equal(store_stage_id(r), "s1-train");
  assert_string_equal(store_kind(r), "train");
  assert_string_equal(store_variant(r), "lr=1e-4");
  herr e = {{0}};
  char *cfg = store_get_config(r, &e);
  assert_non_null(cfg);
  assert_string_equal(cfg, k_yaml);
  free(cfg);
  store_reader_close(r);

  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  assert_int_equal(raw_int_attr(f, "format_version"), 1);
  assert_int_equal(raw_int_attr(f, "complete"), 1);
  /* strings are variable-length UTF-8 so h5py returns str */
  hid_t a = H5Aopen(f, "format", H5P_DEFAULT);
  hid_t ty = H5Aget_type(a);
  assert_true(H5Tis_variable_str(ty) > 0);
  assert_int_equal(H5Tget_cset(ty), H5T_CSET_UTF8);
  H5Tclose(ty);
  H5Aclose(a);
  hid_t d = H5Dopen2(f, "config", H5P_DEFAULT);
  ty = H5Dget_type(d);
  assert_true(H5Tis_variable_str(ty) > 0);
  assert_int_equal(H5Tget_cset(ty), H5T_CSET_UTF8);
  H5Tclose(ty);
  H5Dclose(d);
  const char *groups[] = {"provenance", "metrics", "series", "arrays", "artifacts"};
  for (size_t i = 0; i < 5; i++) assert_true(H5Lexists(f, groups[i], H5P_DEFAULT) > 0);
  H5Fclose(f);
  tmp_free(&t);
}

static void store_roundtrip_provenance_strings_seed_threads(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  const char *want[][2] = {{"harness_version", "0.1.0"},
                           {"git_commit", "abc123def456"},
                           {"libtorch_version", "2.1.2"},
                           {"device", "cuda:0 (NVIDIA H100 80GB HBM3)"},
                           {"host", "node-7"},
                           {"start_time", "2026-11-25T10:46:03Z"},
                           {"end_time", "2026-11-25T10:50:00Z"},
                           {"seed", "18446744073709551557"},
                           {"threads", "16"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    herr e = {{0}};
    char *v = store_get_provenance(r, want[i][0], &e);
    if (!v) fail_msg("%s: %s", want[i][0], e.msg);
    assert_string_equal(v, want[i][1]);
    free(v);
  }
  store_reader_close(r);

  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  hid_t g = H5Gopen2(f, "provenance", H5P_DEFAULT);
  hid_t a = H5Aopen(g, "seed", H5P_DEFAULT), ty = H5Aget_type(a);
  assert_true(H5Tequal(ty, H5T_STD_U64LE) > 0);
  H5Tclose(ty);
  H5Aclose(a);
  a = H5Aopen(g, "threads", H5P_DEFAULT), ty = H5Aget_type(a);
  assert_true(H5Tequal(ty, H5T_STD_I32LE) > 0);
  H5Tclose(ty);
  H5Aclose(a);
  H5Gclose(g);
  H5Fclose(f);
  tmp_free(&t);
}

static void store_provenance_second_call_overwrites_and_null_is_empty(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  store_provenance p = sample_provenance();
  p.end_time = NULL;
  OK(store_put_provenance(w, &p, e));
  p.end_time = "2026-11-25T11:00:00Z";
  p.host = NULL;
  p.threads = 4;
  OK(store_put_provenance(w, &p, e));
  close_ok(w);
  store_reader *r = open_ok(t.path);
  herr e = {{0}};
  char *v = store_get_provenance(r, "end_time", &e);
  assert_string_equal(v, "2026-11-25T11:00:00Z");
  free(v);
  v = store_get_provenance(r, "host", &e);
  assert_string_equal(v, "");
  free(v);
  v = store_get_provenance(r, "threads", &e);
  assert_string_equal(v, "4");
  free(v);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_metrics_nested_names_read_back_exactly(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  double v = -1;
  OK(store_get_metric(r, "test/auc", &v, e));
  assert_true(v == 0.875);
  OK(store_get_metric(r, "test/ci/low", &v, e));
  assert_true(v == 0.8125);
  OK(store_get_metric(r, "train.loss_final", &v, e));
  assert_true(v == 0.03125);
  OK(store_get_metric(r, "steps", &v, e));
  assert_true(v == 5100.0);
  herr e = {{0}};
  char *s = store_get_metric_str(r, "best_model", &e);
  assert_non_null(s);
  assert_string_equal(s, "epoch-7");
  free(s);
  /* a string metric is not a number and vice versa */
  assert_int_equal(store_get_metric(r, "best_model", &v, &e), -1);
  assert_non_null(strstr(e.msg, "best_model"));
  assert_null(store_get_metric_str(r, "test/auc", &e));
  store_reader_close(r);
  tmp_free(&t);
}

static void store_list_metrics_gives_sorted_numeric_full_paths(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  char **names = NULL;
  size_t n = 0;
  OK(store_list_metrics(r, &names, &n, e));
  const char *want[] = {"steps", "test/auc", "test/ci/low", "train.loss_final"};
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) assert_string_equal(names[i], want[i]);
  free_strs(names, n);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_metric_reput_overwrites_value(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  OK(store_put_metric(w, "val/loss", 2.0, e));
  OK(store_put_metric(w, "val/loss", 0.5, e));
  OK(store_put_metric_str(w, "best", "a", e));
  OK(store_put_metric_str(w, "best", "b", e));
  close_ok(w);
  store_reader *r = open_ok(t.path);
  double v = 0;
  OK(store_get_metric(r, "val/loss", &v, e));
  assert_true(v == 0.5);
  herr e = {{0}};
  char *s = store_get_metric_str(r, "best", &e);
  assert_string_equal(s, "b");
  free(s);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_series_5000_single_appends_plus_block_exact(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  double *rows = NULL;
  size_t nrows = 0, ncols = 0;
  char **cols = NULL;
  OK(store_get_series(r, "train/loss", &rows, &nrows, &cols, &ncols, e));
  assert_int_equal(nrows, 5100);
  assert_int_equal(ncols, 3);
  assert_string_equal(cols[0], "step");
  assert_string_equal(cols[1], "loss");
  assert_string_equal(cols[2], "lr");
  for (size_t i = 0; i < nrows; i++) {
    const double *row = rows + 3 * i;
    if (row[0] != (double)i || row[1] != loss_at(i) ||
        row[2] != (i < 5000 ? 1e-4 * (double)(i % 7) : -1.5))
      fail_msg("row %zu differs: %g %g %g", i, row[0], row[1], row[2]);
  }
  free(rows);
  free_strs(cols, ncols);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_series_dataset_is_chunked_1024_shuffle_deflate_with_columns_attr(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  hid_t d = H5Dopen2(f, "series/train/loss", H5P_DEFAULT);
  assert_true(d >= 0);
  hid_t dcpl = H5Dget_create_plist(d);
  assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
  hsize_t chunk = 0;
  assert_int_equal(H5Pget_chunk(dcpl, 1, &chunk), 1);
  assert_int_equal(chunk, 1024);
  int nfilters = H5Pget_nfilters(dcpl);
  assert_int_equal(nfilters, 2);
  unsigned flags, level = 0;
  size_t nvals = 1;
  assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &nvals, &level, 0, NULL, NULL), H5Z_FILTER_SHUFFLE);
  nvals = 1;
  assert_int_equal(H5Pget_filter2(dcpl, 1, &flags, &nvals, &level, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
  assert_int_equal(level, 4);
  H5Pclose(dcpl);
  hid_t sp = H5Dget_space(d);
  hsize_t dims, maxdims;
  assert_int_equal(H5Sget_simple_extent_dims(sp, &dims, &maxdims), 1);
  assert_int_equal(dims, 5100);
  assert_true(maxdims == H5S_UNLIMITED);
  H5Sclose(sp);
  hid_t ty = H5Dget_type(d);
  assert_int_equal(H5Tget_class(ty), H5T_COMPOUND);
  assert_int_equal(H5Tget_nmembers(ty), 3);
  hid_t mt = H5Tget_member_type(ty, 1);
  assert_true(H5Tequal(mt, H5T_IEEE_F64LE) > 0);
  H5Tclose(mt);
  H5Tclose(ty);
  hid_t a = H5Aopen(d, "columns", H5P_DEFAULT);
  hid_t at = H5Aget_type(a);
  char *cols = NULL;
  assert_true(H5Aread(a, at, &cols) >= 0);
  assert_string_equal(cols, "step,loss,lr");
  H5free_memory(cols);
  H5Tclose(at);
  H5Aclose(a);
  H5Dclose(d);
  H5Fclose(f);
  tmp_free(&t);
}

static void store_series_buffered_rows_are_written_by_store_close(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  const char *cols[] = {"x"};
  store_series *s = series_ok(w, "a", cols, 1);
  store_series *empty = series_ok(w, "b/empty", cols, 1);
  (void)empty;
  for (int i = 0; i < 300; i++) { /* one flushed block of 256 plus 44 still buffered */
    double x = i * 0.5;
    OK(store_series_append(s, &x, e));
  }
  close_ok(w); /* without store_series_close */
  store_reader *r = open_ok(t.path);
  double *rows;
  size_t nrows, ncols;
  char **names;
  OK(store_get_series(r, "a", &rows, &nrows, &names, &ncols, e));
  assert_int_equal(nrows, 300);
  for (size_t i = 0; i < 300; i++) assert_true(rows[i] == (double)i * 0.5);
  free(rows);
  free_strs(names, ncols);
  OK(store_get_series(r, "b/empty", &rows, &nrows, &names, &ncols, e));
  assert_int_equal(nrows, 0);
  assert_int_equal(ncols, 1);
  assert_string_equal(names[0], "x");
  free(rows);
  free_strs(names, ncols);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_series_recreate_same_name_is_error(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  const char *cols[] = {"loss"};
  store_series *s = series_ok(w, "loss", cols, 1);
  OK(store_series_close(s, e));
  herr e = {{0}};
  assert_null(store_series_create(w, "loss", cols, 1, &e));
  assert_non_null(strstr(e.msg, "'loss' already exists"));
  assert_non_null(strstr(e.msg, t.path));
  close_ok(w);
  tmp_free(&t);
}

static void store_series_invalid_column_names_are_errors(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  const char *dup[] = {"a", "b", "a"}, *empty[] = {"a", ""}, *slash[] = {"a/b"},
             *comma[] = {"a,b"}, *null_col[] = {"a", NULL};
  const struct {
    const char *const *cols;
    size_t n;
    const char *needle;
  } cases[] = {{dup, 3, "duplicate column name 'a'"},
               {empty, 2, "column 2 has an empty name"},
               {slash, 1, "invalid column name 'a/b'"},
               {comma, 1, "invalid column name 'a,b'"},
               {null_col, 2, "column 2 has an empty name"},
               {dup, 0, "no columns"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    herr e = {{0}};
    char name[16];
    snprintf(name, sizeof name, "s%zu", i);
    assert_null(store_series_create(w, name, cases[i].cols, cases[i].n, &e));
    if (!strstr(e.msg, cases[i].needle)) fail_msg("case %zu: '%s'", i, e.msg);
  }
  close_ok(w);
  tmp_free(&t);
}

static void store_invalid_metric_and_series_names_are_errors(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  char longname[300];
  memset(longname, 'a', 256);
  longname[256] = '\0';
  const char *bad[] = {"", "/abs", "trailing/", "a//b", "with space", "ümlaut", "a/./b", "..",
                       "tab\tx", longname};
  const char *cols[] = {"v"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    herr e = {{0}};
    assert_int_equal(store_put_metric(w, bad[i], 1.0, &e), -1);
    assert_non_null(strstr(e.msg, "invalid metric name"));
    if (i < 9) assert_non_null(strstr(e.msg, bad[i]));
    assert_int_equal(store_put_metric_str(w, bad[i], "x", &e), -1);
    assert_null(store_series_create(w, bad[i], cols, 1, &e));
    assert_non_null(strstr(e.msg, "invalid series name"));
    const size_t d1[] = {1};
    const double one = 1;
    assert_int_equal(store_put_array(w, bad[i], STORE_F64, 1, d1, &one, &e), -1);
    assert_int_equal(store_put_artifact(w, bad[i], "x.png", &e), -1);
  }
  herr e = {{0}};
  assert_int_equal(store_put_metric(w, NULL, 1.0, &e), -1);
  /* the longest allowed name works */
  longname[255] = '\0';
  OK(store_put_metric(w, longname, 1.0, e));
  close_ok(w);
  tmp_free(&t);
}

static void store_metric_path_through_existing_metric_or_onto_group_is_error(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  OK(store_put_metric(w, "a", 1.0, e));
  OK(store_put_metric(w, "g/x", 2.0, e));
  herr e = {{0}};
  assert_int_equal(store_put_metric(w, "a/b", 1.0, &e), -1);
  assert_non_null(strstr(e.msg, "/metrics/a is a dataset, not a group"));
  assert_int_equal(store_put_metric(w, "g", 1.0, &e), -1);
  assert_non_null(strstr(e.msg, "/metrics/g is a group"));
  close_ok(w);
  store_reader *r = open_ok(t.path);
  double v = 0;
  OK(store_get_metric(r, "g/x", &v, e));
  assert_true(v == 2.0);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_arrays_every_dtype_exact(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  const struct {
    const char *name;
    size_t ndims, dims[3];
    double want[8];
    hid_t file_type;
  } cases[] = {
      {"f64", 2, {2, 3}, {0.1, -2.5, 1e300, -0.0, 3.0, 1.0 / 3.0}, H5T_IEEE_F64LE},
      {"f32", 1, {4}, {1.5, -2.25, (double)3.1f, (double)1e-30f}, H5T_IEEE_F32LE},
      {"ints/i32", 1, {4}, {(double)INT32_MIN, -1, 0, (double)INT32_MAX}, H5T_STD_I32LE},
      {"ints/i64", 1, {4}, {-9007199254740992.0, -7, 123456789012.0, 9007199254740992.0},
       H5T_STD_I64LE},
      {"u8", 3, {2, 2, 2}, {0, 1, 7, 127, 128, 200, 254, 255}, H5T_STD_U8LE},
  };
  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    double *data = NULL;
    size_t ndims = 0, dims[8] = {0};
    OK(store_get_array_f64(r, cases[c].name, &data, &ndims, dims, e));
    assert_int_equal(ndims, cases[c].ndims);
    size_t n = 1;
    for (size_t i = 0; i < ndims; i++) {
      assert_int_equal(dims[i], cases[c].dims[i]);
      n *= dims[i];
    }
    for (size_t i = 0; i < n; i++)
      if (data[i] != cases[c].want[i] || signbit(data[i]) != signbit(cases[c].want[i]))
        fail_msg("%s[%zu] = %.17g, want %.17g", cases[c].name, i, data[i], cases[c].want[i]);
    free(data);
    char path[64];
    snprintf(path, sizeof path, "arrays/%s", cases[c].name);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t ty = H5Dget_type(d);
    assert_true(H5Tequal(ty, cases[c].file_type) > 0);
    hid_t dcpl = H5Dget_create_plist(d);
    assert_int_equal(H5Pget_layout(dcpl), H5D_CONTIGUOUS); /* small: not chunked */
    H5Pclose(dcpl);
    H5Tclose(ty);
    H5Dclose(d);
  }
  H5Fclose(f);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_array_large_is_chunked_compressed_and_exact(void **state) {
  tmp t;
  tmp_make(&t);
  const size_t dims[] = {3, 256, 256}; /* 768 KiB of float32 */
  size_t n = dims[0] * dims[1] * dims[2];
  float *x = malloc(n * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) x[i] = (float)(i % 1000) * 0.25f - 17.0f;
  store_writer *w = create_ok(t.path);
  OK(store_put_array(w, "images/latents", STORE_F32, 3, dims, x, e));
  close_ok(w);
  store_reader *r = open_ok(t.path);
  double *data;
  size_t nd, got[8];
  OK(store_get_array_f64(r, "images/latents", &data, &nd, got, e));
  assert_int_equal(nd, 3);
  assert_int_equal(got[0], 3);
  assert_int_equal(got[1], 256);
  assert_int_equal(got[2], 256);
  for (size_t i = 0; i < n; i++)
    if (data[i] != (double)x[i]) fail_msg("element %zu: %g != %g", i, data[i], (double)x[i]);
  free(data);
  store_reader_close(r);
  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  hid_t d = H5Dopen2(f, "arrays/images/latents", H5P_DEFAULT);
  hid_t dcpl = H5Dget_create_plist(d);
  assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
  assert_int_equal(H5Pget_nfilters(dcpl), 2);
  hsize_t chunk[3];
  assert_int_equal(H5Pget_chunk(dcpl, 3, chunk), 3);
  assert_true(chunk[0] * chunk[1] * chunk[2] * 4 <= 1024 * 1024);
  assert_int_equal(chunk[2], 256);
  H5Pclose(dcpl);
  H5Dclose(d);
  H5Fclose(f);
  free(x);
  tmp_free(&t);
}

static void store_array_with_zero_length_dim_round_trips(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  const size_t dims[] = {0, 5};
  OK(store_put_array(w, "empty", STORE_I64, 2, dims, NULL, e));
  close_ok(w);
  store_reader *r = open_ok(t.path);
  double *data = NULL;
  size_t nd, got[8];
  OK(store_get_array_f64(r, "empty", &data, &nd, got, e));
  assert_non_null(data);
  assert_int_equal(nd, 2);
  assert_int_equal(got[0], 0);
  assert_int_equal(got[1], 5);
  free(data);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_array_bad_shape_dtype_or_data_is_error(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  const size_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  const double one = 1.0;
  herr e = {{0}};
  assert_int_equal(store_put_array(w, "a", STORE_F64, 0, dims, &one, &e), -1);
  assert_non_null(strstr(e.msg, "0 dimensions (expected 1 to 8)"));
  assert_int_equal(store_put_array(w, "a", STORE_F64, 9, dims, &one, &e), -1);
  assert_non_null(strstr(e.msg, "9 dimensions"));
  assert_int_equal(store_put_array(w, "a", STORE_F64, 2, dims, NULL, &e), -1);
  assert_non_null(strstr(e.msg, "no data"));
  assert_int_equal(store_put_array(w, "a", (store_dtype)42, 1, dims, &one, &e), -1);
  assert_non_null(strstr(e.msg, "unknown dtype 42"));
  OK(store_put_array(w, "a8", STORE_F64, 8, dims, &one, e));
  close_ok(w);
  tmp_free(&t);
}

static void store_artifacts_read_back_relative_paths(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  store_reader *r = open_ok(t.path);
  herr e = {{0}};
  char *p = store_get_artifact(r, "samples/grid", &e);
  assert_non_null(p);
  assert_string_equal(p, "images/grid.png");
  free(p);
  p = store_get_artifact(r, "checkpoint", &e);
  assert_string_equal(p, "ckpt/final.safetensors");
  free(p);
  store_reader_close(r);

  store_writer *w = create_ok(t.path);
  assert_int_equal(store_put_artifact(w, "x", "/abs/x.png", &e), -1);
  assert_non_null(strstr(e.msg, "not relative"));
  store_abort(w);
  tmp_free(&t);
}

static void store_reader_getters_name_missing_objects(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  close_ok(w); /* a complete file with nothing in it */
  store_reader *r = open_ok(t.path);
  herr e = {{0}};
  double v;
  assert_null(store_get_config(r, &e));
  assert_non_null(strstr(e.msg, "no /config"));
  assert_int_equal(store_get_metric(r, "test/auc", &v, &e), -1);
  assert_non_null(strstr(e.msg, "no metric 'test/auc'"));
  assert_non_null(strstr(e.msg, t.path));
  assert_null(store_get_metric_str(r, "best", &e));
  assert_non_null(strstr(e.msg, "no metric 'best'"));
  double *rows;
  size_t nrows, ncols, nd, dims[8];
  char **cols;
  assert_int_equal(store_get_series(r, "train/loss", &rows, &nrows, &cols, &ncols, &e), -1);
  assert_non_null(strstr(e.msg, "no series 'train/loss'"));
  assert_int_equal(store_get_array_f64(r, "latents", &rows, &nd, dims, &e), -1);
  assert_non_null(strstr(e.msg, "no array 'latents'"));
  assert_null(store_get_artifact(r, "grid", &e));
  assert_non_null(strstr(e.msg, "no artifact 'grid'"));
  assert_null(store_get_provenance(r, "seed", &e));
  assert_non_null(strstr(e.msg, "no provenance attribute 'seed'"));
  char **names;
  size_t n = 99;
  OK(store_list_metrics(r, &names, &n, e));
  assert_int_equal(n, 0);
  free(names);
  store_reader_close(r);
  tmp_free(&t);
}

static void store_close_and_reader_close_leave_no_open_hdf5_ids(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
  store_reader *r = open_ok(t.path);
  double *rows;
  size_t nrows, ncols;
  char **cols;
  OK(store_get_series(r, "train/loss", &rows, &nrows, &cols, &ncols, e));
  free(rows);
  free_strs(cols, ncols);
  herr e = {{0}};
  free(store_get_provenance(r, "seed", &e));
  free(store_get_config(r, &e));
  store_reader_close(r);
  assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
  /* error paths too */
  store_writer *w = create_ok(t.path);
  const char *cols1[] = {"x"};
  store_series *s = series_ok(w, "s", cols1, 1);
  double x = 1;
  OK(store_series_append(s, &x, e));
  assert_null(store_series_create(w, "s", cols1, 1, &e));
  store_abort(w);
  assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
  assert_null(store_open(t.path, &e));
  assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
  tmp_free(&t);
}

/* ---- refusing files that are not finished stage files ---- */

static void store_abort_leaves_complete_0_and_open_rejects_it(void **state) {
  tmp t;
  tmp_make(&t);
  store_writer *w = create_ok(t.path);
  OK(store_put_metric(w, "m", 1.0, e));
  store_abort(w);
  hid_t f = raw_open(t.path, H5F_ACC_RDONLY);
  assert_int_equal(raw_int_attr(f, "complete"), 0);
  H5Fclose(f);
  expect_open_error(t.path, "incomplete (the stage did not finish)");
  tmp_free(&t);
}

static void store_open_rejects_missing_file(void **state) {
  tmp t;
  tmp_make(&t);
  expect_open_error(t.path, "No such file or directory");
  tmp_free(&t);
}

static void store_open_rejects_non_hdf5_file(void **state) {
  tmp t;
  tmp_make(&t);
  FILE *fp = fopen(t.path, "w");
  assert_non_null(fp);
  fputs("kind: train\nthis is YAML, not HDF5\n", fp);
  fclose(fp);
  expect_open_error(t.path, "is not an HDF5 file");
  tmp_free(&t);
}

static void store_open_rejects_wrong_format_attribute(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  hid_t f = raw_open(t.path, H5F_ACC_RDWR);
  raw_set_str_attr(f, "format", "netcdf4");
  H5Fclose(f);
  expect_open_error(t.path, "not a harness stage file (root attribute format is 'netcdf4'");
  tmp_free(&t);
}

static void store_open_rejects_plain_hdf5_file(void **state) {
  tmp t;
  tmp_make(&t);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fcreate(t.path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  H5Fclose(f);
  expect_open_error(t.path, "not a harness stage file");
  tmp_free(&t);
}

static void store_open_rejects_newer_format_version(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  hid_t f = raw_open(t.path, H5F_ACC_RDWR);
  raw_set_int_attr(f, "format_version", STORE_FORMAT_VERSION + 1);
  H5Fclose(f);
  expect_open_error(t.path, "format_version 2, newer than this harness supports (1)");
  tmp_free(&t);
}

static void store_open_rejects_truncated_file(void **state) {
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  struct stat st;
  assert_int_equal(stat(t.path, &st), 0);
  assert_true(st.st_size > 4096);
  char cut[160];
  snprintf(cut, sizeof cut, "%s/cut.h5", t.dir);
  herr e = {{0}};
  size_t len = 0;
  char *bytes = fs_read_file(t.path, &len, &e);
  assert_non_null(bytes);
  FILE *fp = fopen(cut, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(bytes, 1, len / 2, fp), len / 2);
  fclose(fp);
  free(bytes);
  expect_open_error(cut, "cannot open stage file");
  tmp_free(&t);
}

static void store_create_in_missing_directory_names_the_file(void **state) {
  herr e = {{0}};
  assert_null(store_create("/nonexistent-dir-mdh/x/stage.h5", "s", "k", "v", &e));
  assert_non_null(strstr(e.msg, "cannot create stage file /nonexistent-dir-mdh/x/stage.h5"));
}

/* ---- the README's h5py snippet works on a real stage file ---- */

static char *readme_snippet(void) {
  herr e = {{0}};
  char *md = fs_read_file(MDH_SOURCE_DIR "/results/README.md", NULL, &e);
  if (!md) fail_msg("%s", e.msg);
  const char *b = strstr(md, "<!-- h5py-snippet:begin -->");
  const char *end = b ? strstr(b, "<!-- h5py-snippet:end -->") : NULL;
  if (!b || !end) fail_msg("results/README.md lacks the h5py-snippet markers");
  b = strchr(b, '\n') + 1;
  /* keep the lines between the markers, without the ``` fences */
  size_t cap = (size_t)(end - b) + 1, n = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  for (const char *line = b; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    size_t l = nl ? (size_t)(nl - line) + 1 : (size_t)(end - line);
    if (strncmp(line, "```", 3) != 0) {
      memcpy(out + n, line, l);
      n += l;
    }
    line += l;
  }
  out[n] = '\0';
  free(md);
  return out;
}

static void store_h5py_readme_snippet_prints_stage(void **state) {
  if (access("/usr/bin/python3", X_OK) != 0 ||
      system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
    skip(); /* h5py (Debian python3-h5py) is not installed */
  }
  tmp t;
  tmp_make(&t);
  write_full(t.path);
  char *code = readme_snippet();
  char script[160], cmd[512];
  snprintf(script, sizeof script, "%s/snippet.py", t.dir);
  FILE *fp = fopen(script, "w");
  assert_non_null(fp);
  fputs(code, fp);
  fclose(fp);
  free(code);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s 2>&1", script, t.path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char out[65536];
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  if (status != 0) fail_msg("snippet failed (%d):\n%s", status, out);
  const char *want[] = {
      "stage s1-train kind train variant lr=1e-4",
      "kind: train\nseed: 12345\nmodel:\n  name: tiny-sd\n",
      "provenance device = cuda:0 (NVIDIA H100 80GB HBM3)",
      "provenance seed = 18446744073709551557",
      "provenance threads = 16",
      "metric test/auc = 0.875",
      "metric test/ci/low = 0.8125",
      "metric best_model = epoch-7",
      "series train/loss: 5100 rows, columns step,loss,lr",
      "last row: step=5099 loss=",
      "lr=-1.5",
      "array u8: uint8 (2, 2, 2)",
      "artifact samples/grid = images/grid.png",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(out, want[i])) fail_msg("snippet output lacks '%s':\n%s", want[i], out);
  tmp_free(&t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(store_roundtrip_root_attributes_and_config),
    cmocka_unit_test(store_roundtrip_provenance_strings_seed_threads),
    cmocka_unit_test(store_provenance_second_call_overwrites_and_null_is_empty),
    cmocka_unit_test(store_metrics_nested_names_read_back_exactly),
    cmocka_unit_test(store_list_metrics_gives_sorted_numeric_full_paths),
    cmocka_unit_test(store_metric_reput_overwrites_value),
    cmocka_unit_test(store_series_5000_single_appends_plus_block_exact),
    cmocka_unit_test(store_series_dataset_is_chunked_1024_shuffle_deflate_with_columns_attr),
    cmocka_unit_test(store_series_buffered_rows_are_written_by_store_close),
    cmocka_unit_test(store_series_recreate_same_name_is_error),
    cmocka_unit_test(store_series_invalid_column_names_are_errors),
    cmocka_unit_test(store_invalid_metric_and_series_names_are_errors),
    cmocka_unit_test(store_metric_path_through_existing_metric_or_onto_group_is_error),
    cmocka_unit_test(store_arrays_every_dtype_exact),
    cmocka_unit_test(store_array_large_is_chunked_compressed_and_exact),
    cmocka_unit_test(store_array_with_zero_length_dim_round_trips),
    cmocka_unit_test(store_array_bad_shape_dtype_or_data_is_error),
    cmocka_unit_test(store_artifacts_read_back_relative_paths),
    cmocka_unit_test(store_reader_getters_name_missing_objects),
    cmocka_unit_test(store_close_and_reader_close_leave_no_open_hdf5_ids),
    cmocka_unit_test(store_abort_leaves_complete_0_and_open_rejects_it),
    cmocka_unit_test(store_open_rejects_missing_file),
    cmocka_unit_test(store_open_rejects_non_hdf5_file),
    cmocka_unit_test(store_open_rejects_wrong_format_attribute),
    cmocka_unit_test(store_open_rejects_plain_hdf5_file),
    cmocka_unit_test(store_open_rejects_newer_format_version),
    cmocka_unit_test(store_open_rejects_truncated_file),
    cmocka_unit_test(store_create_in_missing_directory_names_the_file),
    cmocka_unit_test(store_h5py_readme_snippet_prints_stage),
};

MDH_TEST_MAIN(tests)

/* store_write: creates a stage's HDF5 file and writes config, provenance, metrics, arrays and
 * artifacts; store_close marks it complete=1 only when everything reached the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/store/store.h"
#include "harness/store/store_h5util.h"

/* Arrays at least this large are chunked and compressed; small ones stay contiguous. */
#define ARRAY_CHUNK_MIN_BYTES (64u * 1024u)
#define ARRAY_CHUNK_TARGET_BYTES (1024u * 1024u)

static const char *const k_groups[] = {"provenance", "metrics", "series", "arrays", "artifacts"};

static void writer_free(store_writer *w) {
  free(w->series);
  free(w->path);
  free(w);
}

store_writer *store_create(const char *path, const char *stage_id, const char *kind,
                           const char *variant, herr *e) {
  sh5_quiet();
  if (!path || !*path) {
    herr_set(e, "store_create: empty path");
    return NULL;
  }
  hid_t fapl = sh5_strong_fapl();
  hid_t file = fapl < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (file < 0) {
    sh5_fail(e, "cannot create stage file %s", path);
    if (fapl >= 0) H5Pclose(fapl);
    return NULL;
  }
  H5Pclose(fapl);
  char what[64] = "root attributes";
  int rc = 0;
  if (sh5_put_str_attr(file, "format", STORE_FORMAT) < 0 ||
      sh5_put_i32_attr(file, "format_version", STORE_FORMAT_VERSION) < 0 ||
      sh5_put_str_attr(file, "stage_id", stage_id) < 0 ||
      sh5_put_str_attr(file, "kind", kind) < 0 || sh5_put_str_attr(file, "variant", variant) < 0 ||
      sh5_put_i32_attr(file, "complete", 0) < 0)
    rc = -1;
  for (size_t i = 0; rc == 0 && i < sizeof k_groups / sizeof k_groups[0]; i++) {
    hid_t g = H5Gcreate2(file, k_groups[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0 || H5Gclose(g) < 0) {
      snprintf(what, sizeof what, "group /%s", k_groups[i]);
      rc = -1;
    }
  }
  if (rc < 0) {
    sh5_fail(e, "writing %s in %s", what, path);
    H5Fclose(file);
    unlink(path); /* a file we just truncated and could not set up is of no use to anyone */
    return NULL;
  }
  store_writer *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->file = file;
  w->path = strdup(path);
  if (!w->path) abort();
  return w;
}

static int check_writer(const store_writer *w, const char *fn, herr *e) {
  sh5_quiet();
  if (!w) return herr_set(e, "%s: no store writer", fn);
  return 0;
}

int store_put_config(store_writer *w, const char *yaml, herr *e) {
  if (check_writer(w, "store_put_config", e) < 0) return -1;
  if (sh5_put_str_dataset(w->file, "config", yaml ? yaml : "") < 0)
    return sh5_fail(e, "writing /config in %s", w->path);
  return 0;
}

int store_put_provenance(store_writer *w, const store_provenance *p, herr *e) {
  if (check_writer(w, "store_put_provenance", e) < 0) return -1;
  if (!p) return herr_set(e, "writing /provenance in %s: no provenance given", w->path);
  hid_t g = H5Gopen2(w->file, "provenance", H5P_DEFAULT);
  if (g < 0) return sh5_fail(e, "writing /provenance in %s", w->path);
  const struct {
    const char *key, *value;
  } strs[] = {
      {"harness_version", p->harness_version}, {"git_commit", p->git_commit},
      {"libtorch_version", p->libtorch_version}, {"device", p->device},
      {"host", p->host}, {"start_time", p->start_time}, {"end_time", p->end_time},
  };
  const char *failed = NULL;
  for (size_t i = 0; !failed && i < sizeof strs / sizeof strs[0]; i++)
    if (sh5_put_str_attr(g, strs[i].key, strs[i].value) < 0) failed = strs[i].key;
  if (!failed && sh5_put_u64_attr(g, "seed", p->seed) < 0) failed = "seed";
  if (!failed && sh5_put_i32_attr(g, "threads", (int32_t)p->threads) < 0) failed = "threads";
  int rc = 0;
  if (failed) rc = sh5_fail(e, "writing /provenance attribute %s in %s", failed, w->path);
  H5Gclose(g);
  return rc;
}

/* Creates a scalar dataset at `full` of file type `ft` and writes `value` (memory type mt). */
static int put_scalar(store_writer *w, const char *full, hid_t ft, hid_t mt, const void *value,
                      herr *e) {
  hid_t space = H5Screate(H5S_SCALAR), lcpl = sh5_lcpl();
  int rc = -1;
  if (space >= 0 && lcpl >= 0) {
    hid_t d = H5Dcreate2(w->file, full, ft, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    rc = d < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, value) < 0 ? -1 : 0;
    hid_t err = sh5_err_save(rc);
    if (d >= 0 && H5Dclose(d) < 0 && rc == 0) rc = -1, err = sh5_err_save(rc);
    sh5_err_restore(err);
  }
  if (rc < 0) sh5_fail(e, "writing /%s in %s", full, w->path);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

int store_put_metric(store_writer *w, const char *name, double value, herr *e) {
  if (check_writer(w, "store_put_metric", e) < 0) return -1;
  char *full;
  if (sh5_prepare_slot(w->file, w->path, "metrics", "metric", name, true, &full, e) < 0) return -1;
  int rc = put_scalar(w, full, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, e);
  free(full);
  return rc;
}

static int put_string(store_writer *w, const char *group, const char *what, const char *name,
                      const char *value, herr *e) {
  char *full;
  if (sh5_prepare_slot(w->file, w->path, group, what, name, true, &full, e) < 0) return -1;
  int rc = 0;
  if (sh5_put_str_dataset(w->file, full, value ? value : "") < 0)
    rc = sh5_fail(e, "writing /%s in %s", full, w->path);
  free(full);
  return rc;
}

int store_put_metric_str(store_writer *w, const char *name, const char *value, herr *e) {
  if (check_writer(w, "store_put_metric_str", e) < 0) return -1;
  return put_string(w, "metrics", "metric", name, value, e);
}

int store_put_artifact(store_writer *w, const char *name, const char *relpath, herr *e) {
  if (check_writer(w, "store_put_artifact", e) < 0) return -1;
  if (!relpath || !*relpath || relpath[0] == '/')
    return herr_set(e, "artifact '%s' in %s: path '%s' is not relative to the stage directory",
                    name ? name : "(null)", w->path, relpath ? relpath : "(null)");
  return put_string(w, "artifacts", "artifact", name, relpath, e);
}

typedef struct dtype_info {
  hid_t file_type, mem_type;
  size_t size;
  const char *name;
} dtype_info;

static int dtype_lookup(store_dtype dtype, dtype_info *out) {
  switch (dtype) {
    case STORE_F32: *out = (dtype_info){H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, "f32"}; return 0;
    case STORE_F64: *out = (dtype_info){H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 8, "f64"}; return 0;
    case STORE_I32: *out = (dtype_info){H5T_STD_I32LE, H5T_NATIVE_INT32, 4, "i32"}; return 0;
    case STORE_I64: *out = (dtype_info){H5T_STD_I64LE, H5T_NATIVE_INT64, 8, "i64"}; return 0;
    case STORE_U8: *out = (dtype_info){H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, "u8"}; return 0;
  }
  return -1;
}

/* Chunks of about ARRAY_CHUNK_TARGET_BYTES: halve the leading dimensions first so a chunk
 * keeps whole rows of the trailing (contiguous) ones. */
static void choose_chunk(size_t ndims, const hsize_t *dims, size_t elem, hsize_t *chunk) {
  hsize_t bytes = elem;
  for (size_t i = 0; i < ndims; i++) {
    chunk[i] = dims[i];
    bytes *= dims[i];
  }
  for (size_t i = 0; i < ndims && bytes > ARRAY_CHUNK_TARGET_BYTES; i++) {
    while (chunk[i] > 1 && bytes > ARRAY_CHUNK_TARGET_BYTES) {
      hsize_t half = (chunk[i] + 1) / 2;
      bytes = bytes / chunk[i] * half;
      chunk[i] = half;
    }
  }
}

int store_put_array(store_writer *w, const char *name, store_dtype dtype, size_t ndims,
                    const size_t *dims, const void *data, herr *e) {
  if (check_writer(w, "store_put_array", e) < 0) return -1;
  const char *nm = name ? name : "(null)";
  dtype_info dt;
  if (dtype_lookup(dtype, &dt) < 0)
    return herr_set(e, "array '%s' in %s: unknown dtype %d", nm, w->path, (int)dtype);
  if (ndims < 1 || ndims > 8)
    return herr_set(e, "array '%s' in %s: %zu dimensions (expected 1 to 8)", nm, w->path, ndims);
  if (!dims) return herr_set(e, "array '%s' in %s: no dimensions given", nm, w->path);
  hsize_t hdims[8];
  size_t count = 1;
  bool overflow = false;
  for (size_t i = 0; i < ndims; i++) {
    hdims[i] = dims[i];
    if (dims[i] != 0 && count > SIZE_MAX / dims[i]) overflow = true;
    count *= dims[i];
  }
  if (overflow || (count > 0 && count > SIZE_MAX / dt.size))
    return herr_set(e, "array '%s' in %s: dimensions too large", nm, w->path);
  if (count > 0 && !data) return herr_set(e, "array '%s' in %s: no data given", nm, w->path);
  size_t bytes = count * dt.size;

  char *full;
  if (sh5_prepare_slot(w->file, w->path, "arrays", "array", name, true, &full, e) < 0) return -1;
  hid_t space = H5Screate_simple((int)ndims, hdims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = sh5_lcpl();
  int rc = (space < 0 || dcpl < 0 || lcpl < 0) ? -1 : 0;
  if (rc == 0 && bytes >= ARRAY_CHUNK_MIN_BYTES) {
    hsize_t chunk[8];
    choose_chunk(ndims, hdims, dt.size, chunk);
    if (H5Pset_chunk(dcpl, (int)ndims, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
        H5Pset_deflate(dcpl, SH5_DEFLATE_LEVEL) < 0)
      rc = -1;
  }
  if (rc == 0) {
    hid_t d = H5Dcreate2(w->file, full, dt.file_type, space, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0 || (count > 0 && H5Dwrite(d, dt.mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
      rc = -1;
    hid_t err = sh5_err_save(rc);
    if (d >= 0 && H5Dclose(d) < 0 && rc == 0) rc = -1, err = sh5_err_save(rc);
    sh5_err_restore(err);
  }
  if (rc < 0) sh5_fail(e, "writing /%s (%s, %zu bytes) in %s", full, dt.name, bytes, w->path);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  free(full);
  return rc;
}

void sh5_writer_add_series(store_writer *w, store_series *s) {
  if (w->nseries == w->cap_series) {
    size_t cap = w->cap_series ? w->cap_series * 2 : 8;
    store_series **p = realloc(w->series, cap * sizeof *p);
    if (!p) abort();
    w->series = p;
    w->cap_series = cap;
  }
  w->series[w->nseries++] = s;
}

void sh5_writer_remove_series(store_writer *w, store_series *s) {
  for (size_t i = 0; i < w->nseries; i++) {
    if (w->series[i] != s) continue;
    memmove(&w->series[i], &w->series[i + 1], (w->nseries - i - 1) * sizeof *w->series);
    w->nseries--;
    return;
  }
}

int store_close(store_writer *w, herr *e) {
  if (check_writer(w, "store_close", e) < 0) return -1;
  int rc = 0;
  herr tmp;
  while (w->nseries > 0) {
    /* series_close removes itself from the list whether or not its flush worked */
    if (store_series_close(w->series[w->nseries - 1], rc == 0 ? e : &tmp) < 0) rc = -1;
  }
  if (rc == 0 && H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0)
    rc = sh5_fail(e, "flushing %s", w->path);
  if (rc == 0) {
    ssize_t open = H5Fget_obj_count(w->file, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE |
                                                 H5F_OBJ_ATTR | H5F_OBJ_LOCAL);
    if (open != 0)
      rc = herr_set(e, "closing %s: %zd HDF5 objects still open (store bug)", w->path, open);
  }
  /* complete=1 goes last: nothing after it can fail but the final flush inside H5Fclose. */
  if (rc == 0 && sh5_put_i32_attr(w->file, "complete", 1) < 0)
    rc = sh5_fail(e, "writing root attribute complete in %s", w->path);
  if (rc == 0 && H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0) rc = sh5_fail(e, "flushing %s", w->path);
  if (H5Fclose(w->file) < 0 && rc == 0) rc = sh5_fail(e, "closing %s", w->path);
  writer_free(w);
  return rc;
}

void store_abort(store_writer *w) {
  if (!w) return;
  sh5_quiet();
  while (w->nseries > 0) sh5_series_discard(w->series[w->nseries - 1]);
  H5Fclose(w->file);
  H5Eclear2(H5E_DEFAULT);
  writer_free(w);
}

/* store_read: opens finished stage files (format, version and complete=1 checked up front)
 * and reads config, metrics, series, arrays, artifacts and provenance back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/store/store.h"
#include "harness/store/store_h5util.h"

struct store_reader {
  hid_t file;
  char *path;
  char *stage_id, *kind, *variant;
};

static void reader_free(store_reader *r) {
  free(r->path);
  free(r->stage_id);
  free(r->kind);
  free(r->variant);
  free(r);
}

/* Checks format, format_version and complete; fills the root strings. */
static int check_root(store_reader *r, herr *e) {
  const char *p = r->path;
  bool missing;
  char *format = sh5_get_str_attr(r->file, "format", &missing);
  if (!format || strcmp(format, STORE_FORMAT) != 0) {
    if (format)
      herr_set(e, "%s is not a harness stage file (root attribute format is '%s', expected '%s')",
               p, format, STORE_FORMAT);
    else
      herr_set(e, "%s is not a harness stage file (no string root attribute format='%s')", p,
               STORE_FORMAT);
    free(format);
    return -1;
  }
  free(format);
  long long version, complete;
  if (sh5_get_int_attr(r->file, "format_version", &version) < 0)
    return herr_set(e, "%s is not a harness stage file (no integer root attribute format_version)",
                    p);
  if (version > STORE_FORMAT_VERSION)
    return herr_set(e,
                    "%s has format_version %lld, newer than this harness supports (%d); use a "
                    "newer harness",
                    p, version, STORE_FORMAT_VERSION);
  if (version < 1) return herr_set(e, "%s has an invalid format_version %lld", p, version);
  if (sh5_get_int_attr(r->file, "complete", &complete) < 0 || complete != 1)
    return herr_set(e, "%s is incomplete (the stage did not finish)", p);
  struct {
    const char *key;
    char **dst;
  } strs[] = {{"stage_id", &r->stage_id}, {"kind", &r->kind}, {"variant", &r->variant}};
  for (size_t i = 0; i < 3; i++) {
    *strs[i].dst = sh5_get_str_attr(r->file, strs[i].key, NULL);
    if (!*strs[i].dst)
      return herr_set(e, "%s: missing or non-string root attribute %s", p, strs[i].key);
  }
  return 0;
}

store_reader *store_open(const char *path, herr *e) {
  sh5_quiet();
  if (!path || !*path) {
    herr_set(e, "store_open: empty path");
    return NULL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    herr_errno(e, "cannot open stage file %s", path);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    herr_set(e, "cannot open stage file %s: not a regular file", path);
    return NULL;
  }
  htri_t is_h5 = H5Fis_hdf5(path);
  if (is_h5 == 0) {
    herr_set(e, "%s is not an HDF5 file (no HDF5 signature)", path);
    return NULL;
  }
  if (is_h5 < 0) {
    sh5_fail(e, "cannot open stage file %s", path);
    return NULL;
  }
  /* default (weak) close degree: other code in the process may open the same file with
   * plain HDF5, which requires matching degrees; the reader closes all it opens. */
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    sh5_fail(e, "cannot open stage file %s (damaged or truncated HDF5 file?)", path);
    return NULL;
  }
  store_reader *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->file = file;
  r->path = strdup(path);
  if (!r->path) abort();
  if (check_root(r, e) < 0) {
    H5Eclear2(H5E_DEFAULT);
    store_reader_close(r);
    return NULL;
  }
  return r;
}

void store_reader_close(store_reader *r) {
  if (!r) return;
  H5Fclose(r->file);
  H5Eclear2(H5E_DEFAULT);
  reader_free(r);
}

const char *store_stage_id(const store_reader *r) { return r->stage_id; }
const char *store_kind(const store_reader *r) { return r->kind; }
const char *store_variant(const store_reader *r) { return r->variant; }

/* Opens the dataset "<group>/<name>"; `what` names it in messages. */
static hid_t open_named(store_reader *r, const char *group, const char *what, const char *name,
                        char **full, herr *e) {
  *full = NULL;
  if (!sh5_valid_name(name)) {
    herr_set(e, "invalid %s name '%s' (expected [A-Za-z0-9_.-]+ segments separated by '/')", what,
             name ? name : "(null)");
    return -1;
  }
  size_t n = strlen(group) + strlen(name) + 2;
  char *path = malloc(n);
  if (!path) abort();
  snprintf(path, n, "%s/%s", group, name);
  H5O_type_t k = sh5_kind(r->file, path);
  if (k != H5O_TYPE_DATASET) {
    if (k == H5O_TYPE_UNKNOWN)
      herr_set(e, "no %s '%s' (/%s) in %s", what, name, path, r->path);
    else
      herr_set(e, "%s '%s' in %s: /%s is not a dataset", what, name, r->path, path);
    free(path);
    return -1;
  }
  hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
  if (d < 0) {
    sh5_fail(e, "reading /%s in %s", path, r->path);
    free(path);
    return -1;
  }
  *full = path;
  return d;
}

static bool is_numeric(H5T_class_t c) { return c == H5T_FLOAT || c == H5T_INTEGER; }

static H5T_class_t dset_class(hid_t d) {
  hid_t t = H5Dget_type(d);
  if (t < 0) return H5T_NO_CLASS;
  H5T_class_t c = H5Tget_class(t);
  H5Tclose(t);
  return c;
}

static hssize_t dset_points(hid_t d) {
  hid_t sp = H5Dget_space(d);
  if (sp < 0) return -1;
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  return n;
}

char *store_get_config(store_reader *r, herr *e) {
  sh5_quiet();
  if (sh5_kind(r->file, "config") != H5O_TYPE_DATASET) {
    herr_set(e, "no /config dataset in %s", r->path);
    return NULL;
  }
  char *s = sh5_get_str_dataset(r->file, "config");
  if (!s) sh5_fail(e, "reading /config (a string dataset) in %s", r->path);
  return s;
}

int store_get_metric(store_reader *r, const char *name, double *out, herr *e) {
  sh5_quiet();
  char *full;
  hid_t d = open_named(r, "metrics", "metric", name, &full, e);
  if (d < 0) return -1;
  int rc = 0;
  if (!is_numeric(dset_class(d)) || dset_points(d) != 1)
    rc = herr_set(e, "metric '%s' in %s is not a numeric scalar", name, r->path);
  else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    rc = sh5_fail(e, "reading /%s in %s", full, r->path);
  H5Dclose(d);
  free(full);
  return rc;
}

/* Reads a string dataset "<group>/<name>". */
static char *get_string(store_reader *r, const char *group, const char *what, const char *name,
                        herr *e) {
  sh5_quiet();
  char *full;
  hid_t d = open_named(r, group, what, name, &full, e);
  if (d < 0) return NULL;
  H5T_class_t c = dset_class(d);
  H5Dclose(d);
  char *s = NULL;
  if (c != H5T_STRING)
    herr_set(e, "%s '%s' in %s is not a string", what, name, r->path);
  else if (!(s = sh5_get_str_dataset(r->file, full)))
    sh5_fail(e, "reading /%s in %s", full, r->path);
  free(full);
  return s;
}

char *store_get_metric_str(store_reader *r, const char *name, herr *e) {
  return get_string(r, "metrics", "metric", name, e);
}

char *store_get_artifact(store_reader *r, const char *name, herr *e) {
  return get_string(r, "artifacts", "artifact", name, e);
}

typedef struct name_list {
  char **names;
  size_t n, cap;
} name_list;

static herr_t collect_numeric(hid_t group, const char *name, const H5L_info_t *info, void *data) {
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
  if (obj < 0) return -1;
  bool take = H5Iget_type(obj) == H5I_DATASET && is_numeric(dset_class(obj));
  H5Oclose(obj);
  if (!take) return 0;
  name_list *l = data;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->names = realloc(l->names, l->cap * sizeof *l->names);
    if (!l->names) abort();
  }
  l->names[l->n] = strdup(name);
  if (!l->names[l->n]) abort();
  l->n++;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_list_metrics(store_reader *r, char ***names, size_t *n, herr *e) {
  sh5_quiet();
  *names = NULL;
  *n = 0;
  name_list l = {NULL, 0, 0};
  if (sh5_kind(r->file, "metrics") == H5O_TYPE_GROUP) {
    hid_t g = H5Gopen2(r->file, "metrics", H5P_DEFAULT);
    if (g < 0 || H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, collect_numeric, &l) < 0) {
      sh5_fail(e, "listing /metrics in %s", r->path);
      if (g >= 0) H5Gclose(g);
      for (size_t i = 0; i < l.n; i++) free(l.names[i]);
      free(l.names);
      return -1;
    }
    H5Gclose(g);
  }
  if (!l.names) {
    l.names = calloc(1, sizeof *l.names);
    if (!l.names) abort();
  }
  qsort(l.names, l.n, sizeof *l.names, cmp_str);
  *names = l.names;
  *n = l.n;
  return 0;
}

int store_get_series(store_reader *r, const char *name, double **rows, size_t *nrows,
                     char ***columns, size_t *ncols, herr *e) {
  sh5_quiet();
  *rows = NULL;
  *columns = NULL;
  *nrows = *ncols = 0;
  char *full;
  hid_t d = open_named(r, "series", "series", name, &full, e);
  if (d < 0) return -1;
  hid_t ft = H5Dget_type(d), sp = H5Dget_space(d), mt = -1;
  int rc = 0;
  int nmem = 0;
  if (ft < 0 || sp < 0) {
    rc = sh5_fail(e, "reading /%s in %s", full, r->path);
  } else if (H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(sp) != 1 ||
             (nmem = H5Tget_nmembers(ft)) <= 0) {
    rc = herr_set(e, "series '%s' in %s is not a 1-D compound dataset", name, r->path);
  }
  char **cols = NULL;
  if (rc == 0) {
    cols = calloc((size_t)nmem, sizeof *cols);
    if (!cols) abort();
    mt = H5Tcreate(H5T_COMPOUND, (size_t)nmem * sizeof(double));
    if (mt < 0) rc = sh5_fail(e, "reading /%s in %s", full, r->path);
    for (int i = 0; rc == 0 && i < nmem; i++) {
      char *m = H5Tget_member_name(ft, (unsigned)i);
      if (m) {
        cols[i] = strdup(m);
        if (!cols[i]) abort();
        H5free_memory(m);
      }
      if (!cols[i] || !is_numeric(H5Tget_member_class(ft, (unsigned)i)))
        rc = herr_set(e, "series '%s' in %s: column %d is not numeric", name, r->path, i + 1);
      else if (H5Tinsert(mt, cols[i], (size_t)i * sizeof(double), H5T_NATIVE_DOUBLE) < 0)
        rc = sh5_fail(e, "reading /%s in %s", full, r->path);
    }
  }
  hsize_t n = 0;
  double *data = NULL;
  if (rc == 0) {
    H5Sget_simple_extent_dims(sp, &n, NULL);
    if (n > SIZE_MAX / sizeof(double) / (size_t)nmem) {
      rc = herr_set(e, "series '%s' in %s: too many rows", name, r->path);
    } else {
      data = malloc(n ? (size_t)n * (size_t)nmem * sizeof(double) : 1);
      if (!data) abort();
      if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = sh5_fail(e, "reading /%s in %s", full, r->path);
    }
  }
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  free(full);
  if (rc < 0) {
    free(data);
    for (int i = 0; cols && i < nmem; i++) free(cols[i]);
    free(cols);
    return -1;
  }
  *rows = data;
  *nrows = (size_t)n;
  *columns = cols;
  *ncols = (size_t)nmem;
  return 0;
}

int store_get_array_f64(store_reader *r, const char *name, double **data, size_t *ndims,
                        size_t dims[8], herr *e) {
  sh5_quiet();
  *data = NULL;
  *ndims = 0;
  char *full;
  hid_t d = open_named(r, "arrays", "array", name, &full, e);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  int rc = 0, rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  hsize_t hd[8];
  size_t count = 1;
  if (rank < 0) {
    rc = sh5_fail(e, "reading /%s in %s", full, r->path);
  } else if (rank > 8) {
    rc = herr_set(e, "array '%s' in %s has %d dimensions (at most 8 supported)", name, r->path,
                  rank);
  } else if (!is_numeric(dset_class(d))) {
    rc = herr_set(e, "array '%s' in %s is not numeric", name, r->path);
  } else {
    H5Sget_simple_extent_dims(sp, hd, NULL);
    for (int i = 0; i < rank; i++) {
      if (hd[i] != 0 && count > SIZE_MAX / sizeof(double) / hd[i]) {
        rc = herr_set(e, "array '%s' in %s is too large", name, r->path);
        break;
      }
      count *= (size_t)hd[i];
    }
  }
  double *buf = NULL;
  if (rc == 0) {
    buf = malloc(count ? count * sizeof(double) : 1);
    if (!buf) abort();
    if (count > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
      rc = sh5_fail(e, "reading /%s in %s", full, r->path);
  }
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  free(full);
  if (rc < 0) {
    free(buf);
    return -1;
  }
  for (int i = 0; i < rank; i++) dims[i] = (size_t)hd[i];
  *ndims = (size_t)rank;
  *data = buf;
  return 0;
}

char *store_get_provenance(store_reader *r, const char *key, herr *e) {
  sh5_quiet();
  if (!key || !*key) {
    herr_set(e, "store_get_provenance: empty key");
    return NULL;
  }
  if (sh5_kind(r->file, "provenance") != H5O_TYPE_GROUP) {
    herr_set(e, "no /provenance group in %s", r->path);
    return NULL;
  }
  hid_t g = H5Gopen2(r->file, "provenance", H5P_DEFAULT);
  if (g < 0) {
    sh5_fail(e, "reading /provenance in %s", r->path);
    return NULL;
  }
  char *out = NULL;
  if (H5Aexists(g, key) <= 0) {
    herr_set(e, "no provenance attribute '%s' in %s", key, r->path);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    return NULL;
  }
  hid_t a = H5Aopen(g, key, H5P_DEFAULT);
  hid_t t = a < 0 ? -1 : H5Aget_type(a);
  H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
  char num[64] = "";
  bool read_ok = false;
  if (c == H5T_STRING) {
    out = sh5_get_str_attr(g, key, NULL);
    read_ok = out != NULL;
  } else if (c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE) {
    unsigned long long v;
    if ((read_ok = H5Aread(a, H5T_NATIVE_ULLONG, &v) >= 0)) snprintf(num, sizeof num, "%llu", v);
  } else if (c == H5T_INTEGER) {
    long long v;
    if ((read_ok = H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0)) snprintf(num, sizeof num, "%lld", v);
  } else if (c == H5T_FLOAT) {
    double v;
    if ((read_ok = H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0)) snprintf(num, sizeof num, "%.17g", v);
  }
  if (read_ok && !out) {
    out = strdup(num);
    if (!out) abort();
  }
  if (!read_ok) {
    if (c == H5T_STRING || c == H5T_INTEGER || c == H5T_FLOAT || c == H5T_NO_CLASS)
      sh5_fail(e, "reading /provenance attribute %s in %s", key, r->path);
    else
      herr_set(e, "provenance attribute '%s' in %s is neither text nor a number", key, r->path);
  }
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  H5Gclose(g);
  return out;
}

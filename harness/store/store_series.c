/* store_series: appendable /series/<name> datasets (compound of float64 columns, unlimited,
 * chunked, shuffle+deflate). Rows are buffered and written in blocks, so per-step appends do
 * not cost one HDF5 write each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/store/store.h"
#include "harness/store/store_h5util.h"

static int check_columns(const store_writer *w, const char *name, const char *const *columns,
                         size_t ncols, herr *e) {
  if (ncols == 0 || !columns)
    return herr_set(e, "series '%s' in %s: no columns", name, w->path);
  for (size_t i = 0; i < ncols; i++) {
    const char *c = columns[i];
    if (!c || !*c)
      return herr_set(e, "series '%s' in %s: column %zu has an empty name", name, w->path, i + 1);
    if (strlen(c) > SH5_NAME_MAX)
      return herr_set(e, "series '%s' in %s: column name '%.40s...' is longer than %d characters",
                      name, w->path, c, SH5_NAME_MAX);
    /* ',' would make the `columns` attribute ambiguous */
    if (strpbrk(c, "/,"))
      return herr_set(e, "series '%s' in %s: invalid column name '%s' (no '/' or ',' allowed)",
                      name, w->path, c);
    for (size_t j = 0; j < i; j++)
      if (strcmp(columns[j], c) == 0)
        return herr_set(e, "series '%s' in %s: duplicate column name '%s'", name, w->path, c);
  }
  return 0;
}

/* A compound of ncols doubles of type `field` at offsets 0, 8, 16, ... */
static hid_t compound_of(const char *const *columns, size_t ncols, hid_t field) {
  hid_t t = H5Tcreate(H5T_COMPOUND, ncols * sizeof(double));
  if (t < 0) return t;
  for (size_t i = 0; i < ncols; i++) {
    if (H5Tinsert(t, columns[i], i * sizeof(double), field) < 0) {
      H5Tclose(t);
      return -1;
    }
  }
  return t;
}

static char *join_columns(const char *const *columns, size_t ncols) {
  size_t n = 1;
  for (size_t i = 0; i < ncols; i++) n += strlen(columns[i]) + 1;
  char *s = malloc(n), *p = s;
  if (!s) abort();
  for (size_t i = 0; i < ncols; i++) {
    size_t l = strlen(columns[i]);
    if (i) *p++ = ',';
    memcpy(p, columns[i], l);
    p += l;
  }
  *p = '\0';
  return s;
}

store_series *store_series_create(store_writer *w, const char *name, const char *const *columns,
                                  size_t ncols, herr *e) {
  sh5_quiet();
  if (!w) {
    herr_set(e, "store_series_create: no store writer");
    return NULL;
  }
  char *full;
  if (sh5_prepare_slot(w->file, w->path, "series", "series", name, false, &full, e) < 0)
    return NULL;
  if (check_columns(w, name, columns, ncols, e) < 0) {
    free(full);
    return NULL;
  }
  hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = SH5_SERIES_CHUNK_ROWS;
  hid_t ftype = compound_of(columns, ncols, H5T_IEEE_F64LE);
  hid_t mtype = compound_of(columns, ncols, H5T_NATIVE_DOUBLE);
  hid_t space = H5Screate_simple(1, &zero, &unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = sh5_lcpl();
  hid_t dset = -1;
  int rc = (ftype < 0 || mtype < 0 || space < 0 || dcpl < 0 || lcpl < 0) ? -1 : 0;
  if (rc == 0 && (H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
                  H5Pset_deflate(dcpl, SH5_DEFLATE_LEVEL) < 0))
    rc = -1;
  if (rc == 0) {
    dset = H5Dcreate2(w->file, full, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    if (dset < 0) rc = -1;
  }
  if (rc == 0) {
    char *joined = join_columns(columns, ncols);
    if (sh5_put_str_attr(dset, "columns", joined) < 0) rc = -1;
    free(joined);
  }
  if (rc < 0) sh5_fail(e, "creating series /%s in %s", full, w->path);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  if (ftype >= 0) H5Tclose(ftype);
  free(full);
  if (rc < 0) {
    if (dset >= 0) H5Dclose(dset);
    if (mtype >= 0) H5Tclose(mtype);
    return NULL;
  }
  store_series *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->w = w;
  s->name = strdup(name);
  s->buf = malloc(SH5_SERIES_BUFFER_ROWS * ncols * sizeof(double));
  if (!s->name || !s->buf) abort();
  s->dset = dset;
  s->mem_type = mtype;
  s->ncols = ncols;
  sh5_writer_add_series(w, s);
  return s;
}

/* Extends the dataset by n rows and writes them; on failure the extent is put back so the
 * dataset still holds exactly the rows written so far. */
static int write_rows(store_series *s, const double *rows, hsize_t n, herr *e) {
  if (n == 0) return 0;
  hsize_t start = s->ndisk, total = s->ndisk + n;
  if (H5Dset_extent(s->dset, &total) < 0)
    return sh5_fail(e, "appending to series /series/%s in %s", s->name, s->w->path);
  hid_t fspace = H5Dget_space(s->dset);
  hid_t mspace = H5Screate_simple(1, &n, NULL);
  int rc = (fspace < 0 || mspace < 0) ? -1 : 0;
  if (rc == 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0) rc = -1;
  if (rc == 0 && H5Dwrite(s->dset, s->mem_type, mspace, fspace, H5P_DEFAULT, rows) < 0) rc = -1;
  if (rc < 0) sh5_fail(e, "appending to series /series/%s in %s", s->name, s->w->path);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (rc < 0) {
    H5Dset_extent(s->dset, &start);
    H5Eclear2(H5E_DEFAULT);
    return -1;
  }
  s->ndisk = total;
  return 0;
}

/* Writes the buffered rows; they stay buffered if that fails (store_close then fails too). */
static int flush(store_series *s, herr *e) {
  if (write_rows(s, s->buf, s->nbuf, e) < 0) return -1;
  s->nbuf = 0;
  return 0;
}

int store_series_append(store_series *s, const double *row, herr *e) {
  return store_series_append_rows(s, row, 1, e);
}

int store_series_append_rows(store_series *s, const double *rows, size_t nrows, herr *e) {
  sh5_quiet();
  if (!s) return herr_set(e, "store_series_append: no series");
  if (nrows == 0) return 0;
  if (!rows)
    return herr_set(e, "appending to series /series/%s in %s: no rows given", s->name,
                    s->w->path);
  if (s->nbuf + nrows > SH5_SERIES_BUFFER_ROWS) {
    if (flush(s, e) < 0) return -1;
    if (nrows >= SH5_SERIES_BUFFER_ROWS) return write_rows(s, rows, nrows, e);
  }
  memcpy(s->buf + s->nbuf * s->ncols, rows, nrows * s->ncols * sizeof(double));
  s->nbuf += nrows;
  if (s->nbuf == SH5_SERIES_BUFFER_ROWS) return flush(s, e);
  return 0;
}

void sh5_series_discard(store_series *s) {
  if (!s) return;
  sh5_writer_remove_series(s->w, s);
  H5Dclose(s->dset);
  H5Tclose(s->mem_type);
  H5Eclear2(H5E_DEFAULT);
  free(s->buf);
  free(s->name);
  free(s);
}

int store_series_close(store_series *s, herr *e) {
  sh5_quiet();
  if (!s) return herr_set(e, "store_series_close: no series");
  int rc = flush(s, e);
  if (H5Dclose(s->dset) < 0 && rc == 0)
    rc = sh5_fail(e, "closing series /series/%s in %s", s->name, s->w->path);
  s->dset = -1;
  H5Tclose(s->mem_type);
  s->mem_type = -1;
  sh5_writer_remove_series(s->w, s);
  H5Eclear2(H5E_DEFAULT);
  free(s->buf);
  free(s->name);
  free(s);
  return rc;
}

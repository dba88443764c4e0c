/* Internal to the results store: the writer/series structs shared by store_write.c and
 * store_series.c, and small HDF5 helpers (UTF-8 string attributes and datasets, name checks,
 * turning HDF5's error stack into a herr message). Not part of the store's public API. */
#ifndef MDH_STORE_H5UTIL_H
#define MDH_STORE_H5UTIL_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/store/store.h"
#include "harness/util/herr.h"

#define SH5_NAME_MAX 255
/* Rows a series keeps in memory before it writes them as one hyperslab. */
#define SH5_SERIES_BUFFER_ROWS 256
#define SH5_SERIES_CHUNK_ROWS 1024
#define SH5_DEFLATE_LEVEL 4

struct store_writer {
  hid_t file;
  char *path;
  store_series **series; /* open series, closed (flushed) by store_close */
  size_t nseries, cap_series;
};

struct store_series {
  store_writer *w;
  char *name;     /* as given ("train/loss") */
  hid_t dset;
  hid_t mem_type; /* compound of native doubles, one per column */
  size_t ncols;
  double *buf;    /* buffered rows, row-major */
  size_t nbuf;
  hsize_t ndisk;  /* rows already in the dataset */
};

/* Turns off HDF5's automatic error printing (the store reports through herr instead). */
void sh5_quiet(void);

/* herr_set with ": <innermost HDF5 error description>" appended when HDF5 has one; clears
 * HDF5's error stack. Returns -1. */
int sh5_fail(herr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every HDF5 API call clears the error stack on entry, so cleanup after a failed call would
 * erase the reason. sh5_err_save (rc < 0) takes the stack aside before cleanup and
 * sh5_err_restore puts it back for sh5_fail; both do nothing when rc >= 0. */
hid_t sh5_err_save(int rc);
void sh5_err_restore(hid_t saved);

/* True for [A-Za-z0-9_.-]+ segments joined by '/', no empty, "." or ".." segments, no leading
 * or trailing '/', at most SH5_NAME_MAX characters. */
bool sh5_valid_name(const char *name);

/* A new variable-length UTF-8 string type (caller closes), or a negative id. */
hid_t sh5_str_type(void);

/* Object kind at `path` under `loc`: H5O_TYPE_GROUP / H5O_TYPE_DATASET / ..., or
 * H5O_TYPE_UNKNOWN when nothing is there (or an intermediate component is not a group).
 * Never leaves anything on HDF5's error stack. */
H5O_type_t sh5_kind(hid_t loc, const char *path);

/* Checks that `path` under `loc` can hold a new object: every proper prefix is absent or a
 * group. On failure sets e with "<what> '<name>' in <file>: <prefix> is not a group". */
int sh5_check_parents(hid_t loc, const char *path, const char *what, const char *name,
                      const char *file, herr *e);

/* Validates `name` (sh5_valid_name) and prepares "<group>/<name>" for a new dataset: the
 * path may not be a group, its parents must be groups or missing, and an existing dataset
 * there is removed when `replace` (else it is an error). `what` names the kind of object in
 * messages ("metric", "series"). *full receives the path without a leading '/' (caller
 * frees). */
int sh5_prepare_slot(hid_t file, const char *file_path, const char *group, const char *what,
                     const char *name, bool replace, char **full, herr *e);

/* File access property list with H5F_CLOSE_STRONG, so H5Fclose really closes the file (and
 * anything left open) and an aborted writer never keeps it busy. */
hid_t sh5_strong_fapl(void);

/* Link creation property list that creates missing intermediate groups (caller closes). */
hid_t sh5_lcpl(void);

/* Attributes, replacing any attribute of the same name. Return 0 or a negative value (the
 * HDF5 error stack is left for sh5_fail). value NULL is written as "". */
int sh5_put_str_attr(hid_t obj, const char *name, const char *value);
int sh5_put_i32_attr(hid_t obj, const char *name, int32_t value);
int sh5_put_u64_attr(hid_t obj, const char *name, uint64_t value);

/* Reads a string attribute (variable or fixed length) into a new string; NULL when it is
 * missing or not a string (*missing tells which when given). */
char *sh5_get_str_attr(hid_t obj, const char *name, bool *missing);
/* Reads an integer attribute; -1 when missing or not an integer. */
int sh5_get_int_attr(hid_t obj, const char *name, long long *out);

/* A scalar UTF-8 string dataset at `path` (intermediate groups created); an existing
 * dataset there is replaced. */
int sh5_put_str_dataset(hid_t loc, const char *path, const char *value);
/* Reads a scalar string dataset into a new string; NULL on failure (HDF5 stack kept). */
char *sh5_get_str_dataset(hid_t loc, const char *path);

/* Removes the dataset at `path` when there is one (so it can be re-created). */
int sh5_unlink_dataset(hid_t loc, const char *path);

/* Writer's list of open series. */
void sh5_writer_add_series(store_writer *w, store_series *s);
void sh5_writer_remove_series(store_writer *w, store_series *s);
/* Frees a series without flushing (store_abort). */
void sh5_series_discard(store_series *s);

#endif

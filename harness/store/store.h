/* Results store: one HDF5 file per stage holding its resolved config (YAML text),
 * provenance, scalar metrics, appendable time series and artifacts. The layout is documented
 * in results/README.md; users read it with h5py or h5dump. Writers never make a file look
 * complete: the runner writes under a temporary name and renames on success, and a file only
 * carries the root attribute complete=1 after store_close succeeded. */
#ifndef MDH_STORE_H
#define MDH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

#define STORE_FORMAT "mdh-stage"
#define STORE_FORMAT_VERSION 1

typedef struct store_writer store_writer;
typedef struct store_reader store_reader;
typedef struct store_series store_series;

/* Provenance recorded in /provenance (attributes, all strings but seed and threads). */
typedef struct store_provenance {
  const char *harness_version;
  const char *git_commit;
  const char *libtorch_version;
  const char *device;      /* "cpu", "cuda:0 (NVIDIA H100 ...)" */
  const char *host;
  const char *start_time;  /* ISO 8601 UTC, "2026-11-25T10:46:03Z" */
  const char *end_time;
  uint64_t seed;           /* the stage's derived seed */
  int threads;
} store_provenance;

typedef enum store_dtype { STORE_F32, STORE_F64, STORE_I32, STORE_I64, STORE_U8 } store_dtype;

/* ---- writing ---- */
/* Creates (truncates) an HDF5 file and writes the root attributes format, format_version,
 * stage_id, kind, variant. */
store_writer *store_create(const char *path, const char *stage_id, const char *kind,
                           const char *variant, herr *e);
/* /config: a scalar variable-length UTF-8 string dataset holding YAML text. */
int store_put_config(store_writer *w, const char *yaml, herr *e);
/* /provenance group attributes; may be called again to update end_time. */
int store_put_provenance(store_writer *w, const store_provenance *p, herr *e);
/* /metrics/<name>: a scalar float64 dataset (re-putting a name overwrites it). Names are
 * [A-Za-z0-9_.-]+; '/' makes subgroups ("test/auc"). */
int store_put_metric(store_writer *w, const char *name, double value, herr *e);
/* /metrics/<name> as a scalar string dataset (e.g. the best model's name). */
int store_put_metric_str(store_writer *w, const char *name, const char *value, herr *e);
/* /series/<name>: an extensible 1-D dataset of a compound type with one float64 field per
 * column (h5py: f['series/loss']['loss']), chunked and gzip-compressed, growing by append. */
store_series *store_series_create(store_writer *w, const char *name, const char *const *columns,
                                  size_t ncols, herr *e);
int store_series_append(store_series *s, const double *row, herr *e);
/* Appends nrows rows (row-major, ncols values each) in one write. */
int store_series_append_rows(store_series *s, const double *rows, size_t nrows, herr *e);
/* Flushes buffered rows; series are closed by store_close too. */
int store_series_close(store_series *s, herr *e);
/* /arrays/<name>: an n-dimensional dataset (chunked + gzip when large). */
int store_put_array(store_writer *w, const char *name, store_dtype dtype, size_t ndims,
                    const size_t *dims, const void *data, herr *e);
/* /artifacts/<name>: a scalar string dataset holding a path relative to the stage
 * directory (images, checkpoints). */
int store_put_artifact(store_writer *w, const char *name, const char *relpath, herr *e);
/* Writes complete=1 on the root, flushes and closes. On failure the file must be discarded. */
int store_close(store_writer *w, herr *e);
/* Closes without marking complete (error paths). */
void store_abort(store_writer *w);

/* ---- reading ---- */
/* Opens read-only; fails unless the file is an mdh-stage file with complete=1 (the message
 * says which it is: not HDF5, wrong format, incomplete). */
store_reader *store_open(const char *path, herr *e);
void store_reader_close(store_reader *r);
/* Root attributes. The returned strings live as long as the reader. */
const char *store_stage_id(const store_reader *r);
const char *store_kind(const store_reader *r);
const char *store_variant(const store_reader *r);
/* /config text (caller frees). */
char *store_get_config(store_reader *r, herr *e);
int store_get_metric(store_reader *r, const char *name, double *out, herr *e);
/* Caller frees. */
char *store_get_metric_str(store_reader *r, const char *name, herr *e);
/* Names of all numeric metrics (full paths like "test/auc"), sorted; caller frees each and the
 * array. */
int store_list_metrics(store_reader *r, char ***names, size_t *n, herr *e);
/* A whole series as rows (row-major; caller frees *rows) with its column names (caller frees
 * each and the array). */
int store_get_series(store_reader *r, const char *name, double **rows, size_t *nrows,
                     char ***columns, size_t *ncols, herr *e);
/* An array converted to float64 (caller frees); dims written to dims[0..*ndims), at most 8. */
int store_get_array_f64(store_reader *r, const char *name, double **data, size_t *ndims,
                        size_t dims[8], herr *e);
/* A provenance attribute as text (caller frees). */
char *store_get_provenance(store_reader *r, const char *key, herr *e);
/* /artifacts/<name>: the stored relative path (caller frees). */
char *store_get_artifact(store_reader *r, const char *name, herr *e);

#endif

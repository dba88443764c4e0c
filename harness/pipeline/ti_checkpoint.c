/* ti_checkpoint: state file of a textual-inversion run. */
#include "harness/pipeline/ti_checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/safetensors.h"

#define TI_STATE_FORMAT "mdh-ti-state-1"

int ti_state_alloc(ti_state *s, int64_t n_rows, int64_t dim, int64_t steps, herr *e) {
  memset(s, 0, sizeof *s);
  size_t n = (size_t)(n_rows * dim);
  s->n_rows = n_rows;
  s->dim = dim;
  s->loss_scale = 1.0;
  s->rows = calloc(n, sizeof *s->rows);
  s->exp_avg = calloc(n, sizeof *s->exp_avg);
  s->exp_avg_sq = calloc(n, sizeof *s->exp_avg_sq);
  s->losses = calloc((size_t)steps + 1, sizeof *s->losses);
  s->lrs = calloc((size_t)steps + 1, sizeof *s->lrs);
  if (!s->rows || !s->exp_avg || !s->exp_avg_sq || !s->losses || !s->lrs) {
    ti_state_free(s);
    return herr_set(e, "out of memory for a training state of %" PRId64 " x %" PRId64, n_rows, dim);
  }
  return 0;
}

void ti_state_free(ti_state *s) {
  free(s->rows);
  free(s->exp_avg);
  free(s->exp_avg_sq);
  free(s->losses);
  free(s->lrs);
  memset(s, 0, sizeof *s);
}

int ti_state_write(const char *path, const ti_state *s, herr *e) {
  size_t nb = (size_t)(s->n_rows * s->dim) * sizeof(float);
  size_t nl = (size_t)s->step * sizeof(double);
  st_tensor t[5] = {
      {.name = "rows", .dtype = ST_F32, .ndim = 2, .shape = {s->n_rows, s->dim}, .data = s->rows, .nbytes = nb},
      {.name = "exp_avg", .dtype = ST_F32, .ndim = 2, .shape = {s->n_rows, s->dim}, .data = s->exp_avg, .nbytes = nb},
      {.name = "exp_avg_sq", .dtype = ST_F32, .ndim = 2, .shape = {s->n_rows, s->dim}, .data = s->exp_avg_sq,
       .nbytes = nb},
      {.name = "losses", .dtype = ST_F64, .ndim = 1, .shape = {s->step}, .data = s->losses, .nbytes = nl},
      {.name = "lrs", .dtype = ST_F64, .ndim = 1, .shape = {s->step}, .data = s->lrs, .nbytes = nl}};
  char step[32], scale[40];
  snprintf(step, sizeof step, "%" PRId64, s->step);
  snprintf(scale, sizeof scale, "%.17g", s->loss_scale);
  const char *keys[] = {"format", "step", "loss_scale", "fingerprint"};
  const char *vals[] = {TI_STATE_FORMAT, step, scale, s->fingerprint};
  return st_write(path, t, 5, keys, vals, 4, e);
}

static int copy_tensor(const st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape, void *out,
                       herr *e) {
  const st_tensor *t = st_expect(f, name, dt, ndim, shape, e);
  if (!t) return -1;
  if (t->nbytes) memcpy(out, t->data, t->nbytes);
  return 0;
}

static const char *meta_or_err(const st_file *f, const char *key, herr *e) {
  const char *v = st_metadata(f, key);
  if (!v) herr_set(e, "%s: not a training state (metadata '%s' missing)", st_path(f), key);
  return v;
}

int ti_state_peek_fingerprint(const char *path, char out[65], herr *e) {
  st_file *f = st_open(path, e);
  if (!f) return -1;
  const char *fmt = meta_or_err(f, "format", e), *fp = fmt ? meta_or_err(f, "fingerprint", e) : NULL;
  int rc = fp ? 0 : -1;
  if (fmt && strcmp(fmt, TI_STATE_FORMAT)) rc = herr_set(e, "%s: state format '%s', expected %s", path, fmt, TI_STATE_FORMAT);
  if (!rc) snprintf(out, 65, "%s", fp);
  st_close(f);
  return rc;
}

int ti_state_read(const char *path, int64_t n_rows, int64_t dim, int64_t max_steps, ti_state *s, herr *e) {
  memset(s, 0, sizeof *s);
  char fp[65];
  if (ti_state_peek_fingerprint(path, fp, e)) return -1;
  st_file *f = st_open(path, e);
  if (!f) return -1;
  const char *step_s = meta_or_err(f, "step", e), *scale_s = step_s ? meta_or_err(f, "loss_scale", e) : NULL;
  int rc = scale_s ? 0 : -1;
  char *end = NULL;
  long long step = 0;
  double scale = 1;
  if (!rc) {
    errno = 0;
    step = strtoll(step_s, &end, 10);
    if (errno || *end || step < 0 || step > max_steps)
      rc = herr_set(e, "%s: step '%s' is not in 0..%" PRId64, path, step_s, max_steps);
  }
  if (!rc) {
    scale = strtod(scale_s, &end);
    if (*end || !(scale > 0)) rc = herr_set(e, "%s: loss_scale '%s' is not a positive number", path, scale_s);
  }
  if (!rc) rc = ti_state_alloc(s, n_rows, dim, max_steps, e);
  if (!rc) {
    s->step = step;
    s->loss_scale = scale;
    snprintf(s->fingerprint, sizeof s->fingerprint, "%s", fp);
    const int64_t rshape[2] = {n_rows, dim}, lshape[1] = {step};
    rc = copy_tensor(f, "rows", ST_F32, 2, rshape, s->rows, e);
    if (!rc) rc = copy_tensor(f, "exp_avg", ST_F32, 2, rshape, s->exp_avg, e);
    if (!rc) rc = copy_tensor(f, "exp_avg_sq", ST_F32, 2, rshape, s->exp_avg_sq, e);
    if (!rc) rc = copy_tensor(f, "losses", ST_F64, 1, lshape, s->losses, e);
    if (!rc) rc = copy_tensor(f, "lrs", ST_F64, 1, lshape, s->lrs, e);
    if (rc) ti_state_free(s);
  }
  st_close(f);
  return rc;
}

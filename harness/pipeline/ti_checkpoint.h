/* ti_checkpoint: the resumable state of a textual-inversion run in one safetensors file
 * (rows, AdamW moments, per-step losses and rates; step, loss scale and the run's fingerprint in
 * the metadata), written atomically so a kill never leaves a half-written state. */
#ifndef MDH_PIPELINE_TI_CHECKPOINT_H
#define MDH_PIPELINE_TI_CHECKPOINT_H

#include <stdint.h>

#include "harness/util/herr.h"

typedef struct ti_state {
  int64_t n_rows, dim;
  float *rows, *exp_avg, *exp_avg_sq; /* [n_rows, dim] each */
  int64_t step;                       /* optimizer steps taken */
  double loss_scale;
  double *losses, *lrs;               /* [step] */
  char fingerprint[65];               /* sha256 hex of what determines the run */
} ti_state;

/* Allocates zeroed buffers for n_rows x dim and `steps` loss entries. */
int ti_state_alloc(ti_state *s, int64_t n_rows, int64_t dim, int64_t steps, herr *e);
void ti_state_free(ti_state *s);

int ti_state_write(const char *path, const ti_state *s, herr *e);
/* Reads a state written by ti_state_write; it must hold n_rows x dim rows (errors say what the
 * file holds) and at most max_steps losses. */
int ti_state_read(const char *path, int64_t n_rows, int64_t dim, int64_t max_steps, ti_state *s, herr *e);
/* The fingerprint stored in a state file (without reading the tensors). */
int ti_state_peek_fingerprint(const char *path, char out[65], herr *e);

#endif

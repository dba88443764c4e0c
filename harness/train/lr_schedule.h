/* lr_schedule: learning rates for textual inversion — A1111 piecewise specs ("0.005:100, 1e-3")
 * and diffusers' get_scheduler kinds (constant, linear, cosine, with linear warm-up). */
#ifndef MDH_TRAIN_LR_SCHEDULE_H
#define MDH_TRAIN_LR_SCHEDULE_H

#include "harness/util/herr.h"

typedef struct lr_schedule lr_schedule;

/* spec: "RATE" or "RATE:STEP, RATE:STEP, ..., RATE" (A1111: a rate applies up to and including
 * its step; a last piece without a step lasts forever; steps strictly increasing). kind:
 * "constant", "linear" or "cosine" (decay from the rate to 0 over total_steps, after a linear
 * warm-up from 0 over warmup_steps; diffusers' get_scheduler, cosine with num_cycles 0.5; step
 * `k` uses diffusers' lambda(k - 1), so the first warm-up step has rate 0). "constant" with a
 * warm-up is diffusers' "constant_with_warmup" (also accepted by that name). Several pieces need
 * kind "constant" and no warm-up. Errors name the offending piece. */
int lr_schedule_new(const char *spec, const char *kind, long long warmup_steps, long long total_steps,
                    lr_schedule **out, herr *e);
/* The rate for optimizer step `step` (1-based). */
double lr_schedule_at(const lr_schedule *s, long long step);
/* A1111: the last piece's end step, or -1 when the last piece is unbounded. */
long long lr_schedule_last_step(const lr_schedule *s);
void lr_schedule_free(lr_schedule *s);

#endif

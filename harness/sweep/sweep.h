/* Sweep expansion: the `sweep:` section of a config turns into a list of points — a grid
 * (cartesian product over dotted key paths), zip groups (lists moving in lockstep), explicit
 * lists and numeric ranges, repeated seeds, and exclusions. */
#ifndef MDH_SWEEP_H
#define MDH_SWEEP_H

#include <stddef.h>

#include "harness/config/cfg.h"

/* Refuses sweeps larger than this: almost always a typo in a range. */
#define SWEEP_MAX_POINTS 100000

typedef struct sweep_point {
  size_t index;
  cfg_node *config;      /* the base config without `sweep:`, with this point's values set */
  cfg_node *assignments; /* map: dotted key path -> value, in sweep order ("seed" last) */
  char *label;           /* "toy.fit.lr=0.1 toy.data.noise=0.2 seed=1" ("(base)" when empty) */
  long long seed;        /* the point's seed (`seed:`, or this point's entry of sweep.seeds) */
} sweep_point;

/* Expands `root` (a loaded config). Without a sweep section the result is one point. Errors
 * name the file:line:col of the offending sweep entry. */
int sweep_expand(const cfg_node *root, sweep_point **out, size_t *n, herr *e);
void sweep_points_free(sweep_point *points, size_t n);

/* The values of one sweep axis: a sequence as written, or a range map
 * {from, to, step} (inclusive of `to`) or {from, to, num[, log: true]}. Returns a new
 * sequence node. */
cfg_node *sweep_axis_values(const cfg_node *spec, const char *path, herr *e);

#endif

/* The sweep index, RESULTS/index.h5: the points of the last planned sweep, the stages each
 * uses and every stage's state when the index was written. `harness status` reads it for the
 * structure and the stage directories for live states. Rewritten atomically under a lock. */
#ifndef MDH_INDEX_H
#define MDH_INDEX_H

#include <stddef.h>

#include "harness/runner/plan.h"

#define INDEX_FORMAT "mdh-index"
#define INDEX_FORMAT_VERSION 1

int index_write(const plan *p, const char *results_dir, herr *e);

typedef struct index_data {
  char *name;
  char *config_yaml;
  size_t npoints;
  char **point_labels;
  char **point_stages;      /* space-separated stage ids, upstream first */
  char **point_assignments; /* the swept values as canonical JSON ({"a.b": 1}; "{}" unswept) */
  long long *point_seeds;
  size_t nstages;
  char **stage_ids;
  char **stage_kinds;
  char **stage_variants;
  char **stage_deps; /* "role=id role=id" */
} index_data;

index_data *index_read(const char *results_dir, herr *e);
void index_free(index_data *d);

#endif

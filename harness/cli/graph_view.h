/* What `plan` and `status` print: points with their state and the unique stages with theirs,
 * from a fresh plan or from a results directory's index. */
#ifndef MDH_GRAPH_VIEW_H
#define MDH_GRAPH_VIEW_H

#include <stdio.h>

#include "harness/runner/index.h"
#include "harness/runner/plan.h"
#include "harness/runner/stage_dir.h"

typedef struct graph_view {
  const char *name;
  const char *results_dir;
  size_t nstages;
  const char **ids, **kinds, **variants;
  stage_state *states;
  size_t *uses; /* points per stage */
  char **upstream; /* per stage: short ids of its upstream stages, "" for none */
  size_t npoints;
  const char **labels;
  size_t **point_stages;
  size_t *point_nstages;
} graph_view;

graph_view *graph_view_from_plan(const plan *p, const char *results_dir);
/* Stage ids in the index that are unknown there are an error. */
graph_view *graph_view_from_index(const index_data *d, const char *results_dir, herr *e);
void graph_view_free(graph_view *v);
/* Prints the header, the points (unless brief) and the stages; `verb` words the pending
 * state ("would run" for plan, "pending" for status). */
void graph_view_print(const graph_view *v, FILE *out, bool list_points, bool list_stages);

#endif

/* One side of a regression check (internal to analysis/regress): a results directory's sweep
 * index, and what its evaluate stage of a point recorded — per arm the runs' AUCs, standard
 * errors and the classify stages' test predictions, and every numeric metric. */
#ifndef MDH_REGRESS_SIDE_H
#define MDH_REGRESS_SIDE_H

#include "analysis/regress/regress.h"
#include "harness/runner/index.h"

typedef struct regress_side {
  const char *what; /* "baseline" or "current", for messages */
  const char *dir;
  index_data *ix;
} regress_side;

/* Reads DIR/index.h5; the message says when DIR is missing or not a results directory. */
int side_open(const char *dir, const char *what, regress_side *s, herr *e);
void side_close(regress_side *s);
/* Index of the point with this label, or -1. */
long side_find_point(const regress_side *s, const char *label);
/* The point's evaluate stage id (lives as long as the index), or NULL when it has none. */
const char *side_point_evaluate(const regress_side *s, size_t point);
/* DIR/stages/ID/NAME (caller frees). */
char *side_stage_path(const regress_side *s, const char *id, const char *name);

typedef struct side_arm {
  char *name;
  size_t nruns;
  regress_run_data *runs;
  regress_preds *preds; /* per run; runs[k].preds points here when it was read */
} side_arm;

typedef struct side_eval {
  size_t nmetrics;
  char **names; /* sorted */
  double *values;
  side_arm *arms;
  size_t narms;
  char **commits; /* distinct provenance git_commit values of the evaluate and classify stages */
  size_t ncommits;
} side_eval;

/* Opens the evaluate stage (must be complete) and its classify stages' predictions; a classify
 * stage whose predictions cannot be read leaves that run without (the arm is compared unpaired). */
int side_eval_load(const regress_side *s, const char *eval_id, side_eval *out, herr *e);
void side_eval_free(side_eval *v);
/* The metric's value, NaN when absent. */
double side_metric(const side_eval *v, const char *name);
const side_arm *side_find_arm(const side_eval *v, const char *name);

/* Keys whose values differ between two configs given as YAML ("classify.lr: 0.001 -> 0.002",
 * "only in the current results" for one-sided keys); the run's name and results_dir are left
 * out. Appends to *out. */
int config_diff(const char *yaml_b, const char *yaml_c, char ***out, size_t *n, herr *e);

#endif

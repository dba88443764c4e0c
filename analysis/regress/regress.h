/* Regression check between two results directories (`harness regress`): points matched by
 * label, and for every arm of each point's evaluate stage the difference of the mean test AUC
 * (current − baseline) with a DeLong standard error, paired per run when both sides scored the
 * same test cases. A REGRESSION is a drop beyond the tolerance that is also significant:
 *   diff < −tolerance  and  diff + z_{1−alpha}·se < 0   (one-sided upper bound below zero).
 * Plus the slim baseline copy (`harness baseline`) that such a check runs against. The rule and
 * the exit statuses are documented in analysis/regress/README.md. */
#ifndef MDH_REGRESS_H
#define MDH_REGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "harness/util/herr.h"

#define REGRESS_DEFAULT_TOLERANCE 0.02
#define REGRESS_DEFAULT_ALPHA 0.05

/* Exit statuses of `harness regress` (same numbers as the harness's EXIT_* codes). */
enum { REGRESS_EXIT_OK = 0, REGRESS_EXIT_REGRESSION = 1, REGRESS_EXIT_INCOMPARABLE = 3 };

typedef struct regress_opts {
  double tolerance; /* AUC drop that is never called a regression, however significant */
  double alpha;     /* one-sided level of the significance condition */
  bool all;         /* text report: list every differing evaluate metric, per run ones too */
} regress_opts;

typedef enum regress_verdict {
  REGRESS_OK,
  REGRESS_REGRESSION,
  REGRESS_IMPROVED, /* the mirror image: diff > tolerance and the lower bound above zero */
  REGRESS_NOT_COMPARABLE
} regress_verdict;

const char *regress_verdict_name(regress_verdict v); /* "ok", "REGRESSION", "improved", "not comparable" */

/* ---- the decision rule on numbers (decide.c) ---- */

/* The verdict for a difference and its standard error (NaN in either: not comparable). */
regress_verdict regress_decide(double diff, double se, const regress_opts *o);

/* One test set's predictions of one classify run (the rows of test_predictions.csv). */
typedef struct regress_preds {
  size_t n;
  char **ids;
  int *labels;
  double *scores;
} regress_preds;

/* Reads case_id,label,score; errors name the file and line. */
int regress_preds_read(const char *path, regress_preds *out, herr *e);
void regress_preds_free(regress_preds *p);
/* Whether c scores exactly the cases of b (same ids, each with the same label, in any order).
 * On success *c_scores (caller frees) holds c's scores in b's row order; otherwise e says
 * which case differs. */
int regress_preds_align(const regress_preds *b, const regress_preds *c, double **c_scores, herr *e);

/* One classify run as the evaluate stage recorded it. */
typedef struct regress_run_data {
  double auc, se;             /* <arm>/r<k>/auc and <arm>/r<k>/delong_se */
  const regress_preds *preds; /* the run's test predictions; NULL when not available */
} regress_run_data;

/* The result for one arm of one point. */
typedef struct regress_arm {
  char *arm;
  size_t runs_b, runs_c;
  double auc_b, auc_c;  /* mean test AUC over the runs (NaN when the side has none) */
  double diff, se;      /* current − baseline and its standard error */
  double ci_lo, ci_hi;  /* diff ± z_{1−alpha}·se: the two-sided (1 − 2·alpha) interval, whose
                           upper end is the one-sided bound the rule uses */
  bool paired;          /* paired DeLong per run (same test cases) rather than unpaired */
  regress_verdict verdict;
  char *note;           /* why unpaired or not comparable; NULL when there is nothing to say */
} regress_arm;

/* Compares one arm: paired when both sides have the same number of runs and every run's
 * predictions exist on both sides and score the same cases; then per run the paired DeLong
 * test of current vs baseline scores, diff = mean over runs of (current − baseline),
 * se = sqrt(Σ var_k)/R. Otherwise unpaired from the evaluate stage's DeLong se's:
 * diff = mean_c − mean_b, se² = Σ se_c²/R_c² + Σ se_b²/R_b² (= Σ (se_b² + se_c²)/R² for equal R).
 * A side without runs, or a NaN AUC or se, makes the arm not comparable. */
void regress_compare_arm(const char *arm, const regress_run_data *b, size_t nb, const regress_run_data *c, size_t nc,
                         const regress_opts *o, regress_arm *out);
void regress_arm_free(regress_arm *a);

/* ---- two results directories (compare.c) ---- */

/* A numeric evaluate metric other than the gated mean AUC, on either side (informational). */
typedef struct regress_metric {
  char *name;        /* "real/auc_sd", "compare/real_vs_synthetic/diff_mean", "real/r0/delong_se" */
  double b, c;       /* NaN where the side lacks it */
  bool per_run;      /* the name has a /r<k>/ segment */
} regress_metric;

typedef struct regress_point {
  char *label;
  char *eval_b, *eval_c; /* the evaluate stage ids (equal ids: identical inputs) */
  char *incomplete;      /* why the point could not be compared (its evaluate stage is missing or
                            not complete on a side); NULL when compared */
  regress_arm *arms;
  size_t narms;
  regress_metric *metrics; /* differing (or one-sided) metrics, sorted by name */
  size_t nmetrics;
} regress_point;

typedef struct regress_report {
  char *baseline, *current;
  regress_opts opts;
  char **only_b, **only_c; /* point labels on one side only */
  size_t n_only_b, n_only_c;
  regress_point *points;   /* common points that have an evaluate stage, in baseline order */
  size_t npoints;
  char *commits_b, *commits_c; /* the git commits that wrote the compared stages, ", "-joined */
  char **config_diffs;         /* "classify.lr: 0.001 -> 0.002" between the two sweep configs */
  size_t n_config_diffs;
  size_t n_ok, n_regression, n_improved, n_not_comparable, n_incomplete;
} regress_report;

/* Compares two results directories. Fails (e says why; exit status 3) when one is not a
 * readable results directory, when they share no point with an evaluate stage, or when no
 * shared point has a complete evaluate stage on both sides. */
int regress_compare(const char *baseline, const char *current, const regress_opts *o, regress_report **out,
                    herr *e);
void regress_report_free(regress_report *r);
/* 1 when some arm regressed; else 3 when some common point could not be compared; else 0. */
int regress_exit_status(const regress_report *r);

/* ---- output (report_text.c, report_json.c) ---- */
void regress_print_text(FILE *f, const regress_report *r);
/* Numbers round-trip exactly; NaN is null. Caller frees. */
char *regress_report_json(const regress_report *r);

/* ---- the slim baseline copy (baseline_copy.c) ---- */
typedef struct regress_copy_stats {
  size_t files, bytes, evaluate_stages, classify_stages;
} regress_copy_stats;

/* Copies index.h5 and, of every complete evaluate and classify stage, stage.h5, spec.yaml and
 * the text tables in artifacts/ (*.csv, *.md) into out_dir, leaving out checkpoints and images.
 * Written into a temporary folder next to out_dir and renamed into place; an existing out_dir
 * is refused unless force (then replaced). Fails when the source has no complete evaluate
 * stage. */
int regress_baseline_copy(const char *results_dir, const char *out_dir, bool force, regress_copy_stats *st,
                          herr *e);

#endif

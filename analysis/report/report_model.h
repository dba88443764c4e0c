/* The report's view of a results directory, collected once from index.h5, the stage folders and
 * the stage files (report_collect.c) and read by the table, figure, grid and document builders.
 * Numbers that a stage did not (yet) produce are NAN; the builders show those as missing,
 * never as values. Internal to analysis/report/. */
#ifndef MDH_REPORT_MODEL_H
#define MDH_REPORT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/runner/stage_dir.h"
#include "harness/store/store.h"
#include "harness/util/herr.h"

/* Provenance columns of the stage table, in the order shown. */
enum { RP_PROV_HARNESS, RP_PROV_COMMIT, RP_PROV_DEVICE, RP_PROV_THREADS, RP_PROV_HOST, RP_PROV_START, RP_PROV_END,
       RP_NPROV };
extern const char *const rp_prov_keys[RP_NPROV];

typedef struct rp_stage {
  char *id, *kind, *variant, *deps; /* deps: "role=id role=id" as in the index */
  stage_state state;                /* live, from the stage folder; blocked when an upstream failed */
  char *error;                      /* failed.json's message, else NULL */
  char *prov[RP_NPROV];             /* provenance of a complete stage, else NULL */
} rp_stage;

typedef struct rp_run {
  long k;        /* the run number of variant "<arm>-r<k>" */
  size_t stage;  /* index into rp_results.stages */
  double test_auc, best_val_auc;                    /* the classify stage's metrics */
  double auc, dl_lo, dl_hi, boot_lo, boot_hi;       /* the evaluate stage's, per run */
} rp_run;

typedef enum rp_composition { RP_COMP_UNKNOWN, RP_COMP_REAL, RP_COMP_REAL_SYNTHETIC, RP_COMP_SYNTHETIC } rp_composition;

typedef struct rp_arm {
  char *name;
  double n_real, n_synthetic; /* evaluate's, else the classify stage's, else the config's */
  rp_run *runs;
  size_t nruns;
  bool evaluated; /* the point's evaluate stage is complete and holds this arm */
  double auc_mean, auc_sd, dl_lo, dl_hi, boot_lo, boot_hi;
} rp_arm;

typedef struct rp_compare {
  size_t a, b;  /* arm indices; the difference is arm a − arm b */
  double diff_mean, diff_sd, p_max;
  size_t nruns; /* runs with a paired p value */
} rp_compare;

typedef struct rp_point {
  size_t index;
  char *label;
  long long seed;
  size_t nkeys; /* the swept keys of this point, from its canonical-JSON assignments */
  char **keys, **values; /* value as compact JSON text ("4", "\"ddim\"") */
  double *num;           /* the value when it is a number, else NAN */
  size_t *stages, nstages;
  long data, evaluate; /* stage indices, -1 when the point has none */
  size_t *embeds, nembeds, *generates, ngenerates;
  double embed_cases; /* diffusion.embed.train.cases of its embed stages (NAN unknown) */
  double ci_level;    /* 1 - evaluate.alpha of its evaluate stage (NAN unknown) */
  rp_arm *arms;
  size_t narms;
  rp_compare *cmps;
  size_t ncmps;
} rp_point;

typedef struct rp_results {
  char *dir, *name;
  rp_stage *stages;
  size_t nstages;
  rp_point *points;
  size_t npoints;
} rp_results;

/* Reads everything the report shows but the curves and images (read when drawn). A directory
 * without a readable index.h5 is an error naming it. */
rp_results *rp_collect(const char *results_dir, herr *e);
void rp_results_free(rp_results *r);
/* Opens a complete stage's file (NULL with the message when it is not complete). */
store_reader *rp_open_stage(const rp_results *r, size_t stage, herr *e);
/* The stage's folder (caller frees). */
char *rp_stage_dir(const rp_results *r, size_t stage);
/* "failed: <message>", "pending", ... — how an incomplete stage is shown. */
const char *rp_state_text(const rp_stage *s, char *buf, size_t n);
rp_composition rp_arm_composition(const rp_arm *a);
const char *rp_composition_name(rp_composition c);
/* The real-only arm of a point (-1 none). */
long rp_real_arm(const rp_point *p);

/* ---- the paper's published values (report_paper.c) ---- */
typedef struct rp_paper_row {
  const char *arm;
  rp_composition comp;
  int n_real, n_synthetic;
  int embed_cases; /* cases the embeddings were trained on */
  double auc_mean, auc_sd;
} rp_paper_row;
extern const char rp_paper_source[];
const rp_paper_row *rp_paper_rows(size_t *n);
/* The paper row with the arm's composition (for synthetic-only arms, the one whose embedding
 * case count matches, else the 100-case one); NULL when the composition is unknown. */
const rp_paper_row *rp_paper_match(const rp_arm *a, double embed_cases);

/* ---- tables (report_table.c): rows of strings; the CSV form and the shown form ---- */
typedef struct rp_table {
  char *name; /* file stem: tables/<name>.csv */
  size_t ncols, nrows, ncells, cap;
  char **cols, **cells;
} rp_table;

rp_table *rp_table_new(const char *name, const char *const *cols, size_t ncols);
void rp_table_free(rp_table *t);
/* Appends the next cell (rows fill left to right); NULL is an empty cell. */
void rp_table_cell(rp_table *t, const char *text);
void rp_table_cellf(rp_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A number that reads back exactly (empty when NAN). */
void rp_table_num(rp_table *t, double v);
const char *rp_table_at(const rp_table *t, size_t row, size_t col);
/* RFC 4180 CSV, atomically. */
int rp_table_write_csv(const rp_table *t, const char *path, herr *e);

/* "0.780 ± 0.017"-style text for shown tables: "—" for NAN. */
const char *rp_fmt(double v, int digits, char *buf, size_t n);

#endif

/* evaluate_stage: one per point, over every classify stage of it. Per arm and run: the test AUC
 * with DeLong and bootstrap intervals; per arm: mean ± sd over the runs; per pair of arms: the
 * paired DeLong test of each run (same test cases) and the mean difference. Writes metrics and
 * artifacts/summary.csv, runs.csv, comparisons.csv and summary.md (the paper's table). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/bootstrap.h"
#include "experiments/classify_schema.h"
#include "experiments/evaluate_schema.h"
#include "harness/runner/stage.h"
#include "harness/util/csv.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

typedef struct run_eval {
  double *scores;
  auc_delong dl;
  boot_ci bs;
} run_eval;

typedef struct arm_eval {
  classify_arm arm;
  double n_real, n_synthetic;
  run_eval *runs;
  double mean, sd, dl_lo, dl_hi, bs_lo, bs_hi; /* interval bounds: means over the runs */
} arm_eval;

typedef struct eval_ctx {
  size_t n_arms, n_test;
  long long n_runs;
  arm_eval *arms;
  char **ids; /* test case ids (from the first run read) */
  int *labels;
} eval_ctx;

static void eval_free(eval_ctx *v) {
  for (size_t a = 0; v->arms && a < v->n_arms; a++) {
    for (long long k = 0; v->arms[a].runs && k < v->n_runs; k++) free(v->arms[a].runs[k].scores);
    free(v->arms[a].runs);
  }
  free(v->arms);
  for (size_t i = 0; v->ids && i < v->n_test; i++) free(v->ids[i]);
  free(v->ids);
  free(v->labels);
}

/* Reads one classify stage's test_predictions.csv; the first fixes the test cases, the others
 * must list the same cases with the same labels in the same order (paired comparisons). */
static int read_predictions(stage_ctx *ctx, eval_ctx *v, const char *role, double **scores, herr *e) {
  const char *dir = stage_dep_dir(ctx, role, e);
  if (!dir) return -1;
  char *path = fs_join(dir, "artifacts/test_predictions.csv");
  csv_table *t = csv_read(path, e);
  int rc = t ? 0 : -1;
  long ci = t ? csv_column(t, "case_id") : -1, li = t ? csv_column(t, "label") : -1,
       si = t ? csv_column(t, "score") : -1;
  if (!rc && (ci < 0 || li < 0 || si < 0)) rc = herr_set(e, "%s: expected columns case_id, label, score", path);
  if (!rc && t->nrows == 0) rc = herr_set(e, "%s: no predictions", path);
  bool first = !v->ids;
  if (!rc && first) {
    v->n_test = t->nrows;
    v->ids = calloc(t->nrows, sizeof *v->ids);
    v->labels = calloc(t->nrows, sizeof *v->labels);
    if (!v->ids || !v->labels) abort();
  }
  if (!rc && t->nrows != v->n_test)
    rc = herr_set(e, "%s: %zu test cases, but another arm has %zu (arms must share the test split)", path, t->nrows,
                  v->n_test);
  if (!rc) {
    *scores = malloc(t->nrows * sizeof **scores);
    if (!*scores) abort();
  }
  for (size_t r = 0; !rc && r < t->nrows; r++) {
    const char *id = csv_cell(t, r, (size_t)ci), *lab = csv_cell(t, r, (size_t)li), *sc = csv_cell(t, r, (size_t)si);
    char *end;
    double score = strtod(sc, &end);
    int label = !strcmp(lab, "1") ? 1 : !strcmp(lab, "0") ? 0 : -1;
    if (*end || end == sc || !isfinite(score) || label < 0) {
      rc = herr_set(e, "%s:%zu: expected a 0/1 label and a finite score", path, t->line[r]);
      break;
    }
    if (first) {
      v->ids[r] = strdup(id);
      v->labels[r] = label;
    } else if (strcmp(v->ids[r], id) || v->labels[r] != label) {
      rc = herr_set(e, "%s:%zu: case '%s' (label %d) where another arm has '%s' (label %d): arms must score the "
                       "same test cases in the same order",
                    path, t->line[r], id, label, v->ids[r], v->labels[r]);
      break;
    }
    (*scores)[r] = score;
  }
  csv_free(t);
  free(path);
  return rc;
}

static int evaluate_runs(stage_ctx *ctx, eval_ctx *v, herr *e) {
  const cfg_node *c = stage_config(ctx);
  long long n_boot, seed;
  double alpha;
  bool stratified;
  if (cfg_int_at(c, "evaluate.bootstrap", &n_boot, e) || cfg_int_at(c, "evaluate.seed", &seed, e) ||
      cfg_double_at(c, "evaluate.alpha", &alpha, e) || cfg_bool_at(c, "evaluate.stratified", &stratified, e))
    return -1;
  boot_opts bo = {.n_boot = (size_t)n_boot, .seed = (uint64_t)seed, .level = 1 - alpha, .stratified = stratified,
                  .threads = stage_threads(ctx)};
  store_writer *w = stage_store(ctx);
  stage_progress_begin(ctx, "AUC intervals", v->n_arms * (uint64_t)v->n_runs);
  int rc = 0;
  for (size_t a = 0; a < v->n_arms && !rc; a++) {
    arm_eval *ae = &v->arms[a];
    double *aucs = calloc((size_t)v->n_runs, sizeof *aucs);
    if (!aucs) abort();
    for (long long k = 0; k < v->n_runs && !rc; k++) {
      if (stage_cancelled(ctx)) {
        rc = herr_set(e, "interrupted");
        break;
      }
      run_eval *re = &ae->runs[k];
      char role[CLASSIFY_ARM_NAME_MAX + 24], name[160];
      classify_variant_name(ae->arm.name, k, role, sizeof role);
      rc = read_predictions(ctx, v, role, &re->scores, e);
      if (!rc && k == 0) {
        store_reader *r = stage_dep_store(ctx, role, e);
        if (!r || store_get_metric(r, "n_real", &ae->n_real, e) ||
            store_get_metric(r, "n_synthetic", &ae->n_synthetic, e))
          rc = -1;
      }
      if (!rc && auc_delong_ci(re->scores, v->labels, v->n_test, 1 - alpha, &re->dl, e))
        rc = herr_prefix(e, "evaluate: %s: ", role);
      if (!rc && auc_bootstrap_ci(re->scores, v->labels, v->n_test, &bo, &re->bs, e))
        rc = herr_prefix(e, "evaluate: %s: ", role);
      if (rc) break;
      aucs[k] = re->dl.auc;
      ae->dl_lo += re->dl.ci_lo / (double)v->n_runs;
      ae->dl_hi += re->dl.ci_hi / (double)v->n_runs;
      ae->bs_lo += re->bs.pct_lo / (double)v->n_runs;
      ae->bs_hi += re->bs.pct_hi / (double)v->n_runs;
      const char *fields[] = {"auc", "delong_lo", "delong_hi", "delong_se", "boot_lo", "boot_hi"};
      double vals[] = {re->dl.auc, re->dl.ci_lo, re->dl.ci_hi, re->dl.se, re->bs.pct_lo, re->bs.pct_hi};
      for (size_t f = 0; f < 6 && !rc; f++) {
        snprintf(name, sizeof name, "%s/r%lld/%s", ae->arm.name, k, fields[f]);
        rc = store_put_metric(w, name, vals[f], e);
      }
      stage_progress_update(ctx, a * (uint64_t)v->n_runs + (uint64_t)k + 1);
    }
    if (!rc) {
      auc_mean_sd(aucs, (size_t)v->n_runs, &ae->mean, &ae->sd);
      const char *fields[] = {"auc_mean", "auc_sd", "delong_lo_mean", "delong_hi_mean", "boot_lo_mean",
                              "boot_hi_mean", "n_real", "n_synthetic"};
      double vals[] = {ae->mean, ae->sd, ae->dl_lo, ae->dl_hi, ae->bs_lo, ae->bs_hi, ae->n_real, ae->n_synthetic};
      for (size_t f = 0; f < 8 && !rc; f++) {
        char name[160];
        snprintf(name, sizeof name, "%s/%s", ae->arm.name, fields[f]);
        rc = store_put_metric(w, name, vals[f], e);
      }
    }
    free(aucs);
  }
  stage_progress_end(ctx);
  return rc;
}

static void fmt_num(strbuf *sb, double x) {
  if (isfinite(x))
    sb_appendf(sb, "%.4f", x);
  else
    sb_append(sb, "n/a");
}

/* Paired DeLong per run for every pair of arms, and the mean difference over runs. */
static int compare_arms(stage_ctx *ctx, const eval_ctx *v, double level, strbuf *csv, strbuf *md, herr *e) {
  store_writer *w = stage_store(ctx);
  sb_append(csv, "arm1,arm2,run,auc1,auc2,diff,se_diff,z,p\n");
  int rc = 0;
  for (size_t a = 0; a < v->n_arms && !rc; a++)
    for (size_t b = a + 1; b < v->n_arms && !rc; b++) {
      const arm_eval *A = &v->arms[a], *B = &v->arms[b];
      double *diffs = calloc((size_t)v->n_runs, sizeof *diffs), p_max = 0;
      if (!diffs) abort();
      char name[200];
      for (long long k = 0; k < v->n_runs && !rc; k++) {
        auc_delong_paired t;
        if (auc_delong_paired_test(A->runs[k].scores, B->runs[k].scores, v->labels, v->n_test, level, &t, e)) {
          rc = herr_prefix(e, "evaluate: %s vs %s, run %lld: ", A->arm.name, B->arm.name, k);
          break;
        }
        diffs[k] = t.diff;
        if (t.p > p_max) p_max = t.p;
        sb_appendf(csv, "%s,%s,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", A->arm.name, B->arm.name, k, t.auc1,
                   t.auc2, t.diff, t.se_diff, t.z, t.p);
        snprintf(name, sizeof name, "compare/%s_vs_%s/r%lld/diff", A->arm.name, B->arm.name, k);
        rc = store_put_metric(w, name, t.diff, e);
        snprintf(name, sizeof name, "compare/%s_vs_%s/r%lld/p", A->arm.name, B->arm.name, k);
        if (!rc) rc = store_put_metric(w, name, t.p, e);
      }
      double mean, sd;
      auc_mean_sd(diffs, (size_t)v->n_runs, &mean, &sd);
      free(diffs);
      snprintf(name, sizeof name, "compare/%s_vs_%s/diff_mean", A->arm.name, B->arm.name);
      if (!rc) rc = store_put_metric(w, name, mean, e);
      snprintf(name, sizeof name, "compare/%s_vs_%s/diff_sd", A->arm.name, B->arm.name);
      if (!rc) rc = store_put_metric(w, name, sd, e);
      sb_appendf(md, "| %s − %s | ", A->arm.name, B->arm.name);
      fmt_num(md, mean);
      sb_append(md, " ± ");
      fmt_num(md, sd);
      sb_append(md, " | ");
      fmt_num(md, p_max);
      sb_append(md, " |\n");
    }
  return rc;
}

static int write_artifact(stage_ctx *ctx, const char *name, strbuf *sb, herr *e) {
  char *path = fs_join(stage_artifact_dir(ctx), name), rel[128];
  int rc = fs_write_atomic(path, sb_str(sb), strlen(sb_str(sb)), e);
  free(path);
  snprintf(rel, sizeof rel, "artifacts/%s", name);
  char key[64]; /* "summary.csv" -> "summary_csv": artifact names are [A-Za-z0-9_] */
  snprintf(key, sizeof key, "%s", name);
  *strchr(key, '.') = '_';
  if (!rc) rc = store_put_artifact(stage_store(ctx), key, rel, e);
  return rc;
}

static int write_tables(stage_ctx *ctx, const eval_ctx *v, double alpha, herr *e) {
  strbuf sum = STRBUF_INIT, runs = STRBUF_INIT, cmp = STRBUF_INIT, md = STRBUF_INIT;
  int pct = (int)lround(100 * (1 - alpha));
  sb_append(&sum, "arm,n_real,n_synthetic,runs,auc_mean,auc_sd,delong_lo_mean,delong_hi_mean,boot_lo_mean,"
                  "boot_hi_mean\n");
  sb_append(&runs, "arm,run,n_test,auc,delong_lo,delong_hi,delong_se,boot_lo,boot_hi\n");
  sb_appendf(&md, "| arm | #real | #synthetic | AUC (mean ± sd over %lld runs) | %d%% CI DeLong | %d%% CI bootstrap |\n"
                  "|---|---:|---:|---|---|---|\n",
             v->n_runs, pct, pct);
  for (size_t a = 0; a < v->n_arms; a++) {
    const arm_eval *A = &v->arms[a];
    sb_appendf(&sum, "%s,%.0f,%.0f,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", A->arm.name, A->n_real,
               A->n_synthetic, v->n_runs, A->mean, A->sd, A->dl_lo, A->dl_hi, A->bs_lo, A->bs_hi);
    for (long long k = 0; k < v->n_runs; k++) {
      const run_eval *r = &A->runs[k];
      sb_appendf(&runs, "%s,%lld,%zu,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", A->arm.name, k, v->n_test, r->dl.auc,
                 r->dl.ci_lo, r->dl.ci_hi, r->dl.se, r->bs.pct_lo, r->bs.pct_hi);
    }
    sb_appendf(&md, "| %s | %.0f | %.0f | ", A->arm.name, A->n_real, A->n_synthetic);
    fmt_num(&md, A->mean);
    sb_append(&md, " ± ");
    fmt_num(&md, A->sd);
    sb_append(&md, " | ");
    fmt_num(&md, A->dl_lo);
    sb_append(&md, " – ");
    fmt_num(&md, A->dl_hi);
    sb_append(&md, " | ");
    fmt_num(&md, A->bs_lo);
    sb_append(&md, " – ");
    fmt_num(&md, A->bs_hi);
    sb_append(&md, " |\n");
  }
  sb_appendf(&md, "\nIntervals: means over the runs of each run's %d%% interval on the %zu test cases.\n", pct,
             v->n_test);
  int rc = 0;
  if (v->n_arms > 1) {
    sb_append(&md, "\n| comparison (paired, same test cases) | AUC difference (mean ± sd over runs) | largest "
                   "DeLong p over runs |\n|---|---|---|\n");
    rc = compare_arms(ctx, v, 1 - alpha, &cmp, &md, e);
  }
  if (!rc) rc = write_artifact(ctx, "summary.csv", &sum, e);
  if (!rc) rc = write_artifact(ctx, "runs.csv", &runs, e);
  if (!rc && v->n_arms > 1) rc = write_artifact(ctx, "comparisons.csv", &cmp, e);
  if (!rc) rc = write_artifact(ctx, "summary.md", &md, e);
  if (!rc) stage_log(ctx, "\n%s", sb_str(&md));
  sb_free(&sum);
  sb_free(&runs);
  sb_free(&cmp);
  sb_free(&md);
  return rc;
}

static int evaluate_run(stage_ctx *ctx, herr *e) {
  eval_ctx v = {0};
  classify_arm *arms;
  double alpha;
  if (cfg_double_at(stage_config(ctx), "evaluate.alpha", &alpha, e) ||
      classify_read_arms(stage_config(ctx), &arms, &v.n_arms, &v.n_runs, e))
    return -1;
  v.arms = calloc(v.n_arms, sizeof *v.arms);
  if (!v.arms) abort();
  for (size_t a = 0; a < v.n_arms; a++) {
    v.arms[a].arm = arms[a];
    v.arms[a].runs = calloc((size_t)v.n_runs, sizeof *v.arms[a].runs);
    if (!v.arms[a].runs) abort();
  }
  free(arms);
  int rc = evaluate_runs(ctx, &v, e);
  if (!rc) rc = store_put_metric(stage_store(ctx), "n_test", (double)v.n_test, e);
  if (!rc) rc = write_tables(ctx, &v, alpha, e);
  eval_free(&v);
  return rc;
}

/* Every classify stage of the point, each in the role named by its variant ("real-r0"). The
 * role string is the variant the list owns, so it lives as long as the planner needs it. */
static int evaluate_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  classify_arm *arms;
  size_t na;
  long long runs;
  if (classify_read_arms(point, &arms, &na, &runs, e)) return -1;
  stage_dep *d = calloc(na * (size_t)runs + 1, sizeof *d);
  if (!d) abort();
  *n = 0;
  for (size_t a = 0; a < na; a++)
    for (long long k = 0; k < runs; k++) {
      char buf[CLASSIFY_ARM_NAME_MAX + 24];
      classify_variant_name(arms[a].name, k, buf, sizeof buf);
      d[*n].kind = "classify";
      d[*n].variant = strdup(buf);
      d[*n].role = d[*n].variant;
      (*n)++;
    }
  free(arms);
  *out = d;
  return 0;
}

static const char *const evaluate_keys[] = {"evaluate", "classify.arms", "classify.runs", NULL};

const stage_kind evaluate_stage = {
    .name = "evaluate",
    .version = 1,
    .summary = "AUC with DeLong and bootstrap intervals per arm and run, mean ± sd, paired arm comparisons",
    .section = "evaluate",
    .schema = &evaluate_section_schema,
    .keys = evaluate_keys,
    .seeded = false, /* the classify stages' identities carry the point seed */
    .deps = evaluate_deps,
    .run = evaluate_run,
};

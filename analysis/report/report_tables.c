/* report_tables: the sections made of tables — the overview (what ran, what is missing, what
 * synthetic data did), the paper-style results per point beside the paper's values, the paired
 * comparisons, every run, and the provenance of every stage; each table also as CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_doc.h"

/* Why an arm has no evaluated numbers: the first of its runs that is not complete, else the
 * evaluate stage's state. NULL when it has numbers. */
static const char *arm_missing(const rp_results *r, const rp_point *p, const rp_arm *a, char *buf, size_t n) {
  if (a->evaluated) return NULL;
  char st[1024];
  for (size_t k = 0; k < a->nruns; k++) {
    const rp_stage *s = &r->stages[a->runs[k].stage];
    if (s->state != STAGE_COMPLETE) {
      snprintf(buf, n, "incomplete: classify run r%ld %s", a->runs[k].k, rp_state_text(s, st, sizeof st));
      return buf;
    }
  }
  if (p->evaluate < 0)
    snprintf(buf, n, "not evaluated: the point has no evaluate stage");
  else if (r->stages[p->evaluate].state != STAGE_COMPLETE)
    snprintf(buf, n, "incomplete: evaluate %s", rp_state_text(&r->stages[p->evaluate], st, sizeof st));
  else
    snprintf(buf, n, "not in the evaluate stage's results");
  return buf;
}

static const char *count_text(double v, char *buf, size_t n) {
  if (!isfinite(v)) return "?";
  snprintf(buf, n, "%.0f", v);
  return buf;
}

static const char *paper_text(const rp_paper_row *pr, char *buf, size_t n) {
  if (!pr) return "—";
  snprintf(buf, n, "%s: %.3f ± %.3f", pr->arm, pr->auc_mean, pr->auc_sd);
  return buf;
}

static int level_pct(const rp_point *p) { return isfinite(p->ci_level) ? (int)lround(100 * p->ci_level) : 95; }

static void stage_counts(const rp_results *r, size_t counts[5]) {
  memset(counts, 0, 5 * sizeof *counts);
  for (size_t i = 0; i < r->nstages; i++) counts[r->stages[i].state]++;
}

/* The difference arm x − arm y of a point's comparisons; false when not compared. */
static bool diff_of(const rp_point *p, size_t x, size_t y, double *mean, double *sd, double *pmax, size_t *runs) {
  for (size_t i = 0; i < p->ncmps; i++) {
    const rp_compare *c = &p->cmps[i];
    if ((c->a == x && c->b == y) || (c->a == y && c->b == x)) {
      *mean = c->a == x ? c->diff_mean : -c->diff_mean;
      *sd = c->diff_sd, *pmax = c->p_max, *runs = c->nruns;
      return true;
    }
  }
  return false;
}

/* One sentence per synthetic arm: did it beat real only in this point? Said plainly either way. */
static void verdicts(rp_ctx *c, const rp_point *p) {
  long real = rp_real_arm(p);
  for (size_t a = 0; a < p->narms; a++) {
    const rp_arm *A = &p->arms[a];
    rp_composition comp = rp_arm_composition(A);
    if (comp != RP_COMP_REAL_SYNTHETIC && comp != RP_COMP_SYNTHETIC) continue;
    double m, sd, pmax;
    size_t runs;
    if (real < 0) {
      rd_para(&c->doc, "%s: no real-only arm in this point to compare with.", A->name);
      continue;
    }
    if (!diff_of(p, a, (size_t)real, &m, &sd, &pmax, &runs)) {
      rd_note(&c->doc, "%s vs %s: not compared (the evaluate stage is not complete).", A->name, p->arms[real].name);
      continue;
    }
    if (!(m > 0))
      rd_note(&c->doc,
              "Synthetic data did not help here: %s (%s) scored %.3f ± %.3f AUC against %s (real only), paired "
              "difference over %zu run(s).",
              A->name, rp_composition_name(comp), m, sd, p->arms[real].name, runs);
    else if (pmax < 0.05)
      rd_para(&c->doc,
              "%s (%s) scored %+.3f ± %.3f AUC above %s (real only); the paired DeLong test gives p < 0.05 in every "
              "one of the %zu run(s) (largest p = %.3g).",
              A->name, rp_composition_name(comp), m, sd, p->arms[real].name, runs, pmax);
    else
      rd_note(&c->doc,
              "%s (%s) scored %+.3f ± %.3f AUC above %s (real only) on average, but not significantly: the largest "
              "paired DeLong p over the %zu run(s) is %.3g. Do not read this as a gain.",
              A->name, rp_composition_name(comp), m, sd, p->arms[real].name, runs, pmax);
  }
}

int rp_section_overview(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  size_t counts[5];
  stage_counts(r, counts);
  c->sum->points = r->npoints, c->sum->stages = r->nstages, c->sum->complete_stages = counts[STAGE_COMPLETE];
  rd_heading(&c->doc, 2, "overview", "Overview");
  rd_para(&c->doc, "Results directory %s: %zu point(s), %zu unique stage(s) — %zu complete, %zu failed, %zu blocked, "
                   "%zu pending, %zu running (live states from the stage folders).",
          r->dir, r->npoints, r->nstages, counts[STAGE_COMPLETE], counts[STAGE_FAILED], counts[STAGE_BLOCKED],
          counts[STAGE_PENDING], counts[STAGE_RUNNING]);
  if (counts[STAGE_COMPLETE] < r->nstages)
    rd_note(&c->doc, "%zu of %zu stages are not complete: their numbers are shown as missing, never as values; the "
                     "Provenance section lists each with its state.",
            r->nstages - counts[STAGE_COMPLETE], r->nstages);
  /* Across points: how often each synthetic arm beat real only. */
  for (size_t i = 0; i < r->npoints; i++) {
    const rp_point *p = &r->points[i];
    for (size_t a = 0; a < p->narms; a++) {
      bool seen = false;
      for (size_t j = 0; j < i && !seen; j++)
        for (size_t b = 0; b < r->points[j].narms && !seen; b++) seen = !strcmp(r->points[j].arms[b].name, p->arms[a].name);
      rp_composition comp = rp_arm_composition(&p->arms[a]);
      if (seen || (comp != RP_COMP_REAL_SYNTHETIC && comp != RP_COMP_SYNTHETIC)) continue;
      size_t n = 0, higher = 0, signif = 0;
      for (size_t j = 0; j < r->npoints; j++) {
        const rp_point *q = &r->points[j];
        long real = rp_real_arm(q);
        for (size_t b = 0; b < q->narms && real >= 0; b++) {
          double m, sd, pmax;
          size_t runs;
          if (strcmp(q->arms[b].name, p->arms[a].name) || !diff_of(q, b, (size_t)real, &m, &sd, &pmax, &runs)) continue;
          n++, higher += m > 0, signif += m > 0 && pmax < 0.05;
        }
      }
      if (!n) continue;
      if (!higher)
        rd_note(&c->doc, "Synthetic data did not help: %s (%s) scored below real only in all %zu evaluated point(s).",
                p->arms[a].name, rp_composition_name(comp), n);
      else
        rd_para(&c->doc, "%s (%s) scored above real only in %zu of %zu evaluated point(s); significantly (paired "
                         "DeLong p < 0.05 in every run) in %zu.",
                p->arms[a].name, rp_composition_name(comp), higher, n, signif);
    }
  }
  return 0;
}

static rp_table *paper_table(void) {
  static const char *const cols[] = {"paper arm", "composition", "#real", "#synthetic", "embeddings trained on",
                                     "AUC (mean ± sd)"};
  rp_table *t = rp_table_new("paper", cols, 6);
  size_t n;
  const rp_paper_row *rows = rp_paper_rows(&n);
  for (size_t i = 0; i < n; i++) {
    rp_table_cell(t, rows[i].arm);
    rp_table_cell(t, rp_composition_name(rows[i].comp));
    rp_table_cellf(t, "%d", rows[i].n_real);
    rp_table_cellf(t, "%d", rows[i].n_synthetic);
    rp_table_cellf(t, "%d cases per class", rows[i].embed_cases);
    rp_table_cellf(t, "%.3f ± %.3f", rows[i].auc_mean, rows[i].auc_sd);
  }
  return t;
}

/* Machine-readable forms: one row per point and arm / comparison / run, swept keys as columns. */
static char **all_keys(const rp_results *r, size_t *n) {
  char **keys = NULL;
  *n = 0;
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t k = 0; k < r->points[i].nkeys; k++) {
      bool have = false;
      for (size_t j = 0; j < *n && !have; j++) have = !strcmp(keys[j], r->points[i].keys[k]);
      if (have) continue;
      keys = realloc(keys, (*n + 1) * sizeof *keys);
      if (!keys) abort();
      keys[(*n)++] = r->points[i].keys[k];
    }
  return keys;
}

static const char *point_value(const rp_point *p, const char *key) {
  for (size_t k = 0; k < p->nkeys; k++)
    if (!strcmp(p->keys[k], key)) return p->values[k];
  return "";
}

static rp_table *csv_table(const char *name, const char *const *tail, size_t ntail, char **keys, size_t nkeys) {
  const char **cols = calloc(2 + nkeys + ntail, sizeof *cols);
  if (!cols) abort();
  cols[0] = "point", cols[1] = "label";
  for (size_t k = 0; k < nkeys; k++) cols[2 + k] = keys[k];
  for (size_t k = 0; k < ntail; k++) cols[2 + nkeys + k] = tail[k];
  rp_table *t = rp_table_new(name, cols, 2 + nkeys + ntail);
  free(cols);
  return t;
}

static void csv_point_cells(rp_table *t, const rp_point *p, char **keys, size_t nkeys) {
  rp_table_cellf(t, "%zu", p->index);
  rp_table_cell(t, p->label);
  for (size_t k = 0; k < nkeys; k++) rp_table_cell(t, point_value(p, keys[k]));
}

static int write_csvs(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  size_t nkeys;
  char **keys = all_keys(r, &nkeys);
  static const char *const res_cols[] = {"arm", "composition", "n_real", "n_synthetic", "runs", "state", "auc_mean",
                                         "auc_sd", "delong_lo_mean", "delong_hi_mean", "boot_lo_mean", "boot_hi_mean",
                                         "ci_level", "paper_arm", "paper_n_real", "paper_n_synthetic",
                                         "paper_auc_mean", "paper_auc_sd"};
  static const char *const cmp_cols[] = {"arm_a", "arm_b", "diff_mean", "diff_sd", "runs", "p_max"};
  static const char *const run_cols[] = {"arm", "run", "stage_id", "state", "test_auc", "best_val_auc", "auc",
                                         "delong_lo", "delong_hi", "boot_lo", "boot_hi"};
  rp_table *tr = csv_table("results", res_cols, 18, keys, nkeys), *tc = csv_table("comparisons", cmp_cols, 6, keys, nkeys),
           *tu = csv_table("runs", run_cols, 11, keys, nkeys);
  for (size_t i = 0; i < r->npoints; i++) {
    const rp_point *p = &r->points[i];
    for (size_t a = 0; a < p->narms; a++) {
      const rp_arm *A = &p->arms[a];
      char why[1200];
      const rp_paper_row *pr = rp_paper_match(A, p->embed_cases);
      csv_point_cells(tr, p, keys, nkeys);
      rp_table_cell(tr, A->name);
      rp_table_cell(tr, rp_composition_name(rp_arm_composition(A)));
      rp_table_num(tr, A->n_real);
      rp_table_num(tr, A->n_synthetic);
      rp_table_cellf(tr, "%zu", A->nruns);
      const char *miss = arm_missing(r, p, A, why, sizeof why);
      rp_table_cell(tr, miss ? miss : "complete");
      double v[] = {A->auc_mean, A->auc_sd, A->dl_lo, A->dl_hi, A->boot_lo, A->boot_hi};
      for (size_t k = 0; k < 6; k++) rp_table_num(tr, A->evaluated ? v[k] : NAN);
      rp_table_num(tr, p->ci_level);
      rp_table_cell(tr, pr ? pr->arm : "");
      rp_table_num(tr, pr ? pr->n_real : NAN);
      rp_table_num(tr, pr ? pr->n_synthetic : NAN);
      rp_table_num(tr, pr ? pr->auc_mean : NAN);
      rp_table_num(tr, pr ? pr->auc_sd : NAN);
      for (size_t k = 0; k < A->nruns; k++) {
        const rp_run *u = &A->runs[k];
        const rp_stage *s = &r->stages[u->stage];
        char st[1024];
        csv_point_cells(tu, p, keys, nkeys);
        rp_table_cell(tu, A->name);
        rp_table_cellf(tu, "%ld", u->k);
        rp_table_cell(tu, s->id);
        rp_table_cell(tu, rp_state_text(s, st, sizeof st));
        double w[] = {u->test_auc, u->best_val_auc, u->auc, u->dl_lo, u->dl_hi, u->boot_lo, u->boot_hi};
        for (size_t j = 0; j < 7; j++) rp_table_num(tu, w[j]);
      }
    }
    for (size_t k = 0; k < p->ncmps; k++) {
      const rp_compare *x = &p->cmps[k];
      csv_point_cells(tc, p, keys, nkeys);
      rp_table_cell(tc, p->arms[x->a].name);
      rp_table_cell(tc, p->arms[x->b].name);
      rp_table_num(tc, x->diff_mean);
      rp_table_num(tc, x->diff_sd);
      rp_table_cellf(tc, "%zu", x->nruns);
      rp_table_num(tc, x->p_max);
    }
  }
  int rc = rp_ctx_write_csv(c, tr, e) ? 0 : -1;
  if (!rc) rc = rp_ctx_write_csv(c, tc, e) ? 0 : -1;
  if (!rc) rc = rp_ctx_write_csv(c, tu, e) ? 0 : -1;
  rp_table_free(tr), rp_table_free(tc), rp_table_free(tu);
  free(keys);
  return rc;
}

static rp_table *point_results(const rp_results *r, const rp_point *p) {
  char h_auc[64], h_dl[64], h_bs[64];
  int pct = level_pct(p);
  snprintf(h_auc, sizeof h_auc, "AUC (mean ± sd over runs)");
  snprintf(h_dl, sizeof h_dl, "%d%% CI DeLong (mean)", pct);
  snprintf(h_bs, sizeof h_bs, "%d%% CI bootstrap (mean)", pct);
  const char *cols[] = {"arm", "composition", "#real", "#synthetic", h_auc, h_dl, h_bs, "runs",
                        "paper, same composition (its counts)"};
  rp_table *t = rp_table_new("results", cols, 9);
  for (size_t a = 0; a < p->narms; a++) {
    const rp_arm *A = &p->arms[a];
    char b1[32], b2[32], b3[32], b4[32], why[1200], pp[200];
    rp_table_cell(t, A->name);
    rp_table_cell(t, rp_composition_name(rp_arm_composition(A)));
    rp_table_cell(t, count_text(A->n_real, b1, sizeof b1));
    rp_table_cell(t, count_text(A->n_synthetic, b2, sizeof b2));
    const char *miss = arm_missing(r, p, A, why, sizeof why);
    if (miss) {
      rp_table_cell(t, miss);
      rp_table_cell(t, "—");
      rp_table_cell(t, "—");
    } else {
      rp_table_cellf(t, "%s ± %s", rp_fmt(A->auc_mean, 3, b1, sizeof b1), rp_fmt(A->auc_sd, 3, b2, sizeof b2));
      rp_table_cellf(t, "%s – %s", rp_fmt(A->dl_lo, 3, b3, sizeof b3), rp_fmt(A->dl_hi, 3, b4, sizeof b4));
      rp_table_cellf(t, "%s – %s", rp_fmt(A->boot_lo, 3, b3, sizeof b3), rp_fmt(A->boot_hi, 3, b4, sizeof b4));
    }
    rp_table_cellf(t, "%zu", A->nruns);
    rp_table_cell(t, paper_text(rp_paper_match(A, p->embed_cases), pp, sizeof pp));
  }
  return t;
}

static rp_table *point_comparisons(const rp_point *p) {
  static const char *const cols[] = {"comparison (paired, same test cases)", "AUC difference (mean ± sd over runs)",
                                     "largest paired DeLong p over runs"};
  rp_table *t = rp_table_new("comparisons", cols, 3);
  for (size_t k = 0; k < p->ncmps; k++) {
    const rp_compare *x = &p->cmps[k];
    char b1[32], b2[32];
    rp_table_cellf(t, "%s − %s", p->arms[x->a].name, p->arms[x->b].name);
    rp_table_cellf(t, "%s ± %s", isfinite(x->diff_mean) ? (snprintf(b1, sizeof b1, "%+.3f", x->diff_mean), b1) : "—",
                   rp_fmt(x->diff_sd, 3, b2, sizeof b2));
    rp_table_cell(t, isfinite(x->p_max) ? (snprintf(b1, sizeof b1, "%.3g", x->p_max), b1) : "—");
  }
  return t;
}

static rp_table *point_runs(const rp_results *r, const rp_point *p) {
  int pct = level_pct(p);
  char h_dl[64], h_bs[64];
  snprintf(h_dl, sizeof h_dl, "%d%% CI DeLong", pct);
  snprintf(h_bs, sizeof h_bs, "%d%% CI bootstrap", pct);
  const char *cols[] = {"arm", "run", "classify stage", "state", "test AUC", h_dl, h_bs, "best val AUC"};
  rp_table *t = rp_table_new("runs", cols, 8);
  for (size_t a = 0; a < p->narms; a++)
    for (size_t k = 0; k < p->arms[a].nruns; k++) {
      const rp_run *u = &p->arms[a].runs[k];
      const rp_stage *s = &r->stages[u->stage];
      char st[1024], b1[32], b2[32];
      rp_table_cell(t, p->arms[a].name);
      rp_table_cellf(t, "r%ld", u->k);
      rp_table_cell(t, s->id);
      rp_table_cell(t, rp_state_text(s, st, sizeof st));
      rp_table_cell(t, rp_fmt(isfinite(u->auc) ? u->auc : u->test_auc, 3, b1, sizeof b1));
      rp_table_cell(t, isfinite(u->dl_lo) ? (snprintf(st, sizeof st, "%s – %s", rp_fmt(u->dl_lo, 3, b1, sizeof b1),
                                                        rp_fmt(u->dl_hi, 3, b2, sizeof b2)), st)
                                          : "—");
      rp_table_cell(t, isfinite(u->boot_lo) ? (snprintf(st, sizeof st, "%s – %s", rp_fmt(u->boot_lo, 3, b1, sizeof b1),
                                                          rp_fmt(u->boot_hi, 3, b2, sizeof b2)), st)
                                            : "—");
      rp_table_cell(t, rp_fmt(u->best_val_auc, 3, b1, sizeof b1));
    }
  return t;
}

int rp_section_results(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  if (write_csvs(c, e)) return -1;
  rd_heading(&c->doc, 2, "results", "Results per point");
  rd_para(&c->doc, "Test AUC of the downstream classifier per training arm: mean ± sd over the runs (repeated "
                   "trainings), and the means over the runs of each run's DeLong and bootstrap interval. The last "
                   "column is the paper's result for an arm of the same composition, with the paper's own counts: "
                   "a run with other counts is a different experiment.");
  rp_table *pt = paper_table();
  const char *ppath = rp_ctx_write_csv(c, pt, e);
  if (!ppath) {
    rp_table_free(pt);
    return -1;
  }
  rd_para(&c->doc, "The paper's values (%s):", rp_paper_source);
  rd_table(&c->doc, pt, ppath);
  for (size_t i = 0; i < r->npoints; i++) {
    const rp_point *p = &r->points[i];
    char anchor[32], sum[1200];
    snprintf(anchor, sizeof anchor, "point-%zu", i);
    rd_heading(&c->doc, 3, anchor, "Point %zu: %s", i, p->label);
    rd_table(&c->doc, point_results(r, p), "tables/results.csv");
    verdicts(c, p);
    if (p->ncmps) rd_table(&c->doc, point_comparisons(p), "tables/comparisons.csv");
    snprintf(sum, sizeof sum, "Every run of point %zu", i);
    rd_fold(&c->doc, true, false, sum);
    rd_table(&c->doc, point_runs(r, p), "tables/runs.csv");
    rd_fold(&c->doc, false, false, NULL);
  }
  c->sum->tables += 4;
  return 0;
}

int rp_section_provenance(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  static const char *const cols[] = {"stage", "kind", "variant", "state", "harness_version", "git_commit",
                                     "device", "threads", "host", "start_time", "end_time"};
  rp_table *t = rp_table_new("provenance", cols, 11);
  for (size_t i = 0; i < r->nstages; i++) {
    const rp_stage *s = &r->stages[i];
    char st[1024];
    rp_table_cell(t, s->id);
    rp_table_cell(t, s->kind);
    rp_table_cell(t, s->variant);
    rp_table_cell(t, rp_state_text(s, st, sizeof st));
    for (size_t k = 0; k < RP_NPROV; k++) rp_table_cell(t, s->prov[k] ? s->prov[k] : "");
  }
  const char *path = rp_ctx_write_csv(c, t, e);
  if (!path) {
    rp_table_free(t);
    return -1;
  }
  rd_heading(&c->doc, 2, "provenance", "Provenance");
  rd_para(&c->doc, "One row per stage of the run: its state now and, for complete stages, what wrote it (from each "
                   "stage.h5's /provenance). Incomplete stages have no provenance yet.");
  rd_table(&c->doc, t, path);
  c->sum->tables++;
  return 0;
}

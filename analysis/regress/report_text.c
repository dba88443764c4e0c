/* The readable report of `harness regress`: the rule in force, what differs between the two
 * runs (commits, config keys, points), one table per common point and a one-line summary. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/regress/regress.h"

static const char *num(double v, char *buf, size_t n) {
  if (isnan(v))
    snprintf(buf, n, "n/a");
  else if (v == floor(v) && fabs(v) >= 1 && fabs(v) < 1e15)
    snprintf(buf, n, "%.0f", v);
  else
    snprintf(buf, n, "%.4f", v);
  return buf;
}

static const char *signed_num(double v, char *buf, size_t n) {
  if (isnan(v)) return num(v, buf, n);
  snprintf(buf, n, "%+.4f", v);
  return buf;
}

/* What the table shows without --all: the spread over runs, the mean arm differences and the
 * counts (a changed number of cases says the data changed). */
static bool shown_by_default(const regress_metric *m) {
  if (m->per_run) return false;
  const char *last = strrchr(m->name, '/');
  last = last ? last + 1 : m->name;
  return !strcmp(last, "auc_sd") || !strcmp(last, "diff_mean") || !strncmp(last, "n_", 2);
}

static void print_metrics(FILE *f, const regress_point *p, bool all) {
  size_t shown = 0, hidden = 0, width = 0;
  for (size_t m = 0; m < p->nmetrics; m++)
    if (all || shown_by_default(&p->metrics[m])) {
      size_t w = strlen(p->metrics[m].name);
      if (w > width) width = w;
    }
  for (size_t m = 0; m < p->nmetrics; m++) {
    const regress_metric *x = &p->metrics[m];
    if (!all && !shown_by_default(x)) {
      hidden++;
      continue;
    }
    if (!shown++) fputs("  other evaluate metrics that differ (informational, never gating):\n", f);
    char b[32], c[32], d[32];
    fprintf(f, "    %-*s  %10s -> %-10s", (int)width, x->name, num(x->b, b, sizeof b), num(x->c, c, sizeof c));
    if (isnan(x->b) || isnan(x->c))
      fprintf(f, "  (%s only)\n", isnan(x->b) ? "current" : "baseline");
    else
      fprintf(f, "  (%s)\n", signed_num(x->c - x->b, d, sizeof d));
  }
  if (hidden)
    fprintf(f, "  %s%zu more evaluate metric%s differ (per-run values and intervals; --all lists them)\n",
            shown ? "" : "other evaluate metrics: ", hidden, hidden == 1 ? "" : "s");
}

static void print_point(FILE *f, const regress_point *p, const regress_opts *o, int arm_w) {
  fprintf(f, "\npoint %s", *p->label ? p->label : "(the single point of an unswept config)");
  if (p->eval_b && p->eval_c && !strcmp(p->eval_b, p->eval_c))
    fprintf(f, "  [same evaluate stage %s: identical inputs]\n", p->eval_b);
  else
    fprintf(f, "  [baseline %s, current %s]\n", p->eval_b ? p->eval_b : "-", p->eval_c ? p->eval_c : "-");
  if (p->incomplete) {
    fprintf(f, "  not compared: %s\n", p->incomplete);
    return;
  }
  int pct = (int)lround(100 * (1 - 2 * o->alpha));
  char ci_head[32];
  snprintf(ci_head, sizeof ci_head, "%d%% CI of diff", pct);
  fprintf(f, "  %-*s  %5s  %8s  %8s  %8s  %-19s  %-8s  %s\n", arm_w, "arm", "runs", "baseline", "current", "diff",
          ci_head, "test", "verdict");
  for (size_t a = 0; a < p->narms; a++) {
    const regress_arm *x = &p->arms[a];
    char runs[24], b[32], c[32], d[32], lo[32], hi[32], ci[72];
    snprintf(runs, sizeof runs, "%zu/%zu", x->runs_b, x->runs_c);
    if (isnan(x->ci_lo))
      snprintf(ci, sizeof ci, "-");
    else
      snprintf(ci, sizeof ci, "%s to %s", signed_num(x->ci_lo, lo, sizeof lo), signed_num(x->ci_hi, hi, sizeof hi));
    fprintf(f, "  %-*s  %5s  %8s  %8s  %8s  %-19s  %-8s  %s\n", arm_w, x->arm, runs, num(x->auc_b, b, sizeof b),
            num(x->auc_c, c, sizeof c), signed_num(x->diff, d, sizeof d), ci,
            x->verdict == REGRESS_NOT_COMPARABLE ? "-" : x->paired ? "paired" : "unpaired",
            regress_verdict_name(x->verdict));
    if (x->note) fprintf(f, "  %-*s  (%s)\n", arm_w, "", x->note);
  }
}

static void print_list(FILE *f, const char *head, char **v, size_t n) {
  if (!n) return;
  fprintf(f, "%s (%zu):\n", head, n);
  for (size_t i = 0; i < n; i++) fprintf(f, "  %s\n", *v[i] ? v[i] : "(the single point of an unswept config)");
}

void regress_print_text(FILE *f, const regress_report *r) {
  const regress_opts *o = &r->opts;
  double z = auc_level_z(1 - 2 * o->alpha);
  fprintf(f, "baseline %s  (commit %s)\ncurrent  %s  (commit %s)\n", r->baseline, *r->commits_b ? r->commits_b : "?",
          r->current, *r->commits_c ? r->commits_c : "?");
  if (strcmp(r->commits_b, r->commits_c)) fputs("note: the two were written by different harness commits\n", f);
  fprintf(f,
          "rule: diff = current - baseline test AUC (mean over runs); REGRESSION when diff < -%g and the\n"
          "      one-sided %g%% upper bound diff + %.3f*se < 0 (the upper end of the %g%% CI below)\n",
          o->tolerance, 100 * (1 - o->alpha), z, 100 * (1 - 2 * o->alpha));
  if (r->n_config_diffs) {
    fprintf(f, "note: the sweep configs differ (%zu key%s):\n", r->n_config_diffs, r->n_config_diffs == 1 ? "" : "s");
    size_t show = r->n_config_diffs > 20 && !o->all ? 20 : r->n_config_diffs;
    for (size_t i = 0; i < show; i++) fprintf(f, "  %s\n", r->config_diffs[i]);
    if (show < r->n_config_diffs) fprintf(f, "  ... %zu more (--all lists them)\n", r->n_config_diffs - show);
  }
  print_list(f, "points only in the baseline", r->only_b, r->n_only_b);
  print_list(f, "points only in the current results", r->only_c, r->n_only_c);
  int arm_w = 3;
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t a = 0; a < r->points[i].narms; a++) {
      int w = (int)strlen(r->points[i].arms[a].arm);
      if (w > arm_w) arm_w = w;
    }
  for (size_t i = 0; i < r->npoints; i++) {
    print_point(f, &r->points[i], o, arm_w);
    if (!r->points[i].incomplete) print_metrics(f, &r->points[i], o->all);
  }
  size_t arms = r->n_ok + r->n_regression + r->n_improved + r->n_not_comparable;
  fprintf(f, "\nsummary: %zu arm%s over %zu point%s: %zu ok, %zu REGRESSION, %zu improved, %zu not comparable",
          arms, arms == 1 ? "" : "s", r->npoints - r->n_incomplete, r->npoints - r->n_incomplete == 1 ? "" : "s",
          r->n_ok, r->n_regression, r->n_improved, r->n_not_comparable);
  if (r->n_incomplete) fprintf(f, "; %zu point%s not compared", r->n_incomplete, r->n_incomplete == 1 ? "" : "s");
  fprintf(f, " -> exit %d\n", regress_exit_status(r));
}

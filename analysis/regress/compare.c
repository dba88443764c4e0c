/* `harness regress` on two results directories: match the points by label, compare every arm
 * of each common point's evaluate stage, collect the other evaluate metrics that differ, the
 * config keys that changed and the commits that wrote the results. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/side.h"
#include "harness/util/strbuf.h"

static void push_str(char ***v, size_t *n, const char *s) {
  char **grown = realloc(*v, (*n + 1) * sizeof *grown);
  if (!grown) abort();
  *v = grown;
  (*v)[*n] = strdup(s);
  if (!(*v)[*n]) abort();
  (*n)++;
}

/* "<arm>/r<digits>/..." */
static bool is_per_run(const char *name) {
  const char *s = strchr(name, '/');
  while (s) {
    if (s[1] == 'r' && s[2] >= '0' && s[2] <= '9') {
      const char *p = s + 2;
      while (*p >= '0' && *p <= '9') p++;
      if (*p == '/' || !*p) return true;
    }
    s = strchr(s + 1, '/');
  }
  return false;
}

static bool differs(double b, double c) {
  if (isnan(b) || isnan(c)) return isnan(b) != isnan(c);
  return fabs(b - c) > 1e-12 * fmax(1, fmax(fabs(b), fabs(c)));
}

static bool is_gated(const char *name) {
  const char *slash = strchr(name, '/');
  return slash && !strcmp(slash, "/auc_mean") && strncmp(name, "compare/", 8);
}

static void add_metric(regress_point *p, const char *name, double b, double c) {
  regress_metric *grown = realloc(p->metrics, (p->nmetrics + 1) * sizeof *grown);
  if (!grown) abort();
  p->metrics = grown;
  p->metrics[p->nmetrics++] = (regress_metric){.name = strdup(name), .b = b, .c = c, .per_run = is_per_run(name)};
}

/* Both name lists are sorted: a merge gives every name once, in order. */
static void collect_metrics(regress_point *p, const side_eval *b, const side_eval *c) {
  size_t i = 0, j = 0;
  while (i < b->nmetrics || j < c->nmetrics) {
    int cmp = i == b->nmetrics ? 1 : j == c->nmetrics ? -1 : strcmp(b->names[i], c->names[j]);
    const char *name = cmp <= 0 ? b->names[i] : c->names[j];
    double vb = cmp <= 0 ? b->values[i] : NAN, vc = cmp >= 0 ? c->values[j] : NAN;
    if (!is_gated(name) && (cmp != 0 || differs(vb, vc))) add_metric(p, name, vb, vc);
    if (cmp <= 0) i++;
    if (cmp >= 0) j++;
  }
}

static void compare_arms(regress_point *p, const side_eval *b, const side_eval *c, const regress_opts *o) {
  p->arms = calloc(b->narms + c->narms + 1, sizeof *p->arms);
  if (!p->arms) abort();
  for (size_t a = 0; a < b->narms; a++) {
    const side_arm *ab = &b->arms[a], *ac = side_find_arm(c, ab->name);
    regress_compare_arm(ab->name, ab->runs, ab->nruns, ac ? ac->runs : NULL, ac ? ac->nruns : 0, o,
                        &p->arms[p->narms++]);
  }
  for (size_t a = 0; a < c->narms; a++)
    if (!side_find_arm(b, c->arms[a].name))
      regress_compare_arm(c->arms[a].name, NULL, 0, c->arms[a].runs, c->arms[a].nruns, o, &p->arms[p->narms++]);
}

static void merge_commits(char ***acc, size_t *n, const side_eval *v) {
  for (size_t i = 0; i < v->ncommits; i++) {
    bool seen = false;
    for (size_t j = 0; j < *n && !seen; j++) seen = !strcmp((*acc)[j], v->commits[i]);
    if (!seen) push_str(acc, n, v->commits[i]);
  }
}

static char *join(char **v, size_t n) {
  strbuf sb = STRBUF_INIT;
  for (size_t i = 0; i < n; i++) sb_appendf(&sb, "%s%s", i ? ", " : "", v[i]);
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
  return sb_take(&sb);
}

static void compare_point(regress_report *r, const regress_side *sb, const regress_side *sc, size_t pb, size_t pc,
                          char ***commits_b, size_t *ncb, char ***commits_c, size_t *ncc) {
  const char *eb = side_point_evaluate(sb, pb), *ec = side_point_evaluate(sc, pc);
  if (!eb && !ec) return; /* a point of a sweep without an evaluate stage: nothing to compare */
  regress_point *p = &r->points[r->npoints++];
  *p = (regress_point){.label = strdup(sb->ix->point_labels[pb]), .eval_b = eb ? strdup(eb) : NULL,
                       .eval_c = ec ? strdup(ec) : NULL};
  herr e = {{0}};
  if (!eb || !ec) {
    herr_set(&e, "the %s results plan no evaluate stage for this point", !eb ? "baseline" : "current");
    p->incomplete = strdup(e.msg);
    return;
  }
  side_eval vb, vc;
  if (side_eval_load(sb, eb, &vb, &e)) {
    p->incomplete = strdup(e.msg);
    return;
  }
  if (side_eval_load(sc, ec, &vc, &e)) {
    p->incomplete = strdup(e.msg);
    side_eval_free(&vb);
    return;
  }
  compare_arms(p, &vb, &vc, &r->opts);
  collect_metrics(p, &vb, &vc);
  merge_commits(commits_b, ncb, &vb);
  merge_commits(commits_c, ncc, &vc);
  side_eval_free(&vb);
  side_eval_free(&vc);
}

static void count(regress_report *r) {
  for (size_t i = 0; i < r->npoints; i++) {
    if (r->points[i].incomplete) r->n_incomplete++;
    for (size_t a = 0; a < r->points[i].narms; a++) switch (r->points[i].arms[a].verdict) {
        case REGRESS_OK: r->n_ok++; break;
        case REGRESS_REGRESSION: r->n_regression++; break;
        case REGRESS_IMPROVED: r->n_improved++; break;
        case REGRESS_NOT_COMPARABLE: r->n_not_comparable++; break;
      }
  }
}

int regress_compare(const char *baseline, const char *current, const regress_opts *o, regress_report **out,
                    herr *e) {
  *out = NULL;
  if (!(o->alpha > 0 && o->alpha < 0.5) || !(o->tolerance >= 0))
    return herr_set(e, "regress: alpha must lie in (0, 0.5) and the tolerance must be >= 0");
  regress_side sb, sc;
  if (side_open(baseline, "baseline", &sb, e)) return -1;
  if (side_open(current, "current", &sc, e)) {
    side_close(&sb);
    return -1;
  }
  regress_report *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->baseline = strdup(baseline);
  r->current = strdup(current);
  r->opts = *o;
  r->points = calloc(sb.ix->npoints + 1, sizeof *r->points);
  if (!r->points) abort();
  char **cb = NULL, **cc = NULL;
  size_t ncb = 0, ncc = 0;
  for (size_t i = 0; i < sb.ix->npoints; i++) {
    long j = side_find_point(&sc, sb.ix->point_labels[i]);
    if (j < 0)
      push_str(&r->only_b, &r->n_only_b, sb.ix->point_labels[i]);
    else
      compare_point(r, &sb, &sc, i, (size_t)j, &cb, &ncb, &cc, &ncc);
  }
  for (size_t j = 0; j < sc.ix->npoints; j++)
    if (side_find_point(&sb, sc.ix->point_labels[j]) < 0) push_str(&r->only_c, &r->n_only_c, sc.ix->point_labels[j]);
  r->commits_b = join(cb, ncb);
  r->commits_c = join(cc, ncc);
  herr ce = {{0}};
  if (config_diff(sb.ix->config_yaml, sc.ix->config_yaml, &r->config_diffs, &r->n_config_diffs, &ce)) {
    strbuf sbuf = STRBUF_INIT;
    sb_appendf(&sbuf, "(the sweep configs could not be compared: %s)", ce.msg);
    push_str(&r->config_diffs, &r->n_config_diffs, sb_str(&sbuf));
    sb_free(&sbuf);
  }
  count(r);
  int rc = 0;
  if (r->npoints == 0)
    rc = herr_set(e, "%s and %s cannot be compared: they share no point with an evaluate stage "
                     "(%zu baseline points, %zu current points, %zu in common)",
                  baseline, current, sb.ix->npoints, sc.ix->npoints, sb.ix->npoints - r->n_only_b);
  else if (r->n_incomplete == r->npoints)
    rc = herr_set(e, "%s and %s cannot be compared: no common point has a complete evaluate stage on both sides "
                     "(first: %s: %s)",
                  baseline, current, r->points[0].label, r->points[0].incomplete);
  side_close(&sb);
  side_close(&sc);
  if (rc)
    regress_report_free(r);
  else
    *out = r;
  return rc;
}

int regress_exit_status(const regress_report *r) {
  if (r->n_regression) return REGRESS_EXIT_REGRESSION;
  if (r->n_incomplete) return REGRESS_EXIT_INCOMPARABLE;
  return REGRESS_EXIT_OK;
}

void regress_report_free(regress_report *r) {
  if (!r) return;
  for (size_t i = 0; i < r->npoints; i++) {
    regress_point *p = &r->points[i];
    for (size_t a = 0; a < p->narms; a++) regress_arm_free(&p->arms[a]);
    free(p->arms);
    for (size_t m = 0; m < p->nmetrics; m++) free(p->metrics[m].name);
    free(p->metrics);
    free(p->label);
    free(p->eval_b);
    free(p->eval_c);
    free(p->incomplete);
  }
  free(r->points);
  for (size_t i = 0; i < r->n_only_b; i++) free(r->only_b[i]);
  for (size_t i = 0; i < r->n_only_c; i++) free(r->only_c[i]);
  for (size_t i = 0; i < r->n_config_diffs; i++) free(r->config_diffs[i]);
  free(r->only_b);
  free(r->only_c);
  free(r->config_diffs);
  free(r->baseline);
  free(r->current);
  free(r->commits_b);
  free(r->commits_c);
  free(r);
}

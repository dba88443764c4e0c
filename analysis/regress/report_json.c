/* The machine-readable report of `harness regress --json`: everything the text shows, with
 * every differing evaluate metric, numbers that round-trip exactly and NaN as null. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "analysis/regress/regress.h"
#include "harness/util/numfmt.h"

static cJSON *num(double v) {
  if (!isfinite(v)) return cJSON_CreateNull();
  char buf[64];
  return cJSON_CreateRaw(fmt_double(v, buf, sizeof buf));
}

static cJSON *strings(char **v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
  return a;
}

static cJSON *arm_json(const regress_arm *x) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "arm", x->arm);
  cJSON_AddItemToObject(o, "runs_baseline", num((double)x->runs_b));
  cJSON_AddItemToObject(o, "runs_current", num((double)x->runs_c));
  cJSON_AddItemToObject(o, "auc_baseline", num(x->auc_b));
  cJSON_AddItemToObject(o, "auc_current", num(x->auc_c));
  cJSON_AddItemToObject(o, "diff", num(x->diff));
  cJSON_AddItemToObject(o, "se", num(x->se));
  cJSON *ci = cJSON_AddArrayToObject(o, "ci");
  cJSON_AddItemToArray(ci, num(x->ci_lo));
  cJSON_AddItemToArray(ci, num(x->ci_hi));
  if (x->verdict == REGRESS_NOT_COMPARABLE)
    cJSON_AddNullToObject(o, "test");
  else
    cJSON_AddStringToObject(o, "test", x->paired ? "paired" : "unpaired");
  cJSON_AddStringToObject(o, "verdict", regress_verdict_name(x->verdict));
  if (x->note)
    cJSON_AddStringToObject(o, "note", x->note);
  else
    cJSON_AddNullToObject(o, "note");
  return o;
}

static cJSON *point_json(const regress_point *p) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "label", p->label);
  cJSON_AddItemToObject(o, "evaluate_baseline", p->eval_b ? cJSON_CreateString(p->eval_b) : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "evaluate_current", p->eval_c ? cJSON_CreateString(p->eval_c) : cJSON_CreateNull());
  cJSON_AddItemToObject(o, "not_compared", p->incomplete ? cJSON_CreateString(p->incomplete) : cJSON_CreateNull());
  cJSON *arms = cJSON_AddArrayToObject(o, "arms");
  for (size_t a = 0; a < p->narms; a++) cJSON_AddItemToArray(arms, arm_json(&p->arms[a]));
  cJSON *ms = cJSON_AddArrayToObject(o, "metrics_that_differ");
  for (size_t m = 0; m < p->nmetrics; m++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", p->metrics[m].name);
    cJSON_AddItemToObject(x, "baseline", num(p->metrics[m].b));
    cJSON_AddItemToObject(x, "current", num(p->metrics[m].c));
    cJSON_AddItemToArray(ms, x);
  }
  return o;
}

char *regress_report_json(const regress_report *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "baseline", r->baseline);
  cJSON_AddStringToObject(root, "current", r->current);
  cJSON_AddItemToObject(root, "tolerance", num(r->opts.tolerance));
  cJSON_AddItemToObject(root, "alpha", num(r->opts.alpha));
  cJSON_AddStringToObject(root, "commits_baseline", r->commits_b);
  cJSON_AddStringToObject(root, "commits_current", r->commits_c);
  cJSON_AddItemToObject(root, "config_differences", strings(r->config_diffs, r->n_config_diffs));
  cJSON_AddItemToObject(root, "points_only_in_baseline", strings(r->only_b, r->n_only_b));
  cJSON_AddItemToObject(root, "points_only_in_current", strings(r->only_c, r->n_only_c));
  cJSON *pts = cJSON_AddArrayToObject(root, "points");
  for (size_t i = 0; i < r->npoints; i++) cJSON_AddItemToArray(pts, point_json(&r->points[i]));
  cJSON *s = cJSON_AddObjectToObject(root, "summary");
  cJSON_AddItemToObject(s, "ok", num((double)r->n_ok));
  cJSON_AddItemToObject(s, "regression", num((double)r->n_regression));
  cJSON_AddItemToObject(s, "improved", num((double)r->n_improved));
  cJSON_AddItemToObject(s, "not_comparable", num((double)r->n_not_comparable));
  cJSON_AddItemToObject(s, "points_not_compared", num((double)r->n_incomplete));
  cJSON_AddItemToObject(s, "exit", num((double)regress_exit_status(r)));
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  return text;
}

/* The decision rule of `harness regress` on numbers: per-run differences (paired DeLong on the
 * same test cases, else unpaired from the recorded standard errors), their combination over
 * runs, and the verdict. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/regress/regress.h"
#include "harness/util/strbuf.h"

const char *regress_verdict_name(regress_verdict v) {
  switch (v) {
    case REGRESS_OK: return "ok";
    case REGRESS_REGRESSION: return "REGRESSION";
    case REGRESS_IMPROVED: return "improved";
    case REGRESS_NOT_COMPARABLE: break;
  }
  return "not comparable";
}

/* z_{1-alpha}, the one-sided quantile: the two-sided quantile of level 1 - 2 alpha. */
static double one_sided_z(double alpha) { return auc_level_z(1 - 2 * alpha); }

regress_verdict regress_decide(double diff, double se, const regress_opts *o) {
  if (!isfinite(diff) || !isfinite(se) || se < 0) return REGRESS_NOT_COMPARABLE;
  double z = one_sided_z(o->alpha);
  if (diff < -o->tolerance && diff + z * se < 0) return REGRESS_REGRESSION;
  if (diff > o->tolerance && diff - z * se > 0) return REGRESS_IMPROVED;
  return REGRESS_OK;
}

static double mean_auc(const regress_run_data *r, size_t n) {
  if (n == 0) return NAN;
  double s = 0;
  for (size_t k = 0; k < n; k++) s += r[k].auc;
  return s / (double)n;
}

static bool runs_finite(const regress_run_data *r, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (!isfinite(r[k].auc) || !isfinite(r[k].se)) return false;
  return true;
}

/* Paired per run: 0 on success; otherwise -1 with the reason (the caller falls back to the
 * unpaired comparison and says why). */
static int paired_diff(const regress_run_data *b, const regress_run_data *c, size_t n, regress_arm *out, herr *e) {
  double sum = 0, var = 0, auc_b = 0, auc_c = 0;
  for (size_t k = 0; k < n; k++) {
    if (!b[k].preds || !c[k].preds)
      return herr_set(e, "run %zu: test predictions missing on the %s side", k, !b[k].preds ? "baseline" : "current");
    double *cs = NULL;
    if (regress_preds_align(b[k].preds, c[k].preds, &cs, e)) return herr_prefix(e, "run %zu: ", k);
    auc_delong_paired t;
    int rc = auc_delong_paired_test(cs, b[k].preds->scores, b[k].preds->labels, b[k].preds->n, 0.95, &t, e);
    free(cs);
    if (rc) return herr_prefix(e, "run %zu: ", k);
    sum += t.diff; /* auc(current) - auc(baseline) */
    var += t.se_diff * t.se_diff;
    auc_c += t.auc1;
    auc_b += t.auc2;
  }
  /* the AUCs of the scores compared (equal to the evaluate stage's unless a file was edited) */
  out->diff = sum / (double)n;
  out->se = sqrt(var) / (double)n;
  out->auc_b = auc_b / (double)n;
  out->auc_c = auc_c / (double)n;
  return 0;
}

static void unpaired_diff(const regress_run_data *b, size_t nb, const regress_run_data *c, size_t nc, double *diff,
                          double *se) {
  double vb = 0, vc = 0;
  for (size_t k = 0; k < nb; k++) vb += b[k].se * b[k].se;
  for (size_t k = 0; k < nc; k++) vc += c[k].se * c[k].se;
  *diff = mean_auc(c, nc) - mean_auc(b, nb);
  *se = sqrt(vb / ((double)nb * (double)nb) + vc / ((double)nc * (double)nc));
}

void regress_compare_arm(const char *arm, const regress_run_data *b, size_t nb, const regress_run_data *c, size_t nc,
                         const regress_opts *o, regress_arm *out) {
  *out = (regress_arm){.arm = strdup(arm), .runs_b = nb, .runs_c = nc, .auc_b = mean_auc(b, nb),
                       .auc_c = mean_auc(c, nc), .diff = NAN, .se = NAN, .ci_lo = NAN, .ci_hi = NAN,
                       .verdict = REGRESS_NOT_COMPARABLE};
  if (!out->arm) abort();
  if (nb == 0 || nc == 0) {
    out->note = strdup(nb == 0 && nc == 0 ? "no runs on either side"
                       : nb == 0          ? "only in the current results"
                                          : "only in the baseline");
    return;
  }
  if (!runs_finite(b, nb) || !runs_finite(c, nc)) {
    out->note = strdup("an AUC or its standard error is NaN");
    return;
  }
  herr why = {{0}};
  if (nb == nc && paired_diff(b, c, nb, out, &why) == 0) {
    out->paired = true;
  } else {
    unpaired_diff(b, nb, c, nc, &out->diff, &out->se);
    strbuf sb = STRBUF_INIT;
    if (nb != nc)
      sb_appendf(&sb, "unpaired: %zu baseline runs, %zu current runs", nb, nc);
    else
      sb_appendf(&sb, "unpaired: %s", why.msg);
    out->note = sb_take(&sb);
  }
  double z = one_sided_z(o->alpha);
  out->ci_lo = out->diff - z * out->se;
  out->ci_hi = out->diff + z * out->se;
  out->verdict = regress_decide(out->diff, out->se, o);
}

void regress_arm_free(regress_arm *a) {
  free(a->arm);
  free(a->note);
  a->arm = a->note = NULL;
}

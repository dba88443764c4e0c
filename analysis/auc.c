/* auc: Mann–Whitney AUC and DeLong statistics from one sort with tie blocks. The placements
 * computed here are the midrank differences of Sun & Xu (2014): for a positive, its rank
 * among all cases minus its rank among positives, over the number of negatives. */
#include "analysis/auc.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_by_score(const void *a, const void *b, void *keys) {
  const double *sort_keys = keys;
  double x = sort_keys[*(const size_t *)a], y = sort_keys[*(const size_t *)b];
  if (x < y) return -1;
  if (x > y) return 1;
  /* equal scores: keep input order so the order is fully determined */
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  return (i > j) - (i < j);
}

int auc_sort(const double *scores, const int *labels, size_t n, const char *what, auc_sorted *out, herr *e) {
  memset(out, 0, sizeof *out);
  const char *name = what && *what ? what : "score";
  for (size_t i = 0; i < n; i++) {
    if (labels[i] != 0 && labels[i] != 1)
      return herr_set(e, "label of case %zu is %d; labels must be 0 (negative) or 1 (positive)", i + 1, labels[i]);
    if (!isfinite(scores[i]))
      return herr_set(e, "%s of case %zu is %g; scores must be finite numbers", name, i + 1, scores[i]);
    out->n_pos += labels[i] == 1;
  }
  out->n = n;
  out->n_neg = n - out->n_pos;
  if (out->n_pos == 0 || out->n_neg == 0)
    return herr_set(e, "all %zu cases are %s: an AUC needs both positives and negatives", n,
                    out->n_pos ? "positive" : "negative");
  out->order = malloc(n * sizeof *out->order);
  out->block_end = malloc(n * sizeof *out->block_end);
  if (!out->order || !out->block_end) abort();
  for (size_t i = 0; i < n; i++) out->order[i] = i;
  qsort_r(out->order, n, sizeof *out->order, cmp_by_score, (void *)scores);
  for (size_t k = 1; k <= n; k++)
    if (k == n || scores[out->order[k]] != scores[out->order[k - 1]]) out->block_end[out->n_blocks++] = k;
  return 0;
}

void auc_sorted_free(auc_sorted *s) {
  free(s->order);
  free(s->block_end);
  memset(s, 0, sizeof *s);
}

double auc_from_sorted(const auc_sorted *s, const int *labels) {
  /* 2U = Σ over positives of (2·negatives below + negatives tied): integers, exact. */
  uint64_t u2 = 0, neg_below = 0;
  size_t start = 0;
  for (size_t b = 0; b < s->n_blocks; b++) {
    uint64_t wp = 0, wn = 0;
    for (size_t k = start; k < s->block_end[b]; k++) {
      if (labels[s->order[k]] == 1)
        wp++;
      else
        wn++;
    }
    u2 += wp * (2 * neg_below + wn);
    neg_below += wn;
    start = s->block_end[b];
  }
  return (double)u2 / (2.0 * (double)s->n_pos * (double)s->n_neg);
}

int auc_compute(const double *scores, const int *labels, size_t n, double *auc, herr *e) {
  auc_sorted s;
  if (auc_sort(scores, labels, n, NULL, &s, e)) return -1;
  *auc = auc_from_sorted(&s, labels);
  auc_sorted_free(&s);
  return 0;
}

int auc_placements(const auc_sorted *s, const int *labels, double *pos_place, double *neg_place) {
  /* Positions of each case among its own class, in input order. */
  size_t *slot = malloc(s->n * sizeof *slot);
  if (!slot) abort();
  for (size_t i = 0, p = 0, q = 0; i < s->n; i++) slot[i] = labels[i] == 1 ? p++ : q++;
  uint64_t neg_below = 0, pos_below = 0;
  size_t start = 0;
  for (size_t b = 0; b < s->n_blocks; b++) {
    uint64_t wp = 0, wn = 0;
    for (size_t k = start; k < s->block_end[b]; k++) {
      if (labels[s->order[k]] == 1)
        wp++;
      else
        wn++;
    }
    double pos_value = (double)(2 * neg_below + wn) / (2.0 * (double)s->n_neg);
    uint64_t pos_above = (uint64_t)s->n_pos - pos_below - wp;
    double neg_value = (double)(2 * pos_above + wp) / (2.0 * (double)s->n_pos);
    for (size_t k = start; k < s->block_end[b]; k++) {
      size_t i = s->order[k];
      if (labels[i] == 1)
        pos_place[slot[i]] = pos_value;
      else
        neg_place[slot[i]] = neg_value;
    }
    neg_below += wn;
    pos_below += wp;
    start = s->block_end[b];
  }
  free(slot);
  return 0;
}

double auc_level_z(double level) { return gsl_cdf_ugaussian_Pinv(1.0 - (1.0 - level) / 2.0); }

static int check_level(double level, herr *e) {
  if (!(level > 0.0 && level < 1.0)) return herr_set(e, "confidence level must be between 0 and 1, got %g", level);
  return 0;
}

/* Placements of one score, sorted and checked, with the DeLong requirement of ≥ 2 per class. */
typedef struct delong_parts {
  auc_sorted sorted;
  double *x; /* positives' placements (pROC's V$X) */
  double *y; /* negatives' placements (pROC's V$Y) */
  double theta;
} delong_parts;

static int delong_prepare(const double *scores, const int *labels, size_t n, const char *what, delong_parts *d,
                          herr *e) {
  memset(d, 0, sizeof *d);
  if (auc_sort(scores, labels, n, what, &d->sorted, e)) return -1;
  if (d->sorted.n_pos < 2 || d->sorted.n_neg < 2) {
    herr_set(e, "DeLong's variance needs at least 2 positives and 2 negatives (got %zu and %zu)", d->sorted.n_pos,
             d->sorted.n_neg);
    auc_sorted_free(&d->sorted);
    return -1;
  }
  d->x = malloc(d->sorted.n_pos * sizeof *d->x);
  d->y = malloc(d->sorted.n_neg * sizeof *d->y);
  if (!d->x || !d->y) abort();
  auc_placements(&d->sorted, labels, d->x, d->y);
  d->theta = auc_from_sorted(&d->sorted, labels);
  return 0;
}

static void delong_free(delong_parts *d) {
  auc_sorted_free(&d->sorted);
  free(d->x);
  free(d->y);
}

/* Σ (a_i − θa)(b_i − θb) / (k − 1), as pROC centres on the AUC itself. */
static double centred_cov(const double *a, double ta, const double *b, double tb, size_t k) {
  double s = 0;
  for (size_t i = 0; i < k; i++) s += (a[i] - ta) * (b[i] - tb);
  return s / (double)(k - 1);
}

static double delong_var(const delong_parts *d) {
  size_t m = d->sorted.n_pos, n = d->sorted.n_neg;
  return centred_cov(d->x, d->theta, d->x, d->theta, m) / (double)m +
         centred_cov(d->y, d->theta, d->y, d->theta, n) / (double)n;
}

int auc_delong_ci(const double *scores, const int *labels, size_t n, double level, auc_delong *out, herr *e) {
  if (check_level(level, e)) return -1;
  delong_parts d;
  if (delong_prepare(scores, labels, n, NULL, &d, e)) return -1;
  out->auc = d.theta;
  out->var = delong_var(&d);
  out->se = sqrt(out->var);
  double z = auc_level_z(level);
  out->ci_lo = fmax(0.0, d.theta - z * out->se);
  out->ci_hi = fmin(1.0, d.theta + z * out->se);
  out->n_pos = d.sorted.n_pos;
  out->n_neg = d.sorted.n_neg;
  delong_free(&d);
  return 0;
}

int auc_delong_paired_test(const double *score1, const double *score2, const int *labels, size_t n, double level,
                           auc_delong_paired *out, herr *e) {
  if (check_level(level, e)) return -1;
  delong_parts a, b;
  if (delong_prepare(score1, labels, n, "first score", &a, e)) return -1;
  if (delong_prepare(score2, labels, n, "second score", &b, e)) {
    delong_free(&a);
    return -1;
  }
  size_t m = a.sorted.n_pos, k = a.sorted.n_neg;
  out->auc1 = a.theta;
  out->auc2 = b.theta;
  out->diff = a.theta - b.theta;
  out->var1 = delong_var(&a);
  out->var2 = delong_var(&b);
  out->cov = centred_cov(a.x, a.theta, b.x, b.theta, m) / (double)m +
             centred_cov(a.y, a.theta, b.y, b.theta, k) / (double)k;
  double v = out->var1 + out->var2 - 2.0 * out->cov;
  out->se_diff = sqrt(v > 0 ? v : 0.0);
  if (out->se_diff == 0.0)
    out->z = out->diff == 0.0 ? 0.0 : copysign(INFINITY, out->diff);
  else
    out->z = out->diff / out->se_diff;
  out->p = 2.0 * gsl_cdf_ugaussian_P(-fabs(out->z));
  double zc = auc_level_z(level);
  out->ci_lo = out->diff - zc * out->se_diff;
  out->ci_hi = out->diff + zc * out->se_diff;
  out->n_pos = m;
  out->n_neg = k;
  delong_free(&a);
  delong_free(&b);
  return 0;
}

int auc_delong_unpaired_test(const double *score1, const int *labels1, size_t n1, const double *score2,
                             const int *labels2, size_t n2, auc_delong_unpaired *out, herr *e) {
  delong_parts a, b;
  if (delong_prepare(score1, labels1, n1, "first score", &a, e)) return -1;
  if (delong_prepare(score2, labels2, n2, "second score", &b, e)) {
    delong_free(&a);
    return -1;
  }
  out->auc1 = a.theta;
  out->auc2 = b.theta;
  out->diff = a.theta - b.theta;
  out->var1 = delong_var(&a);
  out->var2 = delong_var(&b);
  double s = out->var1 + out->var2;
  out->t = s > 0 ? out->diff / sqrt(s) : (out->diff == 0 ? 0.0 : copysign(INFINITY, out->diff));
  /* pROC's degrees of freedom: (SR + SS)² / (SR²/(N_R − 1) + SS²/(N_S − 1)), N = all cases. */
  double den = out->var1 * out->var1 / (double)(n1 - 1) + out->var2 * out->var2 / (double)(n2 - 1);
  out->df = den > 0 ? s * s / den : NAN;
  out->p = isfinite(out->df) ? 2.0 * gsl_cdf_tdist_P(-fabs(out->t), out->df) : (out->t == 0 ? 1.0 : 0.0);
  delong_free(&a);
  delong_free(&b);
  return 0;
}

void auc_mean_sd(const double *values, size_t k, double *mean, double *sd) {
  double m = 0;
  for (size_t i = 0; i < k; i++) m += values[i];
  m = k ? m / (double)k : NAN;
  double ss = 0;
  for (size_t i = 0; i < k; i++) ss += (values[i] - m) * (values[i] - m);
  *mean = m;
  *sd = k >= 2 ? sqrt(ss / (double)(k - 1)) : NAN;
}

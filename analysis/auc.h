/* AUC statistics: the Mann–Whitney AUC with ties counted ½, DeLong variance and intervals
 * (the fast midrank algorithm of Sun & Xu 2014), the paired and unpaired DeLong tests, and
 * mean ± sd over repeated runs. Formulas follow R's pROC 1.18 so that results can be checked
 * against it. Labels are 0/1 (1 = positive); a higher score means "more likely positive". */
#ifndef MDH_AUC_H
#define MDH_AUC_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* Observations sorted by score with tie blocks, the shared first step of every statistic.
 * order[k] is the index of the k-th smallest score; block_end[b] is one past the last position
 * of tie block b (blocks cover order[0..n) in ascending score). */
typedef struct auc_sorted {
  size_t n, n_pos, n_neg;
  size_t *order;
  size_t *block_end;
  size_t n_blocks;
} auc_sorted;

/* Checks the input (finite scores, labels 0 or 1, both classes present; `what` names the
 * score in messages) and sorts it. Free with auc_sorted_free. */
int auc_sort(const double *scores, const int *labels, size_t n, const char *what, auc_sorted *out, herr *e);
void auc_sorted_free(auc_sorted *s);

/* The Mann–Whitney AUC, exact: twice the U statistic is accumulated in 64-bit integers and
 * divided once, so millions of cases lose nothing. */
double auc_from_sorted(const auc_sorted *s, const int *labels);
int auc_compute(const double *scores, const int *labels, size_t n, double *auc, herr *e);

/* DeLong placements (structural components): for each positive, the fraction of negatives
 * below it (ties ½); for each negative, the fraction of positives above it (ties ½). Arrays
 * are in input order of the positives / negatives; their means both equal the AUC. */
int auc_placements(const auc_sorted *s, const int *labels, double *pos_place, double *neg_place);

typedef struct auc_delong {
  double auc;
  double var;          /* S = Sx/m + Sy/n (pROC's ci.auc.delong) */
  double se;
  double ci_lo, ci_hi; /* normal interval at `level`, clipped to [0, 1] like pROC */
  size_t n_pos, n_neg;
} auc_delong;

/* Needs at least two positives and two negatives (pROC returns NA otherwise). */
int auc_delong_ci(const double *scores, const int *labels, size_t n, double level, auc_delong *out, herr *e);

typedef struct auc_delong_paired {
  double auc1, auc2;
  double diff;         /* auc1 - auc2 */
  double var1, var2, cov;
  double se_diff;
  double z, p;         /* two-sided; z = 0 when diff and se_diff are both 0 (pROC) */
  double ci_lo, ci_hi; /* diff ± z_{level} se_diff, not clipped (pROC's ci.delong.paired) */
  size_t n_pos, n_neg;
} auc_delong_paired;

/* Two scores of the same cases (DeLong, DeLong & Clarke-Pearson 1988). */
int auc_delong_paired_test(const double *score1, const double *score2, const int *labels, size_t n, double level,
                           auc_delong_paired *out, herr *e);

typedef struct auc_delong_unpaired {
  double auc1, auc2, diff, var1, var2;
  double t, df, p; /* Welch-type t with pROC's degrees of freedom; two-sided p from Student t */
} auc_delong_unpaired;

/* Two scores on different test sets. */
int auc_delong_unpaired_test(const double *score1, const int *labels1, size_t n1, const double *score2,
                             const int *labels2, size_t n2, auc_delong_unpaired *out, herr *e);

/* Mean and sample standard deviation (n - 1) of k values, as the paper reports AUC ± sd over
 * repeated trainings; sd is NAN for k < 2. */
void auc_mean_sd(const double *values, size_t k, double *mean, double *sd);

/* Two-sided normal quantile for a confidence level: z with P(|Z| <= z) = level. */
double auc_level_z(double level);

#endif

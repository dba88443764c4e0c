/* Bootstrap intervals for the AUC: stratified (positives and negatives resampled separately,
 * pROC's default) or not; percentile and BCa intervals; the paired bootstrap of the difference
 * of two scores on the same resamples. Replicate r draws from the random stream (seed, r)
 * only, so results do not depend on the number of threads.
 *
 * Draw order of replicate r (fixed, so a resample can be re-derived from rng.h):
 * rng_seed(&g, seed, r); then
 *   stratified:   n_pos draws rng_below(&g, n_pos), each picking a positive by its place among
 *                 the positives in input order, then n_neg draws rng_below(&g, n_neg) likewise
 *                 among the negatives;
 *   unstratified: n draws rng_below(&g, n), each an input index.
 * A replicate's AUC is the Mann–Whitney AUC (ties ½) of the resample, with each case weighted
 * by how often it was drawn. An unstratified replicate that drew one class only is skipped.
 * Input checks are auc_sort's (finite scores, 0/1 labels, both classes); n_boot must be in
 * [1, 100000000] and level in (0, 1). With no valid replicate the intervals and the median
 * are NAN; sd (and so z, p) is NAN with fewer than two. */
#ifndef MDH_BOOTSTRAP_H
#define MDH_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

typedef struct boot_opts {
  size_t n_boot;   /* replicates; 10000 by default in the CLI */
  uint64_t seed;
  double level;    /* e.g. 0.95 */
  bool stratified;
  int threads;     /* <= 0: one per online core */
} boot_opts;

typedef struct boot_ci {
  double auc;              /* on the original data */
  double pct_lo, pct_hi;   /* percentile interval (R's quantile type 7, as pROC) */
  double median;
  double bca_lo, bca_hi;   /* bias-corrected and accelerated interval (jackknife acceleration);
                              NAN with fewer than 2 positives or 2 negatives; the percentile
                              interval where the bias correction is infinite (every replicate
                              on one side of auc) */
  double sd;               /* sample sd of the replicate AUCs */
  size_t n_valid;          /* replicates used */
  size_t n_skipped;        /* unstratified replicates that drew one class only (pROC drops them) */
} boot_ci;

int auc_bootstrap_ci(const double *scores, const int *labels, size_t n, const boot_opts *opts, boot_ci *out,
                     herr *e);

typedef struct boot_paired {
  double auc1, auc2, diff;  /* on the original data */
  double sd_diff;           /* sample sd of the replicate differences */
  double z, p;              /* pROC's bootstrap test: z = diff / sd_diff, two-sided normal p */
  double pct_lo, pct_hi;    /* percentile interval of the difference */
  size_t n_valid, n_skipped;
} boot_paired;

/* The same resample for both scores in every replicate. */
int auc_bootstrap_paired(const double *score1, const double *score2, const int *labels, size_t n,
                         const boot_opts *opts, boot_paired *out, herr *e);

/* Replicate AUCs themselves (for plots and tests): writes opts->n_boot values, NAN for a
 * skipped replicate. opts->level is not used here. */
int auc_bootstrap_replicates(const double *scores, const int *labels, size_t n, const boot_opts *opts,
                             double *replicates, herr *e);

#endif

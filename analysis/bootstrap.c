/* bootstrap: AUC replicates from count vectors (one sort, then O(n) per replicate), spread over
 * threads by replicate index, and the percentile, BCa and paired summaries built on them. */
#include "analysis/bootstrap.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/auc.h"
#include "harness/util/rng.h"

#define BOOT_MAX_REPLICATES 100000000u

/* One score, sorted once: is_pos[k] says whether the k-th smallest case is a positive, so the
 * weighted walk reads labels sequentially. */
typedef struct boot_score {
  auc_sorted sorted;
  unsigned char *is_pos;
} boot_score;

/* Everything a replicate needs, shared read-only by the threads; out[s][r] is written by the
 * one thread that owns replicate r. */
typedef struct boot_job {
  size_t n, n_pos, n_neg;
  size_t *pos_idx, *neg_idx; /* input indices of the positives / negatives, in input order */
  bool stratified;
  uint64_t seed;
  const boot_score *scores;
  size_t n_scores;
  double *out[2];
} boot_job;

typedef struct boot_task {
  const boot_job *job;
  size_t r_lo, r_hi;
  uint32_t *cnt; /* this thread's counts, indexed by input case */
} boot_task;

/* The AUC of the resample: tie blocks in ascending order, each weighted by the counts of its
 * positives (wp) and negatives (wn); 2U accumulates exactly in 64 bits as in auc_from_sorted. */
static double weighted_auc(const boot_score *bs, const uint32_t *cnt) {
  const auc_sorted *s = &bs->sorted;
  uint64_t u2 = 0, neg_below = 0, pos_total = 0;
  size_t start = 0;
  for (size_t b = 0; b < s->n_blocks; b++) {
    uint64_t wp = 0, wn = 0;
    for (size_t k = start; k < s->block_end[b]; k++) {
      uint64_t c = cnt[s->order[k]];
      if (bs->is_pos[k])
        wp += c;
      else
        wn += c;
    }
    u2 += wp * (2 * neg_below + wn);
    neg_below += wn;
    pos_total += wp;
    start = s->block_end[b];
  }
  if (pos_total == 0 || neg_below == 0) return NAN; /* one class only: pROC drops it */
  return (double)u2 / (2.0 * (double)pos_total * (double)neg_below);
}

static void run_range(const boot_job *j, size_t r_lo, size_t r_hi, uint32_t *cnt) {
  for (size_t r = r_lo; r < r_hi; r++) {
    memset(cnt, 0, j->n * sizeof *cnt);
    rng g;
    rng_seed(&g, j->seed, (uint64_t)r);
    /* The draw order is the one documented in bootstrap.h; tests re-derive it. */
    if (j->stratified) {
      for (size_t k = 0; k < j->n_pos; k++) cnt[j->pos_idx[rng_below(&g, j->n_pos)]]++;
      for (size_t k = 0; k < j->n_neg; k++) cnt[j->neg_idx[rng_below(&g, j->n_neg)]]++;
    } else {
      for (size_t k = 0; k < j->n; k++) cnt[rng_below(&g, j->n)]++;
    }
    for (size_t s = 0; s < j->n_scores; s++) j->out[s][r] = weighted_auc(&j->scores[s], cnt);
  }
}

static void *run_task(void *arg) {
  const boot_task *t = arg;
  run_range(t->job, t->r_lo, t->r_hi, t->cnt);
  return NULL;
}

/* Contiguous replicate ranges, one per thread; every replicate's value depends on (seed, r)
 * alone and lands at out[.][r], so the thread count cannot change the result. */
static int run_replicates(const boot_job *j, size_t n_boot, int threads, herr *e) {
  long t_want = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
  if (t_want < 1) t_want = 1;
  size_t n_threads = (size_t)t_want < n_boot ? (size_t)t_want : n_boot;
  uint32_t *cnt = malloc(n_threads * j->n * sizeof *cnt);
  boot_task *tasks = malloc(n_threads * sizeof *tasks);
  pthread_t *ids = malloc(n_threads * sizeof *ids);
  if (!cnt || !tasks || !ids) {
    free(cnt);
    free(tasks);
    free(ids);
    return herr_set(e, "bootstrap: out of memory for %zu threads' counts of %zu cases", n_threads, j->n);
  }
  for (size_t t = 0; t < n_threads; t++) {
    tasks[t].job = j;
    tasks[t].r_lo = n_boot * t / n_threads;
    tasks[t].r_hi = n_boot * (t + 1) / n_threads;
    tasks[t].cnt = cnt + t * j->n;
  }
  int rc = 0;
  if (n_threads == 1) {
    run_task(&tasks[0]);
  } else {
    size_t started = 0;
    for (; started < n_threads; started++) {
      int err = pthread_create(&ids[started], NULL, run_task, &tasks[started]);
      if (err) {
        rc = herr_set(e, "bootstrap: could not start thread %zu of %zu: %s", started + 1, n_threads, strerror(err));
        break;
      }
    }
    for (size_t t = 0; t < started; t++) pthread_join(ids[t], NULL);
  }
  free(cnt);
  free(tasks);
  free(ids);
  return rc;
}

static int check_opts(const boot_opts *opts, bool need_level, herr *e) {
  if (!opts) return herr_set(e, "bootstrap: no options given");
  if (opts->n_boot < 1 || opts->n_boot > BOOT_MAX_REPLICATES)
    return herr_set(e, "bootstrap: n_boot must be between 1 and %u replicates, got %zu", BOOT_MAX_REPLICATES,
                    opts->n_boot);
  if (need_level && !(opts->level > 0.0 && opts->level < 1.0))
    return herr_set(e, "bootstrap: confidence level must be between 0 and 1 (exclusive), got %g", opts->level);
  return 0;
}

static void score_free(boot_score *bs) {
  auc_sorted_free(&bs->sorted);
  free(bs->is_pos);
  bs->is_pos = NULL;
}

static int score_prepare(const double *scores, const int *labels, size_t n, const char *what, boot_score *bs, herr *e) {
  bs->is_pos = NULL;
  if (auc_sort(scores, labels, n, what, &bs->sorted, e)) return -1;
  if (n > UINT32_MAX) {
    score_free(bs);
    return herr_set(e, "bootstrap: %zu cases is more than the %u supported", n, (unsigned)UINT32_MAX);
  }
  bs->is_pos = malloc(n);
  if (!bs->is_pos) {
    score_free(bs);
    return herr_set(e, "bootstrap: out of memory for %zu cases", n);
  }
  for (size_t k = 0; k < n; k++) bs->is_pos[k] = labels[bs->sorted.order[k]] == 1;
  return 0;
}

static void job_free(boot_job *j) {
  free(j->pos_idx);
  free(j->neg_idx);
}

static int job_init(boot_job *j, const int *labels, const boot_score *scores, size_t n_scores, const boot_opts *opts,
                    herr *e) {
  memset(j, 0, sizeof *j);
  const auc_sorted *s = &scores[0].sorted;
  j->n = s->n;
  j->n_pos = s->n_pos;
  j->n_neg = s->n_neg;
  j->pos_idx = malloc(j->n_pos * sizeof *j->pos_idx);
  j->neg_idx = malloc(j->n_neg * sizeof *j->neg_idx);
  if (!j->pos_idx || !j->neg_idx) {
    job_free(j);
    return herr_set(e, "bootstrap: out of memory for %zu cases", j->n);
  }
  for (size_t i = 0, p = 0, q = 0; i < j->n; i++) {
    if (labels[i] == 1)
      j->pos_idx[p++] = i;
    else
      j->neg_idx[q++] = i;
  }
  j->stratified = opts->stratified;
  j->seed = opts->seed;
  j->scores = scores;
  j->n_scores = n_scores;
  return 0;
}

/* R's quantile(type = 7), step for step (1-based index 1 + (n-1)p, no interpolation between
 * equal neighbours), so intervals can be compared with pROC's. */
static double quantile7(const double *sorted, size_t n, double p) {
  if (n == 0) return NAN;
  double index = 1.0 + (double)(n - 1) * p;
  double lo = floor(index), hi = ceil(index);
  double qs = sorted[(size_t)lo - 1], xh = sorted[(size_t)hi - 1];
  if (index > lo && xh != qs) {
    double h = index - lo;
    qs = (1.0 - h) * qs + h * xh;
  }
  return qs;
}

/* Copies the finite replicates into `valid` and sorts them; returns how many. */
static size_t sorted_valid(const double *rep, size_t n_boot, double *valid) {
  size_t k = 0;
  for (size_t r = 0; r < n_boot; r++)
    if (!isnan(rep[r])) valid[k++] = rep[r];
  gsl_sort(valid, 1, k);
  return k;
}

/* Jackknife acceleration from the DeLong placements: dropping positive i leaves
 * (m·θ − V_i)/(m − 1), dropping negative j leaves (n·θ − W_j)/(n − 1); each O(1). NAN with
 * fewer than 2 of a class (a leave-one-out AUC would not exist). */
static int jackknife_acceleration(const boot_score *bs, const int *labels, double theta, double *a, herr *e) {
  size_t m = bs->sorted.n_pos, k = bs->sorted.n_neg;
  if (m < 2 || k < 2) {
    *a = NAN;
    return 0;
  }
  double *v = malloc(m * sizeof *v), *w = malloc(k * sizeof *w);
  if (!v || !w) {
    free(v);
    free(w);
    return herr_set(e, "bootstrap: out of memory for the jackknife of %zu cases", m + k);
  }
  auc_placements(&bs->sorted, labels, v, w);
  for (size_t i = 0; i < m; i++) v[i] = ((double)m * theta - v[i]) / (double)(m - 1);
  for (size_t j = 0; j < k; j++) w[j] = ((double)k * theta - w[j]) / (double)(k - 1);
  double mean = 0;
  for (size_t i = 0; i < m; i++) mean += v[i];
  for (size_t j = 0; j < k; j++) mean += w[j];
  mean /= (double)(m + k);
  double s2 = 0, s3 = 0;
  for (size_t i = 0; i < m + k; i++) {
    double d = mean - (i < m ? v[i] : w[i - m]);
    s2 += d * d;
    s3 += d * d * d;
  }
  double den = 6.0 * pow(s2, 1.5);
  *a = den > 0 ? s3 / den : 0.0;
  free(v);
  free(w);
  return 0;
}

/* BCa limits from the sorted valid replicates, the estimate and the acceleration. Where the
 * bias correction is infinite (every replicate below, or every one above, theta: this includes
 * all replicates equal and different from theta) or the adjustment leaves its domain
 * (1 − a(z0 + z) <= 0), the BCa interval is undefined and the percentile interval stands in. */
static void bca_limits(const double *sorted, size_t n_valid, double theta, double a, double level, double pct_lo,
                       double pct_hi, double *lo, double *hi) {
  if (n_valid == 0 || isnan(a)) {
    *lo = *hi = NAN;
    return;
  }
  double below = 0;
  for (size_t r = 0; r < n_valid; r++) below += sorted[r] < theta ? 1.0 : sorted[r] == theta ? 0.5 : 0.0;
  double prop = below / (double)n_valid;
  *lo = pct_lo;
  *hi = pct_hi;
  if (prop <= 0.0 || prop >= 1.0) return;
  double z0 = gsl_cdf_ugaussian_Pinv(prop);
  double tail = (1.0 - level) / 2.0;
  double zl = z0 + gsl_cdf_ugaussian_Pinv(tail), zh = z0 + gsl_cdf_ugaussian_Pinv(1.0 - tail);
  double dl = 1.0 - a * zl, dh = 1.0 - a * zh;
  if (!(dl > 0.0 && dh > 0.0)) return;
  *lo = quantile7(sorted, n_valid, gsl_cdf_ugaussian_P(z0 + zl / dl));
  *hi = quantile7(sorted, n_valid, gsl_cdf_ugaussian_P(z0 + zh / dh));
}

/* Percentile interval, median and sd of sorted valid replicates. */
static void percentile_summary(const double *sorted, size_t n_valid, double level, double *lo, double *median,
                               double *hi, double *sd) {
  double tail = (1.0 - level) / 2.0;
  *lo = quantile7(sorted, n_valid, tail);
  *median = quantile7(sorted, n_valid, 0.5);
  *hi = quantile7(sorted, n_valid, 1.0 - tail);
  double mean;
  auc_mean_sd(sorted, n_valid, &mean, sd);
}

/* Validates, sorts and runs the replicates of one score into rep[n_boot]. */
static int single_replicates(const double *scores, const int *labels, size_t n, const boot_opts *opts, boot_score *bs,
                             double *rep, herr *e) {
  if (score_prepare(scores, labels, n, "score", bs, e)) return -1;
  boot_job j;
  if (job_init(&j, labels, bs, 1, opts, e)) {
    score_free(bs);
    return -1;
  }
  j.out[0] = rep;
  int rc = run_replicates(&j, opts->n_boot, opts->threads, e);
  job_free(&j);
  if (rc) score_free(bs);
  return rc;
}

int auc_bootstrap_replicates(const double *scores, const int *labels, size_t n, const boot_opts *opts,
                             double *replicates, herr *e) {
  if (check_opts(opts, false, e)) return -1;
  boot_score bs;
  if (single_replicates(scores, labels, n, opts, &bs, replicates, e)) return -1;
  score_free(&bs);
  return 0;
}

int auc_bootstrap_ci(const double *scores, const int *labels, size_t n, const boot_opts *opts, boot_ci *out, herr *e) {
  if (check_opts(opts, true, e)) return -1;
  double *rep = malloc(opts->n_boot * sizeof *rep), *valid = malloc(opts->n_boot * sizeof *valid);
  if (!rep || !valid) {
    free(rep);
    free(valid);
    return herr_set(e, "bootstrap: out of memory for %zu replicates", opts->n_boot);
  }
  boot_score bs;
  if (single_replicates(scores, labels, n, opts, &bs, rep, e)) {
    free(rep);
    free(valid);
    return -1;
  }
  out->auc = auc_from_sorted(&bs.sorted, labels);
  out->n_valid = sorted_valid(rep, opts->n_boot, valid);
  out->n_skipped = opts->n_boot - out->n_valid;
  percentile_summary(valid, out->n_valid, opts->level, &out->pct_lo, &out->median, &out->pct_hi, &out->sd);
  double a = NAN;
  int rc = jackknife_acceleration(&bs, labels, out->auc, &a, e);
  if (!rc)
    bca_limits(valid, out->n_valid, out->auc, a, opts->level, out->pct_lo, out->pct_hi, &out->bca_lo, &out->bca_hi);
  score_free(&bs);
  free(rep);
  free(valid);
  return rc;
}

int auc_bootstrap_paired(const double *score1, const double *score2, const int *labels, size_t n, const boot_opts *opts,
                         boot_paired *out, herr *e) {
  if (check_opts(opts, true, e)) return -1;
  boot_score bs[2];
  if (score_prepare(score1, labels, n, "first score", &bs[0], e)) return -1;
  if (score_prepare(score2, labels, n, "second score", &bs[1], e)) {
    score_free(&bs[0]);
    return -1;
  }
  double *rep1 = malloc(opts->n_boot * sizeof *rep1), *rep2 = malloc(opts->n_boot * sizeof *rep2);
  boot_job j;
  int rc = 0;
  if (!rep1 || !rep2)
    rc = herr_set(e, "bootstrap: out of memory for %zu replicates", opts->n_boot);
  else if (!(rc = job_init(&j, labels, bs, 2, opts, e))) {
    j.out[0] = rep1;
    j.out[1] = rep2;
    rc = run_replicates(&j, opts->n_boot, opts->threads, e);
    job_free(&j);
  }
  if (!rc) {
    out->auc1 = auc_from_sorted(&bs[0].sorted, labels);
    out->auc2 = auc_from_sorted(&bs[1].sorted, labels);
    out->diff = out->auc1 - out->auc2;
    /* Both scores see the same counts, so a skipped replicate is skipped for both. */
    for (size_t r = 0; r < opts->n_boot; r++) rep1[r] -= rep2[r];
    out->n_valid = sorted_valid(rep1, opts->n_boot, rep2);
    out->n_skipped = opts->n_boot - out->n_valid;
    double median;
    percentile_summary(rep2, out->n_valid, opts->level, &out->pct_lo, &median, &out->pct_hi, &out->sd_diff);
    /* pROC's roc.test(method = "bootstrap"): D = diff / sd; a zero sd gives z = 0 when there is
     * no difference (p = 1) and an infinite z otherwise (p = 0). */
    if (isnan(out->sd_diff))
      out->z = NAN;
    else if (out->sd_diff == 0.0)
      out->z = out->diff == 0.0 ? 0.0 : copysign(INFINITY, out->diff);
    else
      out->z = out->diff / out->sd_diff;
    out->p = isnan(out->z) ? NAN : 2.0 * gsl_cdf_ugaussian_P(-fabs(out->z));
  }
  free(rep1);
  free(rep2);
  score_free(&bs[0]);
  score_free(&bs[1]);
  return rc;
}

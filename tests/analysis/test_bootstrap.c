/* analysis/bootstrap: replicates re-derived from the documented draw order and checked against
 * a brute-force Mann–Whitney count, thread-count invariance, skipping, percentile and BCa
 * intervals recomputed independently, the paired test, and input errors. */
#include "test_main.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/bootstrap.h"
#include "harness/util/rng.h"

/* cmocka's float comparison is single precision; this one keeps doubles and shows both. */
#define assert_close(a, b, tol) assert_close_at((a), (b), (tol), __FILE__, __LINE__)
static void assert_close_at(double a, double b, double tol, const char *file, int line) {
  if (!(fabs(a - b) <= tol)) {
    print_error("%.17g != %.17g (tolerance %g)\n", a, b, tol);
    _fail(file, line);
  }
}

typedef struct data {
  size_t n;
  double *s1, *s2;
  int *y;
} data;

/* n_pos positives then n_neg negatives shuffled by a fixed stream; positives shifted by
 * `shift`; with `ties` scores are rounded to one decimal, giving many tie blocks. s2 is a
 * noisier copy of s1 for paired tests. */
static data make_data(size_t n_pos, size_t n_neg, double shift, int ties, uint64_t seed) {
  data d = {n_pos + n_neg, NULL, NULL, NULL};
  d.s1 = malloc(d.n * sizeof *d.s1);
  d.s2 = malloc(d.n * sizeof *d.s2);
  d.y = malloc(d.n * sizeof *d.y);
  assert_non_null(d.s1);
  assert_non_null(d.s2);
  assert_non_null(d.y);
  rng g;
  rng_seed(&g, seed, 0);
  for (size_t i = 0; i < d.n; i++) d.y[i] = i < n_pos;
  for (size_t i = d.n; i > 1; i--) { /* Fisher–Yates so classes interleave */
    size_t j = (size_t)rng_below(&g, i);
    int t = d.y[i - 1];
    d.y[i - 1] = d.y[j];
    d.y[j] = t;
  }
  for (size_t i = 0; i < d.n; i++) {
    double x = rng_normal(&g) + (d.y[i] ? shift : 0.0);
    double x2 = x + 1.5 * rng_normal(&g);
    d.s1[i] = ties ? round(x * 10.0) / 10.0 : x;
    d.s2[i] = ties ? round(x2 * 10.0) / 10.0 : x2;
  }
  return d;
}

static void data_free(data *d) {
  free(d->s1);
  free(d->s2);
  free(d->y);
}

static boot_opts opts_of(size_t n_boot, uint64_t seed, bool stratified, int threads) {
  boot_opts o = {.n_boot = n_boot, .seed = seed, .level = 0.95, .stratified = stratified, .threads = threads};
  return o;
}

/* Replicate r's counts, re-derived from the draw order documented in bootstrap.h. */
static void rederive_counts(const data *d, const boot_opts *o, size_t r, unsigned *cnt) {
  size_t n_pos = 0;
  for (size_t i = 0; i < d->n; i++) n_pos += d->y[i] == 1;
  size_t n_neg = d->n - n_pos;
  size_t *pos = malloc(n_pos * sizeof *pos), *neg = malloc(n_neg * sizeof *neg);
  for (size_t i = 0, p = 0, q = 0; i < d->n; i++) {
    if (d->y[i])
      pos[p++] = i;
    else
      neg[q++] = i;
  }
  memset(cnt, 0, d->n * sizeof *cnt);
  rng g;
  rng_seed(&g, o->seed, r);
  if (o->stratified) {
    for (size_t k = 0; k < n_pos; k++) cnt[pos[rng_below(&g, n_pos)]]++;
    for (size_t k = 0; k < n_neg; k++) cnt[neg[rng_below(&g, n_neg)]]++;
  } else {
    for (size_t k = 0; k < d->n; k++) cnt[rng_below(&g, d->n)]++;
  }
  free(pos);
  free(neg);
}

/* O(m·n) Mann–Whitney on the weighted resample: 2U counted pair by pair. NAN for one class. */
static double brute_force_auc(const double *s, const int *y, const unsigned *cnt, size_t n) {
  uint64_t u2 = 0, m = 0, k = 0;
  for (size_t i = 0; i < n; i++) {
    if (y[i])
      m += cnt[i];
    else
      k += cnt[i];
  }
  for (size_t i = 0; i < n; i++) {
    if (!y[i] || !cnt[i]) continue;
    for (size_t j = 0; j < n; j++) {
      if (y[j] || !cnt[j]) continue;
      uint64_t w = (uint64_t)cnt[i] * cnt[j];
      u2 += s[i] > s[j] ? 2 * w : s[i] == s[j] ? w : 0;
    }
  }
  if (m == 0 || k == 0) return NAN;
  return (double)u2 / (2.0 * (double)m * (double)k);
}

/* R's type-7 quantile, written out independently of bootstrap.c. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double type7(const double *sorted, size_t n, double p) {
  double h = (double)(n - 1) * p;
  size_t lo = (size_t)floor(h);
  if (lo + 1 >= n) return sorted[n - 1];
  double f = h - (double)lo;
  return sorted[lo] + f * (sorted[lo + 1] - sorted[lo]);
}

static double sample_sd(const double *v, size_t n) {
  double m = 0, ss = 0;
  for (size_t i = 0; i < n; i++) m += v[i];
  m /= (double)n;
  for (size_t i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
  return sqrt(ss / (double)(n - 1));
}

/* ---- replicates ---- */

static void check_replicates_against_brute_force(bool stratified) {
  data d = make_data(23, 31, 0.8, 1, 11);
  boot_opts o = opts_of(500, 77, stratified, 2);
  double *rep = malloc(o.n_boot * sizeof *rep);
  herr e;
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep, &e), 0);
  unsigned *cnt = malloc(d.n * sizeof *cnt);
  size_t checked[] = {0, 1, 2, 7, 250, 499};
  for (size_t c = 0; c < sizeof checked / sizeof *checked; c++) {
    rederive_counts(&d, &o, checked[c], cnt);
    double want = brute_force_auc(d.s1, d.y, cnt, d.n);
    assert_true(isfinite(want));
    assert_true(rep[checked[c]] == want); /* both are 2U / (2MN) of the same integers */
  }
  free(cnt);
  free(rep);
  data_free(&d);
}

static void stratified_replicate_aucs_equal_brute_force_mann_whitney_on_the_same_resample(void **state) {
  check_replicates_against_brute_force(true);
}

static void unstratified_replicate_aucs_equal_brute_force_mann_whitney_on_the_same_resample(void **state) {
  check_replicates_against_brute_force(false);
}

static void results_are_bitwise_identical_for_one_two_three_and_all_threads(void **state) {
  data d = make_data(57, 64, 0.7, 1, 5);
  int threads[] = {1, 2, 3, 0};
  for (int strat = 0; strat < 2; strat++) {
    boot_ci ci[4];
    boot_paired pr[4];
    double *rep[4];
    herr e;
    for (int t = 0; t < 4; t++) {
      boot_opts o = opts_of(1001, 3, strat, threads[t]); /* 1001: ranges of unequal length */
      memset(&ci[t], 0, sizeof ci[t]);
      memset(&pr[t], 0, sizeof pr[t]);
      rep[t] = malloc(o.n_boot * sizeof *rep[t]);
      assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci[t], &e), 0);
      assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, d.n, &o, &pr[t], &e), 0);
      assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep[t], &e), 0);
    }
    for (int t = 1; t < 4; t++) {
      assert_memory_equal(&ci[0], &ci[t], sizeof ci[0]);
      assert_memory_equal(&pr[0], &pr[t], sizeof pr[0]);
      assert_memory_equal(rep[0], rep[t], 1001 * sizeof *rep[0]);
    }
    assert_true(ci[0].pct_lo < ci[0].pct_hi);
    for (int t = 0; t < 4; t++) free(rep[t]);
  }
  data_free(&d);
}

static void stratified_replicates_never_skip_even_with_one_positive(void **state) {
  data d = make_data(1, 9, 1.0, 0, 8);
  boot_opts o = opts_of(2000, 4, true, 2);
  boot_ci ci;
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), 0);
  assert_int_equal(ci.n_skipped, 0);
  assert_int_equal(ci.n_valid, 2000);
  assert_true(isfinite(ci.pct_lo) && isfinite(ci.pct_hi) && isfinite(ci.sd));
  /* one positive: no jackknife, so no BCa */
  assert_true(isnan(ci.bca_lo) && isnan(ci.bca_hi));
  data_free(&d);
}

static void unstratified_skips_one_class_replicates_and_counts_them(void **state) {
  data d = make_data(1, 9, 1.0, 0, 8);
  boot_opts o = opts_of(2000, 4, false, 3);
  boot_ci ci;
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), 0);
  assert_true(ci.n_skipped > 0);
  assert_int_equal(ci.n_valid + ci.n_skipped, 2000);
  /* P(no positive in 10 draws) = 0.9^10 ≈ 0.349 */
  assert_in_range(ci.n_skipped, 600, 800);
  double *rep = malloc(o.n_boot * sizeof *rep);
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep, &e), 0);
  unsigned cnt[10];
  size_t nan_count = 0;
  for (size_t r = 0; r < o.n_boot; r++) {
    rederive_counts(&d, &o, r, cnt);
    unsigned pos = 0, neg = 0;
    for (size_t i = 0; i < d.n; i++) *(d.y[i] ? &pos : &neg) += cnt[i];
    assert_int_equal(isnan(rep[r]) != 0, pos == 0 || neg == 0);
    nan_count += isnan(rep[r]) != 0;
  }
  assert_int_equal(nan_count, ci.n_skipped);
  free(rep);
  data_free(&d);
}

/* ---- percentile ---- */

static void percentile_interval_contains_auc_and_narrows_as_n_grows(void **state) {
  data small = make_data(30, 30, 1.0, 0, 21), large = make_data(300, 300, 1.0, 0, 22);
  boot_opts o = opts_of(4000, 9, true, 2);
  boot_ci a, b;
  herr e;
  assert_int_equal(auc_bootstrap_ci(small.s1, small.y, small.n, &o, &a, &e), 0);
  assert_int_equal(auc_bootstrap_ci(large.s1, large.y, large.n, &o, &b, &e), 0);
  assert_true(a.pct_lo < a.auc && a.auc < a.pct_hi);
  assert_true(b.pct_lo < b.auc && b.auc < b.pct_hi);
  assert_true(a.pct_lo <= a.median && a.median <= a.pct_hi);
  /* width shrinks like 1/sqrt(n): ten times the cases, about a third of the width */
  double wa = a.pct_hi - a.pct_lo, wb = b.pct_hi - b.pct_lo;
  assert_true(wb < 0.5 * wa);
  assert_true(wb > 0.2 * wa);
  assert_true(b.sd < a.sd);
  data_free(&small);
  data_free(&large);
}

static void percentile_median_and_sd_are_type7_quantiles_and_sample_sd_of_the_replicates(void **state) {
  data d = make_data(40, 50, 0.6, 1, 31);
  boot_opts o = opts_of(1237, 12, true, 2);
  o.level = 0.9;
  boot_ci ci;
  herr e;
  double *rep = malloc(o.n_boot * sizeof *rep);
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), 0);
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep, &e), 0);
  qsort(rep, o.n_boot, sizeof *rep, cmp_double);
  assert_close(ci.pct_lo, type7(rep, o.n_boot, 0.05), 1e-14);
  assert_close(ci.median, type7(rep, o.n_boot, 0.5), 1e-14);
  assert_close(ci.pct_hi, type7(rep, o.n_boot, 0.95), 1e-14);
  assert_close(ci.sd, sample_sd(rep, o.n_boot), 1e-14);
  double auc;
  assert_int_equal(auc_compute(d.s1, d.y, d.n, &auc, &e), 0);
  assert_true(ci.auc == auc);
  free(rep);
  data_free(&d);
}

/* ---- BCa ---- */

static void bca_matches_z0_and_jackknife_acceleration_computed_independently(void **state) {
  /* a small, strongly separated set: the AUC sits near 1, so the replicate distribution is
   * skewed and both the bias correction and the acceleration are clearly non-zero */
  data d = make_data(14, 26, 2.0, 0, 41);
  boot_opts o = opts_of(3000, 17, true, 2);
  boot_ci ci;
  herr e;
  double *rep = malloc(o.n_boot * sizeof *rep);
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), 0);
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep, &e), 0);
  double theta;
  assert_int_equal(auc_compute(d.s1, d.y, d.n, &theta, &e), 0);

  double below = 0;
  for (size_t r = 0; r < o.n_boot; r++) below += rep[r] < theta ? 1.0 : rep[r] == theta ? 0.5 : 0.0;
  double z0 = gsl_cdf_ugaussian_Pinv(below / (double)o.n_boot);

  /* jackknife the slow way: recompute the AUC without each case */
  double *s = malloc((d.n - 1) * sizeof *s), *loo = malloc(d.n * sizeof *loo);
  int *y = malloc((d.n - 1) * sizeof *y);
  for (size_t i = 0; i < d.n; i++) {
    for (size_t j = 0, k = 0; j < d.n; j++)
      if (j != i) {
        s[k] = d.s1[j];
        y[k++] = d.y[j];
      }
    assert_int_equal(auc_compute(s, y, d.n - 1, &loo[i], &e), 0);
  }
  double mean = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < d.n; i++) mean += loo[i] / (double)d.n;
  for (size_t i = 0; i < d.n; i++) {
    s2 += pow(mean - loo[i], 2);
    s3 += pow(mean - loo[i], 3);
  }
  double a = s3 / (6.0 * pow(s2, 1.5));
  assert_true(fabs(z0) > 0.05);
  assert_true(fabs(a) > 1e-3);

  qsort(rep, o.n_boot, sizeof *rep, cmp_double);
  double zl = z0 + gsl_cdf_ugaussian_Pinv(0.025), zh = z0 + gsl_cdf_ugaussian_Pinv(0.975);
  double lo = type7(rep, o.n_boot, gsl_cdf_ugaussian_P(z0 + zl / (1 - a * zl)));
  double hi = type7(rep, o.n_boot, gsl_cdf_ugaussian_P(z0 + zh / (1 - a * zh)));
  assert_close(ci.bca_lo, lo, 1e-12);
  assert_close(ci.bca_hi, hi, 1e-12);
  assert_true(ci.bca_lo != ci.pct_lo || ci.bca_hi != ci.pct_hi);
  free(s);
  free(y);
  free(loo);
  free(rep);
  data_free(&d);
}

static void bca_falls_back_to_percentile_when_every_replicate_is_on_one_side(void **state) {
  /* one replicate that differs from the AUC: the proportion below is 0 or 1, z0 infinite */
  data d = make_data(20, 20, 0.5, 0, 51);
  boot_opts o = opts_of(1, 2, true, 1);
  boot_ci ci;
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), 0);
  assert_true(ci.median != ci.auc);
  assert_true(ci.bca_lo == ci.pct_lo && ci.bca_hi == ci.pct_hi);
  assert_true(ci.pct_lo == ci.median && ci.pct_hi == ci.median);
  assert_true(isnan(ci.sd)); /* one replicate has no sample sd */
  data_free(&d);
}

/* ---- paired ---- */

static void paired_bootstrap_of_a_score_with_itself_gives_zero_difference_and_p_one(void **state) {
  data d = make_data(50, 70, 0.8, 1, 61);
  boot_opts o = opts_of(800, 6, true, 2);
  boot_paired p;
  herr e;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s1, d.y, d.n, &o, &p, &e), 0);
  assert_true(p.auc1 == p.auc2);
  assert_true(p.diff == 0.0);
  assert_true(p.sd_diff == 0.0);
  assert_true(p.z == 0.0);
  assert_true(p.p == 1.0);
  assert_true(p.pct_lo == 0.0 && p.pct_hi == 0.0);
  assert_int_equal(p.n_valid, 800);
  data_free(&d);
}

static void paired_bootstrap_uses_one_resample_and_z_is_diff_over_sd(void **state) {
  data d = make_data(60, 80, 0.8, 0, 71);
  boot_opts o = opts_of(2000, 13, true, 3);
  boot_paired p;
  herr e;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, d.n, &o, &p, &e), 0);
  double a1, a2;
  assert_int_equal(auc_compute(d.s1, d.y, d.n, &a1, &e), 0);
  assert_int_equal(auc_compute(d.s2, d.y, d.n, &a2, &e), 0);
  assert_true(p.auc1 == a1 && p.auc2 == a2 && p.diff == a1 - a2);
  assert_true(p.diff > 0.02); /* s2 is s1 plus noise */
  /* stratified draws depend on the labels only, so each score's own replicates with the same
   * seed are the paired resamples */
  double *r1 = malloc(o.n_boot * sizeof *r1), *r2 = malloc(o.n_boot * sizeof *r2);
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, r1, &e), 0);
  assert_int_equal(auc_bootstrap_replicates(d.s2, d.y, d.n, &o, r2, &e), 0);
  for (size_t r = 0; r < o.n_boot; r++) r1[r] -= r2[r];
  assert_close(p.sd_diff, sample_sd(r1, o.n_boot), 1e-14);
  qsort(r1, o.n_boot, sizeof *r1, cmp_double);
  assert_close(p.pct_lo, type7(r1, o.n_boot, 0.025), 1e-14);
  assert_close(p.pct_hi, type7(r1, o.n_boot, 0.975), 1e-14);
  assert_close(p.z, p.diff / p.sd_diff, 1e-12);
  assert_close(p.p, 2.0 * gsl_cdf_ugaussian_P(-fabs(p.z)), 1e-15);
  assert_true(p.p > 0.0 && p.p < 1.0);
  free(r1);
  free(r2);
  data_free(&d);
}

/* ---- errors ---- */

static void zero_replicates_is_an_error_saying_the_allowed_range(void **state) {
  data d = make_data(10, 10, 1.0, 0, 81);
  boot_opts o = opts_of(0, 1, true, 1);
  boot_ci ci;
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), -1);
  assert_non_null(strstr(e.msg, "n_boot must be between 1 and 100000000"));
  assert_non_null(strstr(e.msg, "got 0"));
  o.n_boot = 100000001;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, d.n, &o, &(boot_paired){0}, &e), -1);
  assert_non_null(strstr(e.msg, "got 100000001"));
  data_free(&d);
}

static void level_outside_zero_one_is_an_error_naming_the_level(void **state) {
  data d = make_data(10, 10, 1.0, 0, 81);
  boot_opts o = opts_of(100, 1, true, 1);
  o.level = 1.5;
  boot_ci ci;
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e), -1);
  assert_non_null(strstr(e.msg, "level must be between 0 and 1"));
  assert_non_null(strstr(e.msg, "1.5"));
  o.level = NAN;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, d.n, &o, &(boot_paired){0}, &e), -1);
  assert_non_null(strstr(e.msg, "level"));
  data_free(&d);
}

static void nan_score_is_an_error_naming_the_case_and_the_score(void **state) {
  data d = make_data(10, 10, 1.0, 0, 81);
  d.s2[6] = NAN;
  boot_opts o = opts_of(100, 1, true, 1);
  herr e;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, d.n, &o, &(boot_paired){0}, &e), -1);
  assert_non_null(strstr(e.msg, "second score of case 7"));
  assert_non_null(strstr(e.msg, "finite"));
  d.s1[2] = NAN;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &(boot_ci){0}, &e), -1);
  assert_non_null(strstr(e.msg, "case 3"));
  double rep[100];
  assert_int_equal(auc_bootstrap_replicates(d.s1, d.y, d.n, &o, rep, &e), -1);
  assert_non_null(strstr(e.msg, "case 3"));
  data_free(&d);
}

static void single_class_input_is_an_error_saying_both_classes_are_needed(void **state) {
  data d = make_data(10, 10, 1.0, 0, 81);
  for (size_t i = 0; i < d.n; i++) d.y[i] = 0;
  boot_opts o = opts_of(100, 1, false, 2);
  herr e;
  assert_int_equal(auc_bootstrap_ci(d.s1, d.y, d.n, &o, &(boot_ci){0}, &e), -1);
  assert_non_null(strstr(e.msg, "all 20 cases are negative"));
  assert_non_null(strstr(e.msg, "both positives and negatives"));
  data_free(&d);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(stratified_replicate_aucs_equal_brute_force_mann_whitney_on_the_same_resample),
    cmocka_unit_test(unstratified_replicate_aucs_equal_brute_force_mann_whitney_on_the_same_resample),
    cmocka_unit_test(results_are_bitwise_identical_for_one_two_three_and_all_threads),
    cmocka_unit_test(stratified_replicates_never_skip_even_with_one_positive),
    cmocka_unit_test(unstratified_skips_one_class_replicates_and_counts_them),
    cmocka_unit_test(percentile_interval_contains_auc_and_narrows_as_n_grows),
    cmocka_unit_test(percentile_median_and_sd_are_type7_quantiles_and_sample_sd_of_the_replicates),
    cmocka_unit_test(bca_matches_z0_and_jackknife_acceleration_computed_independently),
    cmocka_unit_test(bca_falls_back_to_percentile_when_every_replicate_is_on_one_side),
    cmocka_unit_test(paired_bootstrap_of_a_score_with_itself_gives_zero_difference_and_p_one),
    cmocka_unit_test(paired_bootstrap_uses_one_resample_and_z_is_diff_over_sd),
    cmocka_unit_test(zero_replicates_is_an_error_saying_the_allowed_range),
    cmocka_unit_test(level_outside_zero_one_is_an_error_naming_the_level),
    cmocka_unit_test(nan_score_is_an_error_naming_the_case_and_the_score),
    cmocka_unit_test(single_class_input_is_an_error_saying_both_classes_are_needed),
};

MDH_TEST_MAIN(tests)

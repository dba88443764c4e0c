/* AUC and DeLong statistics against their definitions: hand-worked cases, brute-force O(m·n)
 * placements on random data with ties, exactness at millions of cases, and input errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "harness/util/rng.h"
#include "test_main.h"

/* Random scores, rounded to `levels` distinct values when levels > 0 (heavy ties). */
static void make_data(size_t n, uint64_t seed, int levels, double shift, double *scores, int *labels) {
  rng r;
  rng_seed(&r, seed, 0);
  for (size_t i = 0; i < n; i++) {
    labels[i] = i % 3 == 0 ? 1 : 0;
    double s = rng_normal(&r) + (labels[i] ? shift : 0.0);
    scores[i] = levels > 0 ? round(s * levels / 4.0) : s;
  }
}

/* The definitions, in O(m·n). */
static double brute_placement_pos(const double *s, const int *l, size_t n, size_t i) {
  double c = 0, k = 0;
  for (size_t j = 0; j < n; j++)
    if (l[j] == 0) {
      c += s[j] < s[i] ? 1.0 : s[j] == s[i] ? 0.5 : 0.0;
      k++;
    }
  return c / k;
}

static double brute_placement_neg(const double *s, const int *l, size_t n, size_t j) {
  double c = 0, k = 0;
  for (size_t i = 0; i < n; i++)
    if (l[i] == 1) {
      c += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      k++;
    }
  return c / k;
}

static void hand_worked_auc(void **state) {
  double s[] = {0.1, 0.4, 0.35, 0.8};
  int l[] = {0, 0, 1, 1};
  double auc;
  assert_int_equal(auc_compute(s, l, 4, &auc, NULL), 0);
  assert_true(auc == 0.75);
  int inverted[] = {1, 1, 0, 0};
  assert_int_equal(auc_compute(s, inverted, 4, &auc, NULL), 0);
  assert_true(auc == 0.25);
  double tied[] = {2, 2, 2, 2};
  assert_int_equal(auc_compute(tied, l, 4, &auc, NULL), 0);
  assert_true(auc == 0.5);
}

static void auc_and_placements_match_the_definition_with_ties(void **state) {
  for (int levels = 0; levels <= 8; levels += 4) {
    size_t n = 301;
    double *s = malloc(n * sizeof *s);
    int *l = malloc(n * sizeof *l);
    make_data(n, 7 + (uint64_t)levels, levels, 0.8, s, l);
    auc_sorted so;
    assert_int_equal(auc_sort(s, l, n, NULL, &so, NULL), 0);
    double *x = malloc(so.n_pos * sizeof *x), *y = malloc(so.n_neg * sizeof *y);
    auc_placements(&so, l, x, y);
    double sum = 0;
    for (size_t i = 0, p = 0, q = 0; i < n; i++) {
      if (l[i] == 1) {
        assert_true(fabs(x[p++] - brute_placement_pos(s, l, n, i)) < 1e-15);
        sum += brute_placement_pos(s, l, n, i);
      } else {
        assert_true(fabs(y[q++] - brute_placement_neg(s, l, n, i)) < 1e-15);
      }
    }
    assert_true(fabs(auc_from_sorted(&so, l) - sum / (double)so.n_pos) < 1e-14);
    free(x), free(y), free(s), free(l);
    auc_sorted_free(&so);
  }
}

static void delong_variance_matches_the_definition(void **state) {
  size_t n = 240;
  double *s = malloc(n * sizeof *s);
  int *l = malloc(n * sizeof *l);
  make_data(n, 3, 6, 0.7, s, l);
  auc_delong d;
  assert_int_equal(auc_delong_ci(s, l, n, 0.95, &d, NULL), 0);
  double theta = 0, sx = 0, sy = 0;
  size_t m = 0, k = 0;
  for (size_t i = 0; i < n; i++)
    if (l[i]) theta += brute_placement_pos(s, l, n, i), m++;
  theta /= (double)m;
  for (size_t i = 0; i < n; i++) {
    if (l[i]) {
      double v = brute_placement_pos(s, l, n, i) - theta;
      sx += v * v;
    } else {
      double v = brute_placement_neg(s, l, n, i) - theta;
      sy += v * v;
      k++;
    }
  }
  double var = sx / (double)(m - 1) / (double)m + sy / (double)(k - 1) / (double)k;
  assert_true(fabs(d.auc - theta) < 1e-14);
  assert_true(fabs(d.var - var) < 1e-15);
  assert_true(fabs(d.ci_lo - (theta - 1.959963984540054 * sqrt(var))) < 1e-12);
  assert_true(fabs(d.ci_hi - (theta + 1.959963984540054 * sqrt(var))) < 1e-12);
  assert_int_equal(d.n_pos, m);
  free(s), free(l);
}

static void delong_interval_is_clipped_to_the_unit_range(void **state) {
  double s[] = {0, 1, 2, 3, 10, 11, 12};
  int l[] = {0, 0, 0, 0, 1, 1, 1};
  auc_delong d;
  assert_int_equal(auc_delong_ci(s, l, 7, 0.95, &d, NULL), 0);
  assert_true(d.auc == 1.0);
  assert_true(d.ci_hi == 1.0);
  assert_true(d.ci_lo <= 1.0 && d.ci_lo >= 0.0);
}

static void exact_for_millions_of_cases(void **state) {
  /* 2M positives at 1; 1M negatives at 0 and 1M at 1: each positive has 1M below and 1M tied,
   * so the AUC is (1M + 0.5 M) / 2M = 0.75 exactly. */
  size_t n = 4000000;
  double *s = malloc(n * sizeof *s);
  int *l = malloc(n * sizeof *l);
  for (size_t i = 0; i < n; i++) {
    l[i] = i % 2;
    s[i] = l[i] ? 1.0 : (i % 4 == 0 ? 0.0 : 1.0);
  }
  double auc;
  assert_int_equal(auc_compute(s, l, n, &auc, NULL), 0);
  assert_true(auc == 0.75);
  free(s), free(l);
}

static void paired_test_of_a_score_with_itself_is_null(void **state) {
  size_t n = 90;
  double *s = malloc(n * sizeof *s);
  int *l = malloc(n * sizeof *l);
  make_data(n, 11, 0, 1.0, s, l);
  auc_delong_paired p;
  assert_int_equal(auc_delong_paired_test(s, s, l, n, 0.95, &p, NULL), 0);
  assert_true(p.diff == 0.0);
  assert_true(p.se_diff == 0.0);
  assert_true(p.z == 0.0);
  assert_true(p.p == 1.0);
  assert_true(fabs(p.cov - p.var1) < 1e-16);
  free(s), free(l);
}

static void paired_test_combines_variances_and_covariance(void **state) {
  size_t n = 200;
  double *s1 = malloc(n * sizeof *s1), *s2 = malloc(n * sizeof *s2);
  int *l = malloc(n * sizeof *l);
  make_data(n, 5, 0, 1.0, s1, l);
  rng r;
  rng_seed(&r, 99, 0);
  for (size_t i = 0; i < n; i++) s2[i] = s1[i] + 1.5 * rng_normal(&r); /* correlated, noisier */
  auc_delong_paired p;
  assert_int_equal(auc_delong_paired_test(s1, s2, l, n, 0.9, &p, NULL), 0);
  auc_delong d1, d2;
  auc_delong_ci(s1, l, n, 0.9, &d1, NULL);
  auc_delong_ci(s2, l, n, 0.9, &d2, NULL);
  assert_true(p.auc1 == d1.auc && p.auc2 == d2.auc);
  assert_true(p.var1 == d1.var && p.var2 == d2.var);
  assert_true(p.cov > 0);
  assert_true(fabs(p.se_diff - sqrt(p.var1 + p.var2 - 2 * p.cov)) < 1e-15);
  assert_true(fabs(p.z - p.diff / p.se_diff) < 1e-12);
  assert_true(fabs(p.ci_hi - p.diff - 1.6448536269514722 * p.se_diff) < 1e-12);
  free(s1), free(s2), free(l);
}

static void unpaired_test_uses_welch_degrees_of_freedom(void **state) {
  size_t n1 = 150, n2 = 120;
  double *s1 = malloc(n1 * sizeof *s1), *s2 = malloc(n2 * sizeof *s2);
  int *l1 = malloc(n1 * sizeof *l1), *l2 = malloc(n2 * sizeof *l2);
  make_data(n1, 21, 0, 1.2, s1, l1);
  make_data(n2, 22, 0, 0.6, s2, l2);
  auc_delong_unpaired u;
  assert_int_equal(auc_delong_unpaired_test(s1, l1, n1, s2, l2, n2, &u, NULL), 0);
  double s = u.var1 + u.var2;
  assert_true(fabs(u.t - u.diff / sqrt(s)) < 1e-12);
  assert_true(fabs(u.df - s * s / (u.var1 * u.var1 / 149.0 + u.var2 * u.var2 / 119.0)) < 1e-9);
  assert_true(u.p > 0 && u.p < 1);
  free(s1), free(s2), free(l1), free(l2);
}

static void bad_input_is_named(void **state) {
  double s[] = {0.1, NAN, 0.3};
  int l[] = {0, 1, 1};
  herr e = {{0}};
  double auc;
  assert_int_equal(auc_compute(s, l, 3, &auc, &e), -1);
  assert_string_equal(e.msg, "score of case 2 is nan; scores must be finite numbers");
  double ok[] = {0.1, 0.2, 0.3};
  int two[] = {0, 2, 1};
  assert_int_equal(auc_compute(ok, two, 3, &auc, &e), -1);
  assert_string_equal(e.msg, "label of case 2 is 2; labels must be 0 (negative) or 1 (positive)");
  int ones[] = {1, 1, 1};
  assert_int_equal(auc_compute(ok, ones, 3, &auc, &e), -1);
  assert_string_equal(e.msg, "all 3 cases are positive: an AUC needs both positives and negatives");
  auc_delong d;
  assert_int_equal(auc_delong_ci(ok, l, 3, 0.95, &d, &e), -1);
  assert_string_equal(e.msg, "DeLong's variance needs at least 2 positives and 2 negatives (got 2 and 1)");
  assert_int_equal(auc_delong_ci(ok, l, 3, 1.0, &d, &e), -1);
  assert_string_equal(e.msg, "confidence level must be between 0 and 1, got 1");
}

static void mean_and_sd_over_runs(void **state) {
  double v[] = {0.78, 0.80, 0.76, 0.79, 0.77};
  double m, sd;
  auc_mean_sd(v, 5, &m, &sd);
  assert_true(fabs(m - 0.78) < 1e-15);
  assert_true(fabs(sd - sqrt(0.001 / 4.0)) < 1e-15);
  auc_mean_sd(v, 1, &m, &sd);
  assert_true(m == 0.78 && isnan(sd));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hand_worked_auc),
      cmocka_unit_test(auc_and_placements_match_the_definition_with_ties),
      cmocka_unit_test(delong_variance_matches_the_definition),
      cmocka_unit_test(delong_interval_is_clipped_to_the_unit_range),
      cmocka_unit_test(exact_for_millions_of_cases),
      cmocka_unit_test(paired_test_of_a_score_with_itself_is_null),
      cmocka_unit_test(paired_test_combines_variances_and_covariance),
      cmocka_unit_test(unpaired_test_uses_welch_degrees_of_freedom),
      cmocka_unit_test(bad_input_is_named),
      cmocka_unit_test(mean_and_sd_over_runs),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The decision rule of `harness regress` on in-memory inputs: equal results are ok, an injected
 * drop is a REGRESSION, a drop within the tolerance or without significance is ok, the paired
 * and unpaired standard errors follow their formulas, and test sets that differ fall back to
 * the unpaired comparison. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/regress/regress.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"
#include "test_main.h"

static const regress_opts defaults = {.tolerance = REGRESS_DEFAULT_TOLERANCE, .alpha = REGRESS_DEFAULT_ALPHA};

/* n cases, alternating labels; score = label * separation + N(0, 1), one stream per (seed). */
static regress_preds make_preds(size_t n, double separation, uint64_t seed, const char *id_prefix) {
  regress_preds p = {.n = n};
  p.ids = calloc(n, sizeof *p.ids);
  p.labels = calloc(n, sizeof *p.labels);
  p.scores = calloc(n, sizeof *p.scores);
  rng r;
  rng_seed(&r, seed, 7);
  for (size_t i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s%04zu", id_prefix, i);
    p.ids[i] = strdup(id);
    p.labels[i] = (int)(i % 2);
    p.scores[i] = separation * p.labels[i] + rng_normal(&r);
  }
  return p;
}

/* A run as the evaluate stage would record it for these predictions. */
static regress_run_data run_of(const regress_preds *p) {
  auc_delong d;
  herr e = {{0}};
  assert_int_equal(auc_delong_ci(p->scores, p->labels, p->n, 0.95, &d, &e), 0);
  return (regress_run_data){.auc = d.auc, .se = d.se, .preds = p};
}

static void decide_follows_tolerance_and_one_sided_bound(void **state) {
  (void)state;
  /* z_{0.95} = 1.6449: a drop of 0.05 with se 0.02 has upper bound -0.017 < 0 */
  assert_int_equal(regress_decide(-0.05, 0.02, &defaults), REGRESS_REGRESSION);
  /* the same drop with se 0.04: upper bound +0.016, not significant */
  assert_int_equal(regress_decide(-0.05, 0.04, &defaults), REGRESS_OK);
  /* significant but within the tolerance */
  assert_int_equal(regress_decide(-0.015, 0.001, &defaults), REGRESS_OK);
  /* exactly zero spread: a drop beyond the tolerance is a regression */
  assert_int_equal(regress_decide(-0.03, 0, &defaults), REGRESS_REGRESSION);
  assert_int_equal(regress_decide(0, 0, &defaults), REGRESS_OK);
  assert_int_equal(regress_decide(0.05, 0.02, &defaults), REGRESS_IMPROVED);
  assert_int_equal(regress_decide(NAN, 0.02, &defaults), REGRESS_NOT_COMPARABLE);
  assert_int_equal(regress_decide(-0.5, NAN, &defaults), REGRESS_NOT_COMPARABLE);
  regress_opts strict = {.tolerance = 0.0, .alpha = 0.2};
  assert_int_equal(regress_decide(-0.015, 0.001, &strict), REGRESS_REGRESSION);
  assert_string_equal(regress_verdict_name(REGRESS_REGRESSION), "REGRESSION");
}

static void equal_results_are_ok_and_paired(void **state) {
  (void)state;
  regress_preds p0 = make_preds(200, 1.5, 1, "c"), p1 = make_preds(200, 1.5, 2, "c");
  regress_run_data b[2] = {run_of(&p0), run_of(&p1)}, c[2] = {run_of(&p0), run_of(&p1)};
  regress_arm a;
  regress_compare_arm("real", b, 2, c, 2, &defaults, &a);
  assert_true(a.paired);
  assert_int_equal(a.verdict, REGRESS_OK);
  assert_true(a.diff == 0 && a.se == 0);
  assert_true(fabs(a.auc_b - (b[0].auc + b[1].auc) / 2) < 1e-12);
  assert_null(a.note);
  regress_arm_free(&a);
  regress_preds_free(&p0);
  regress_preds_free(&p1);
}

static void injected_drop_is_a_paired_regression_with_the_combined_se(void **state) {
  (void)state;
  regress_preds b0 = make_preds(400, 2.0, 1, "c"), b1 = make_preds(400, 2.0, 2, "c");
  regress_preds c0 = make_preds(400, 0.8, 3, "c"), c1 = make_preds(400, 0.8, 4, "c");
  regress_run_data b[2] = {run_of(&b0), run_of(&b1)}, c[2] = {run_of(&c0), run_of(&c1)};
  regress_arm a;
  regress_compare_arm("synthetic", b, 2, c, 2, &defaults, &a);
  assert_true(a.paired);
  assert_int_equal(a.verdict, REGRESS_REGRESSION);
  /* diff = mean of the runs' paired differences, se = sqrt(sum of their variances) / R */
  auc_delong_paired t0, t1;
  herr e = {{0}};
  assert_int_equal(auc_delong_paired_test(c0.scores, b0.scores, b0.labels, 400, 0.95, &t0, &e), 0);
  assert_int_equal(auc_delong_paired_test(c1.scores, b1.scores, b1.labels, 400, 0.95, &t1, &e), 0);
  assert_true(fabs(a.diff - (t0.diff + t1.diff) / 2) < 1e-12);
  assert_true(fabs(a.se - sqrt(t0.se_diff * t0.se_diff + t1.se_diff * t1.se_diff) / 2) < 1e-12);
  assert_true(a.diff < -0.1);
  assert_true(a.ci_hi < 0 && fabs(a.ci_hi - (a.diff + 1.6448536269514722 * a.se)) < 1e-9);
  regress_arm_free(&a);
  /* the other way round it is an improvement */
  regress_compare_arm("synthetic", c, 2, b, 2, &defaults, &a);
  assert_int_equal(a.verdict, REGRESS_IMPROVED);
  regress_arm_free(&a);
  regress_preds_free(&b0);
  regress_preds_free(&b1);
  regress_preds_free(&c0);
  regress_preds_free(&c1);
}

static void small_drop_within_tolerance_is_ok(void **state) {
  (void)state;
  /* unpaired, tiny se: the drop of 0.01 is significant but smaller than the tolerance */
  regress_run_data b[2] = {{.auc = 0.80, .se = 0.001}, {.auc = 0.80, .se = 0.001}};
  regress_run_data c[2] = {{.auc = 0.79, .se = 0.001}, {.auc = 0.79, .se = 0.001}};
  regress_arm a;
  regress_compare_arm("real", b, 2, c, 2, &defaults, &a);
  assert_false(a.paired);
  assert_true(fabs(a.diff + 0.01) < 1e-12);
  assert_int_equal(a.verdict, REGRESS_OK);
  regress_arm_free(&a);
  /* beyond the tolerance it is one */
  c[0].auc = c[1].auc = 0.75;
  regress_compare_arm("real", b, 2, c, 2, &defaults, &a);
  assert_int_equal(a.verdict, REGRESS_REGRESSION);
  regress_arm_free(&a);
}

static void unpaired_se_follows_the_formula(void **state) {
  (void)state;
  regress_run_data b[2] = {{.auc = 0.80, .se = 0.03}, {.auc = 0.78, .se = 0.03}};
  regress_run_data c[2] = {{.auc = 0.70, .se = 0.04}, {.auc = 0.72, .se = 0.04}};
  regress_arm a;
  regress_compare_arm("real", b, 2, c, 2, &defaults, &a);
  assert_false(a.paired);
  assert_non_null(strstr(a.note, "unpaired"));
  assert_true(fabs(a.diff - (0.71 - 0.79)) < 1e-12);
  /* per run var = se_b^2 + se_c^2; se = sqrt(sum) / R */
  assert_true(fabs(a.se - sqrt(2 * (0.03 * 0.03 + 0.04 * 0.04)) / 2) < 1e-12);
  assert_int_equal(a.verdict, REGRESS_REGRESSION); /* -0.08 + 1.645 * 0.0354 = -0.022 */
  regress_arm_free(&a);
  /* different numbers of runs: each side's mean with its own variance */
  regress_run_data c3[3] = {{.auc = 0.70, .se = 0.04}, {.auc = 0.72, .se = 0.04}, {.auc = 0.71, .se = 0.04}};
  regress_compare_arm("real", b, 2, c3, 3, &defaults, &a);
  assert_false(a.paired);
  assert_non_null(strstr(a.note, "2 baseline runs, 3 current runs"));
  assert_true(fabs(a.se - sqrt(2 * 0.0009 / 4 + 3 * 0.0016 / 9)) < 1e-12);
  regress_arm_free(&a);
}

static void mismatched_test_cases_fall_back_to_unpaired(void **state) {
  (void)state;
  regress_preds b0 = make_preds(100, 1.5, 1, "case-"), c0 = make_preds(100, 1.5, 1, "other-");
  regress_run_data b[1] = {run_of(&b0)}, c[1] = {run_of(&c0)};
  regress_arm a;
  regress_compare_arm("real", b, 1, c, 1, &defaults, &a);
  assert_false(a.paired);
  assert_non_null(strstr(a.note, "test cases differ"));
  assert_int_equal(a.verdict, REGRESS_OK);
  assert_true(fabs(a.se - sqrt(b[0].se * b[0].se + c[0].se * c[0].se)) < 1e-12);
  regress_arm_free(&a);
  /* same ids but one label flipped */
  regress_preds c1 = make_preds(100, 1.5, 1, "case-");
  c1.labels[5] = 1 - c1.labels[5];
  c[0] = run_of(&c1);
  regress_compare_arm("real", b, 1, c, 1, &defaults, &a);
  assert_false(a.paired);
  assert_non_null(strstr(a.note, "case-0005"));
  regress_arm_free(&a);
  /* predictions missing on one side */
  c[0].preds = NULL;
  regress_compare_arm("real", b, 1, c, 1, &defaults, &a);
  assert_false(a.paired);
  assert_non_null(strstr(a.note, "missing on the current side"));
  regress_arm_free(&a);
  regress_preds_free(&b0);
  regress_preds_free(&c0);
  regress_preds_free(&c1);
}

static void same_cases_in_another_order_are_paired(void **state) {
  (void)state;
  regress_preds b0 = make_preds(50, 1.0, 1, "c"), c0 = make_preds(50, 1.0, 1, "c");
  /* reverse the current rows */
  for (size_t i = 0; i < 25; i++) {
    size_t j = 49 - i;
    char *id = c0.ids[i];
    c0.ids[i] = c0.ids[j];
    c0.ids[j] = id;
    int l = c0.labels[i];
    c0.labels[i] = c0.labels[j];
    c0.labels[j] = l;
    double s = c0.scores[i];
    c0.scores[i] = c0.scores[j];
    c0.scores[j] = s;
  }
  double *aligned;
  herr e = {{0}};
  assert_int_equal(regress_preds_align(&b0, &c0, &aligned, &e), 0);
  for (size_t i = 0; i < 50; i++) assert_true(aligned[i] == b0.scores[i]);
  free(aligned);
  regress_run_data b[1] = {run_of(&b0)}, c[1] = {run_of(&c0)};
  regress_arm a;
  regress_compare_arm("real", b, 1, c, 1, &defaults, &a);
  assert_true(a.paired);
  assert_true(a.diff == 0 && a.se == 0);
  regress_arm_free(&a);
  regress_preds_free(&b0);
  regress_preds_free(&c0);
}

static void one_sided_or_nan_arms_are_not_comparable(void **state) {
  (void)state;
  regress_run_data b[1] = {{.auc = 0.8, .se = 0.02}}, c[1] = {{.auc = NAN, .se = 0.02}};
  regress_arm a;
  regress_compare_arm("real", b, 1, NULL, 0, &defaults, &a);
  assert_int_equal(a.verdict, REGRESS_NOT_COMPARABLE);
  assert_string_equal(a.note, "only in the baseline");
  regress_arm_free(&a);
  regress_compare_arm("real", NULL, 0, b, 1, &defaults, &a);
  assert_string_equal(a.note, "only in the current results");
  regress_arm_free(&a);
  regress_compare_arm("real", b, 1, c, 1, &defaults, &a);
  assert_int_equal(a.verdict, REGRESS_NOT_COMPARABLE);
  assert_non_null(strstr(a.note, "NaN"));
  regress_arm_free(&a);
}

static void predictions_file_errors_name_the_line(void **state) {
  (void)state;
  char dir[] = "/tmp/mdh-regress-preds-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = fs_join(dir, "p.csv");
  const char *text = "case_id,label,score\na,0,0.1\nb,2,0.3\n";
  herr e = {{0}};
  assert_int_equal(fs_write_atomic(path, text, strlen(text), &e), 0);
  regress_preds p;
  assert_int_equal(regress_preds_read(path, &p, &e), -1);
  assert_non_null(strstr(e.msg, "p.csv:3: label '2' is not 0 or 1"));
  const char *ok = "case_id,label,score\na,0,0.1\nb,1,0.3\n";
  assert_int_equal(fs_write_atomic(path, ok, strlen(ok), &e), 0);
  assert_int_equal(regress_preds_read(path, &p, &e), 0);
  assert_int_equal(p.n, 2);
  assert_string_equal(p.ids[1], "b");
  assert_true(p.labels[1] == 1 && p.scores[1] == 0.3);
  regress_preds_free(&p);
  fs_remove_tree(dir, NULL);
  free(path);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decide_follows_tolerance_and_one_sided_bound),
      cmocka_unit_test(equal_results_are_ok_and_paired),
      cmocka_unit_test(injected_drop_is_a_paired_regression_with_the_combined_se),
      cmocka_unit_test(small_drop_within_tolerance_is_ok),
      cmocka_unit_test(unpaired_se_follows_the_formula),
      cmocka_unit_test(mismatched_test_cases_fall_back_to_unpaired),
      cmocka_unit_test(same_cases_in_another_order_are_paired),
      cmocka_unit_test(one_sided_or_nan_arms_are_not_comparable),
      cmocka_unit_test(predictions_file_errors_name_the_line),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

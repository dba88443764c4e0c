/* AUC, DeLong and bootstrap results against R's pROC 1.18, the reference the formulas follow:
 * each case generates its data, writes it as CSV with an R script beside it, runs Rscript once
 * and compares the values R prints. Without Rscript and pROC every case is skipped. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/auc.h"
#include "analysis/bootstrap.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"
#include "test_main.h"

/* What R prints: one "key value" line per number, with %.17g (round-trip exact). */
#define R_PRELUDE                                                                  \
  "suppressMessages(library(pROC))\n"                                              \
  "out <- function(k, v) cat(sprintf(\"%s %.17g\\n\", k, as.numeric(v)), sep = \"\")\n" \
  "rc <- function(d, s) roc(d$y, d[[s]], levels = c(0, 1), direction = \"<\", quiet = TRUE)\n"

static void skip_without_proc(void) {
  static int have = -1;
  if (have < 0) {
    int rc = system("Rscript -e 'quit(status = !requireNamespace(\"pROC\", quietly = TRUE))' >/dev/null 2>&1");
    have = rc == 0;
    if (!have) print_message("Rscript with pROC not found: skipping the comparison with pROC\n");
  }
  if (!have) skip();
}

/* A data set: labels with exactly n_pos positives spread through the file, and two scores
 * correlated through a shared part (correlation about rho). levels > 0 rounds both scores
 * to `levels` distinct values (heavy ties). */
typedef struct dataset {
  size_t n;
  int *y;
  double *s1, *s2;
} dataset;

static dataset make_data(size_t n_pos, size_t n_neg, uint64_t seed, double shift1, double shift2, double rho,
                         int levels) {
  dataset d = {.n = n_pos + n_neg};
  d.y = malloc(d.n * sizeof *d.y);
  d.s1 = malloc(d.n * sizeof *d.s1);
  d.s2 = malloc(d.n * sizeof *d.s2);
  rng g;
  rng_seed(&g, seed, 0);
  for (size_t i = 0; i < d.n; i++) {
    d.y[i] = (i + 1) * n_pos / d.n > i * n_pos / d.n;
    double common = rng_normal(&g), own = rng_normal(&g);
    d.s1[i] = common + (d.y[i] ? shift1 : 0.0);
    d.s2[i] = rho * common + sqrt(1.0 - rho * rho) * own + (d.y[i] ? shift2 : 0.0);
    if (levels > 0) {
      double half = (double)(levels - 1) / 2.0;
      d.s1[i] = fmin(half, fmax(-half, round(d.s1[i])));
      d.s2[i] = fmin(half, fmax(-half, round(d.s2[i])));
    }
  }
  return d;
}

static void dataset_free(dataset *d) {
  free(d->y);
  free(d->s1);
  free(d->s2);
}

static size_t count_distinct(const double *v, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) seen = v[j] == v[i];
    k += !seen;
  }
  return k;
}

static void write_csv(const char *dir, const char *name, const dataset *d) {
  char *p = fs_join(dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs("y,s1,s2\n", f);
  for (size_t i = 0; i < d->n; i++) fprintf(f, "%d,%.17g,%.17g\n", d->y[i], d->s1[i], d->s2[i]);
  fclose(f);
  free(p);
}

/* Runs `script` with Rscript in dir and returns what it printed (caller frees). */
static char *run_r(const char *dir, const char *script) {
  char *p = fs_join(dir, "case.R");
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(R_PRELUDE, f);
  fputs(script, f);
  fclose(f);
  free(p);
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && Rscript --vanilla case.R > r.out 2> r.err", dir);
  int rc = system(cmd);
  char *out_path = fs_join(dir, "r.out"), *err_path = fs_join(dir, "r.err");
  char *out = fs_read_file(out_path, NULL, NULL), *err = fs_read_file(err_path, NULL, NULL);
  if (rc != 0) print_error("Rscript failed (status %d):\n%s\n%s\n", rc, out ? out : "", err ? err : "");
  free(out_path);
  free(err_path);
  free(err);
  assert_int_equal(rc, 0);
  assert_non_null(out);
  return out;
}

/* The value printed under `key`; fails when R did not print it. */
static double r_value(const char *out, const char *key) {
  size_t len = strlen(key);
  for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, key, len) == 0 && line[len] == ' ') return strtod(line + len + 1, NULL);
  }
  print_error("R printed no value for '%s'; its output:\n%s\n", key, out);
  fail();
  return NAN;
}

/* Compares one value, printing both sides on a mismatch; returns the number of mismatches so
 * that a case reports every differing value before it fails. */
static int check(const char *what, double ours, double proc, double tol) {
  if (isfinite(ours) && isfinite(proc) && fabs(ours - proc) <= tol) return 0;
  print_error("%s: ours %.17g, pROC %.17g (difference %.3g, tolerance %g)\n", what, ours, proc, ours - proc, tol);
  return 1;
}

static char *new_case_dir(void) {
  char tmpl[] = "/tmp/mdh-proc-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return strdup(tmpl);
}

static void drop_case_dir(char *dir) {
  fs_remove_tree(dir, NULL);
  free(dir);
}

static const char single_score_script[] =
    "d <- read.csv(\"data.csv\")\n"
    "r <- rc(d, \"s1\")\n"
    "out(\"auc\", auc(r))\n"
    "out(\"var\", var(r))\n"
    "ci <- ci.auc(r, method = \"delong\", conf.level = 0.95)\n"
    "out(\"ci_lo\", ci[1]); out(\"ci_hi\", ci[3])\n"
    "ci <- ci.auc(r, method = \"delong\", conf.level = 0.8)\n"
    "out(\"ci80_lo\", ci[1]); out(\"ci80_hi\", ci[3])\n";

static void compare_single_score(const dataset *d) {
  char *dir = new_case_dir();
  write_csv(dir, "data.csv", d);
  char *out = run_r(dir, single_score_script);
  double auc;
  assert_int_equal(auc_compute(d->s1, d->y, d->n, &auc, NULL), 0);
  auc_delong dl, dl80;
  assert_int_equal(auc_delong_ci(d->s1, d->y, d->n, 0.95, &dl, NULL), 0);
  assert_int_equal(auc_delong_ci(d->s1, d->y, d->n, 0.8, &dl80, NULL), 0);
  int bad = 0;
  bad += check("auc (auc_compute)", auc, r_value(out, "auc"), 1e-9);
  bad += check("auc (auc_delong_ci)", dl.auc, r_value(out, "auc"), 1e-9);
  bad += check("DeLong variance", dl.var, r_value(out, "var"), 1e-9);
  bad += check("DeLong 95% CI lower", dl.ci_lo, r_value(out, "ci_lo"), 1e-9);
  bad += check("DeLong 95% CI upper", dl.ci_hi, r_value(out, "ci_hi"), 1e-9);
  bad += check("DeLong 80% CI lower", dl80.ci_lo, r_value(out, "ci80_lo"), 1e-9);
  bad += check("DeLong 80% CI upper", dl80.ci_hi, r_value(out, "ci80_hi"), 1e-9);
  /* The comparison means something only if the interval is not degenerate. */
  assert_true(dl.var > 0 && dl.ci_lo < dl.auc && dl.auc < dl.ci_hi);
  free(out);
  drop_case_dir(dir);
  assert_int_equal(bad, 0);
}

static void delong_matches_proc_on_continuous_scores(void **state) {
  (void)state;
  skip_without_proc();
  dataset d = make_data(300, 300, 11, 0.9, 0.7, 0.6, 0);
  assert_int_equal(count_distinct(d.s1, d.n), d.n);
  compare_single_score(&d);
  dataset_free(&d);
}

static void delong_matches_proc_with_heavy_ties_unbalanced(void **state) {
  (void)state;
  skip_without_proc();
  dataset d = make_data(60, 340, 12, 0.9, 0.7, 0.6, 5);
  assert_int_equal(count_distinct(d.s1, d.n), 5);
  compare_single_score(&d);
  dataset_free(&d);
}

static const char paired_script[] =
    "d <- read.csv(\"data.csv\")\n"
    "r1 <- rc(d, \"s1\"); r2 <- rc(d, \"s2\")\n"
    "t <- roc.test(r1, r2, method = \"delong\", paired = TRUE, conf.level = 0.95)\n"
    "out(\"z\", t$statistic); out(\"p\", t$p.value)\n"
    "out(\"ci_lo\", t$conf.int[1]); out(\"ci_hi\", t$conf.int[2])\n"
    "out(\"auc1\", t$estimate[1]); out(\"auc2\", t$estimate[2])\n"
    "out(\"var1\", var(r1)); out(\"var2\", var(r2)); out(\"cov\", cov(r1, r2, method = \"delong\"))\n";

static void compare_paired(const dataset *d) {
  char *dir = new_case_dir();
  write_csv(dir, "data.csv", d);
  char *out = run_r(dir, paired_script);
  auc_delong_paired t;
  assert_int_equal(auc_delong_paired_test(d->s1, d->s2, d->y, d->n, 0.95, &t, NULL), 0);
  int bad = 0;
  bad += check("AUC of the first score", t.auc1, r_value(out, "auc1"), 1e-9);
  bad += check("AUC of the second score", t.auc2, r_value(out, "auc2"), 1e-9);
  bad += check("variance of the first score", t.var1, r_value(out, "var1"), 1e-9);
  bad += check("variance of the second score", t.var2, r_value(out, "var2"), 1e-9);
  bad += check("covariance", t.cov, r_value(out, "cov"), 1e-9);
  bad += check("paired z", t.z, r_value(out, "z"), 1e-9);
  bad += check("paired p", t.p, r_value(out, "p"), 1e-9);
  bad += check("paired CI lower", t.ci_lo, r_value(out, "ci_lo"), 1e-9);
  bad += check("paired CI upper", t.ci_hi, r_value(out, "ci_hi"), 1e-9);
  /* Correlated scores: the covariance must matter for the test to be a real check. */
  assert_true(t.cov > 0.2 * sqrt(t.var1 * t.var2));
  assert_true(t.p > 1e-12 && t.p < 1.0);
  free(out);
  drop_case_dir(dir);
  assert_int_equal(bad, 0);
}

static void paired_delong_matches_proc(void **state) {
  (void)state;
  skip_without_proc();
  dataset d = make_data(300, 300, 13, 0.9, 0.7, 0.6, 0);
  compare_paired(&d);
  dataset_free(&d);
}

static void paired_delong_matches_proc_with_heavy_ties(void **state) {
  (void)state;
  skip_without_proc();
  dataset d = make_data(60, 340, 14, 0.9, 0.6, 0.6, 5);
  assert_int_equal(count_distinct(d.s1, d.n), 5);
  assert_int_equal(count_distinct(d.s2, d.n), 5);
  compare_paired(&d);
  dataset_free(&d);
}

static void unpaired_delong_matches_proc(void **state) {
  (void)state;
  skip_without_proc();
  char *dir = new_case_dir();
  dataset a = make_data(300, 300, 15, 0.9, 0.0, 0.0, 0);
  dataset b = make_data(80, 170, 16, 0.6, 0.0, 0.0, 5); /* smaller, unbalanced, tied */
  write_csv(dir, "a.csv", &a);
  write_csv(dir, "b.csv", &b);
  char *out = run_r(dir,
                    "r1 <- rc(read.csv(\"a.csv\"), \"s1\"); r2 <- rc(read.csv(\"b.csv\"), \"s1\")\n"
                    "t <- roc.test(r1, r2, method = \"delong\", paired = FALSE)\n"
                    "out(\"t\", t$statistic); out(\"p\", t$p.value); out(\"df\", t$parameter)\n"
                    "out(\"auc1\", t$estimate[1]); out(\"auc2\", t$estimate[2])\n");
  auc_delong_unpaired t;
  assert_int_equal(auc_delong_unpaired_test(a.s1, a.y, a.n, b.s1, b.y, b.n, &t, NULL), 0);
  int bad = 0;
  bad += check("AUC of the first set", t.auc1, r_value(out, "auc1"), 1e-9);
  bad += check("AUC of the second set", t.auc2, r_value(out, "auc2"), 1e-9);
  bad += check("unpaired statistic D", t.t, r_value(out, "t"), 1e-9);
  bad += check("unpaired p", t.p, r_value(out, "p"), 1e-9);
  bad += check("unpaired df", t.df, r_value(out, "df"), 1e-9);
  assert_true(t.p > 1e-12 && t.p < 1.0);
  free(out);
  drop_case_dir(dir);
  dataset_free(&a);
  dataset_free(&b);
  assert_int_equal(bad, 0);
}

/* Percentile intervals from independent random draws: equal only up to Monte Carlo error
 * (about 0.001 here at 10,000 replicates), hence the 0.01 tolerance. */
static void compare_bootstrap(bool stratified, int levels, uint64_t seed) {
  char *dir = new_case_dir();
  dataset d = make_data(300, 300, seed, 0.9, 0.7, 0.6, levels);
  write_csv(dir, "data.csv", &d);
  char script[1024];
  snprintf(script, sizeof script,
           "d <- read.csv(\"data.csv\")\n"
           "r <- rc(d, \"s1\")\n"
           "set.seed(%u)\n"
           "ci <- ci.auc(r, method = \"bootstrap\", boot.n = 10000, boot.stratified = %s, conf.level = 0.95,\n"
           "             progress = \"none\")\n"
           "out(\"lo\", ci[1]); out(\"median\", ci[2]); out(\"hi\", ci[3])\n",
           (unsigned)seed, stratified ? "TRUE" : "FALSE");
  char *out = run_r(dir, script);
  boot_opts o = {.n_boot = 10000, .seed = seed, .level = 0.95, .stratified = stratified, .threads = 0};
  boot_ci ci;
  herr e;
  int rc = auc_bootstrap_ci(d.s1, d.y, d.n, &o, &ci, &e);
  if (rc) print_error("auc_bootstrap_ci: %s\n", e.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(ci.n_valid + ci.n_skipped, 10000);
  const char *kind = stratified ? "stratified" : "unstratified";
  char what[128];
  int bad = 0;
  snprintf(what, sizeof what, "%s bootstrap percentile lower", kind);
  bad += check(what, ci.pct_lo, r_value(out, "lo"), 0.01);
  snprintf(what, sizeof what, "%s bootstrap percentile upper", kind);
  bad += check(what, ci.pct_hi, r_value(out, "hi"), 0.01);
  snprintf(what, sizeof what, "%s bootstrap median", kind);
  bad += check(what, ci.median, r_value(out, "median"), 0.01);
  /* The interval must be a real one around the AUC, not a degenerate point. */
  assert_true(ci.pct_lo < ci.auc && ci.auc < ci.pct_hi && ci.pct_hi - ci.pct_lo > 0.02);
  free(out);
  dataset_free(&d);
  drop_case_dir(dir);
  assert_int_equal(bad, 0);
}

static void stratified_bootstrap_interval_is_near_proc(void **state) {
  (void)state;
  skip_without_proc();
  compare_bootstrap(true, 0, 17);
}

static void unstratified_bootstrap_interval_is_near_proc(void **state) {
  (void)state;
  skip_without_proc();
  compare_bootstrap(false, 0, 18);
}

static void bootstrap_interval_with_heavy_ties_is_near_proc(void **state) {
  (void)state;
  skip_without_proc();
  compare_bootstrap(true, 5, 19);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(delong_matches_proc_on_continuous_scores),
      cmocka_unit_test(delong_matches_proc_with_heavy_ties_unbalanced),
      cmocka_unit_test(paired_delong_matches_proc),
      cmocka_unit_test(paired_delong_matches_proc_with_heavy_ties),
      cmocka_unit_test(unpaired_delong_matches_proc),
      cmocka_unit_test(stratified_bootstrap_interval_is_near_proc),
      cmocka_unit_test(unstratified_bootstrap_interval_is_near_proc),
      cmocka_unit_test(bootstrap_interval_with_heavy_ties_is_near_proc),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

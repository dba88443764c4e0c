/* End to end through the real `harness stats`: the text output shows the AUC; every number in
 * the JSON output equals the library's result bit for bit (JSON round-trips, and the bootstrap
 * does not depend on the thread count); two scores give the paired section; and bad input
 * (missing column or file, NaN score, label not 0/1, one class) fails with a message naming it. */
#include <cjson/cJSON.h>
#include <math.h>

#include "analysis/auc.h"
#include "analysis/bootstrap.h"
#include "cli_util.h"
#include "harness/util/rng.h"
#include "test_main.h"

#define N_CASES 200
#define BOOT_N 200
#define SEED 7

/* Two correlated scores with some ties (quantised to 1/64, exact in decimal and binary) and
 * an id column the command must ignore; returns the CSV text (caller frees). */
typedef struct data {
  int y[N_CASES];
  double s1[N_CASES], s2[N_CASES];
} data;

static char *make_csv(data *d) {
  rng g;
  rng_seed(&g, 42, 0);
  size_t cap = 64 + N_CASES * 64, len = 0;
  char *csv = malloc(cap);
  len += (size_t)snprintf(csv + len, cap - len, "id,y,s1,s2\n");
  for (int i = 0; i < N_CASES; i++) {
    d->y[i] = rng_uniform(&g) < 0.4;
    double common = rng_normal(&g);
    d->s1[i] = round((common + 0.8 * d->y[i]) * 64) / 64;
    d->s2[i] = round((0.6 * common + 0.8 * rng_normal(&g) + 0.5 * d->y[i]) * 64) / 64;
    len += (size_t)snprintf(csv + len, cap - len, "case%d,%d,%.17g,%.17g\n", i, d->y[i], d->s1[i], d->s2[i]);
  }
  return csv;
}

static cli_result stats(const char *dir, char *const *args) {
  char *argv[32] = {"stats"};
  int n = 1;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return cli_run(dir, argv);
}

static cJSON *parse_ok(const cli_result *r) {
  if (r->status != 0) print_error("harness stats failed (%d): %s\n", r->status, r->err);
  assert_int_equal(r->status, 0);
  cJSON *j = cJSON_Parse(r->out);
  if (!j) print_error("not JSON:\n%s\n", r->out);
  assert_non_null(j);
  return j;
}

static cJSON *get(const cJSON *o, const char *key) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v) print_error("JSON has no key '%s'\n", key);
  assert_non_null(v);
  return v;
}

/* A JSON number equals the library's double exactly (NaN is written as null). */
static void expect_num(const cJSON *v, const char *what, double expected) {
  if (isnan(expected)) {
    if (!cJSON_IsNull(v)) print_error("%s: expected null (NaN), got %s\n", what, cJSON_PrintUnformatted(v));
    assert_true(cJSON_IsNull(v));
    return;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble != expected)
    print_error("%s: JSON %.17g, library %.17g\n", what, cJSON_IsNumber(v) ? v->valuedouble : NAN, expected);
  assert_true(cJSON_IsNumber(v));
  assert_true(v->valuedouble == expected);
}

static void expect_key(const cJSON *o, const char *key, double expected) { expect_num(get(o, key), key, expected); }

static void expect_pair(const cJSON *o, const char *key, double lo, double hi) {
  cJSON *a = get(o, key);
  assert_true(cJSON_IsArray(a));
  assert_int_equal(cJSON_GetArraySize(a), 2);
  expect_num(cJSON_GetArrayItem(a, 0), key, lo);
  expect_num(cJSON_GetArrayItem(a, 1), key, hi);
}

static void expect_delong(const cJSON *score, const double *s, const int *y) {
  auc_delong dl;
  assert_int_equal(auc_delong_ci(s, y, N_CASES, 0.95, &dl, NULL), 0);
  cJSON *d = get(score, "delong");
  expect_key(d, "var", dl.var);
  expect_key(d, "se", dl.se);
  expect_pair(d, "ci", dl.ci_lo, dl.ci_hi);
}

/* The library runs single-threaded; the command runs with two threads. */
static void expect_bootstrap(const cJSON *score, const double *s, const int *y, bool stratified) {
  boot_opts o = {.n_boot = BOOT_N, .seed = SEED, .level = 0.95, .stratified = stratified, .threads = 1};
  boot_ci b;
  assert_int_equal(auc_bootstrap_ci(s, y, N_CASES, &o, &b, NULL), 0);
  cJSON *j = get(score, "bootstrap");
  expect_key(j, "n", BOOT_N);
  expect_key(j, "valid", (double)b.n_valid);
  assert_true(cJSON_IsBool(get(j, "stratified")) && cJSON_IsTrue(get(j, "stratified")) == stratified);
  expect_key(j, "seed", SEED);
  expect_key(j, "median", b.median);
  expect_key(j, "sd", b.sd);
  expect_pair(j, "percentile", b.pct_lo, b.pct_hi);
  expect_pair(j, "bca", b.bca_lo, b.bca_hi);
  assert_true(b.pct_lo < b.pct_hi && b.bca_lo < b.bca_hi); /* real intervals, not NaN */
}

static void expect_header(const cJSON *j, const data *d) {
  size_t n_pos = 0;
  for (int i = 0; i < N_CASES; i++) n_pos += (size_t)d->y[i];
  assert_true(cJSON_IsString(get(j, "file")));
  assert_string_equal(get(j, "file")->valuestring, "data.csv");
  expect_key(j, "n", N_CASES);
  expect_key(j, "n_pos", (double)n_pos);
  expect_key(j, "n_neg", (double)(N_CASES - n_pos));
  expect_key(j, "level", 0.95);
}

static void expect_score(const cJSON *j, size_t i, const char *column, const double *s, const int *y) {
  cJSON *scores = get(j, "scores");
  assert_true(cJSON_IsArray(scores));
  cJSON *sc = cJSON_GetArrayItem(scores, (int)i);
  assert_non_null(sc);
  assert_string_equal(get(sc, "column")->valuestring, column);
  double auc;
  assert_int_equal(auc_compute(s, y, N_CASES, &auc, NULL), 0);
  expect_key(sc, "auc", auc);
}

static void text_output_shows_the_auc(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  data d;
  char *csv = make_csv(&d);
  write_text(dir, "data.csv", csv);
  cli_result r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s1", "--boot-n", "200", NULL});
  assert_int_equal(r.status, 0);
  double auc;
  assert_int_equal(auc_compute(d.s1, d.y, N_CASES, &auc, NULL), 0);
  char want[64];
  snprintf(want, sizeof want, "%.4f", auc);
  char *row = strstr(r.out, "\ns1 ");
  if (!row || !strstr(row, want)) print_error("expected the s1 row with AUC %s in:\n%s\n", want, r.out);
  assert_non_null(row);
  assert_non_null(strstr(row, want));
  cli_result_free(&r);
  free(csv);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void json_numbers_equal_the_library_exactly(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  data d;
  char *csv = make_csv(&d);
  write_text(dir, "data.csv", csv);
  cli_result r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s1", "--method", "both", "--boot-n",
                                       "200", "--seed", "7", "--threads", "2", "--format", "json", NULL});
  cJSON *j = parse_ok(&r);
  expect_header(j, &d);
  assert_int_equal(cJSON_GetArraySize(get(j, "scores")), 1);
  expect_score(j, 0, "s1", d.s1, d.y);
  cJSON *sc = cJSON_GetArrayItem(get(j, "scores"), 0);
  expect_delong(sc, d.s1, d.y);
  expect_bootstrap(sc, d.s1, d.y, true);
  assert_null(cJSON_GetObjectItem(j, "paired"));
  /* The computation's own time, for scripts and the benchmark: present, finite, plausible. */
  double secs = get(j, "compute_seconds")->valuedouble;
  assert_true(secs > 0.0 && secs < 60.0);
  cJSON_Delete(j);
  cli_result_free(&r);
  free(csv);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void two_scores_give_the_paired_section(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  data d;
  char *csv = make_csv(&d);
  write_text(dir, "data.csv", csv);
  cli_result r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s1", "--score", "s2", "--boot-n", "200",
                                       "--seed", "7", "--threads", "2", "--format", "json", NULL});
  cJSON *j = parse_ok(&r);
  expect_header(j, &d);
  expect_score(j, 0, "s1", d.s1, d.y);
  expect_score(j, 1, "s2", d.s2, d.y);
  expect_delong(cJSON_GetArrayItem(get(j, "scores"), 1), d.s2, d.y);
  expect_bootstrap(cJSON_GetArrayItem(get(j, "scores"), 1), d.s2, d.y, true);

  cJSON *p = get(j, "paired");
  cJSON *cols = get(p, "columns");
  assert_int_equal(cJSON_GetArraySize(cols), 2);
  assert_string_equal(cJSON_GetArrayItem(cols, 0)->valuestring, "s1");
  assert_string_equal(cJSON_GetArrayItem(cols, 1)->valuestring, "s2");
  auc_delong_paired pd;
  assert_int_equal(auc_delong_paired_test(d.s1, d.s2, d.y, N_CASES, 0.95, &pd, NULL), 0);
  expect_key(p, "diff", pd.diff);
  cJSON *dl = get(p, "delong");
  expect_key(dl, "z", pd.z);
  expect_key(dl, "p", pd.p);
  expect_key(dl, "se", pd.se_diff);
  expect_pair(dl, "ci", pd.ci_lo, pd.ci_hi);
  boot_opts o = {.n_boot = BOOT_N, .seed = SEED, .level = 0.95, .stratified = true, .threads = 1};
  boot_paired pb;
  assert_int_equal(auc_bootstrap_paired(d.s1, d.s2, d.y, N_CASES, &o, &pb, NULL), 0);
  cJSON *bs = get(p, "bootstrap");
  expect_key(bs, "z", pb.z);
  expect_key(bs, "p", pb.p);
  expect_key(bs, "sd", pb.sd_diff);
  expect_pair(bs, "percentile", pb.pct_lo, pb.pct_hi);
  assert_true(pd.p > 0 && pd.p < 1 && pb.sd_diff > 0);
  cJSON_Delete(j);
  cli_result_free(&r);

  r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s1", "--score", "s2", "--boot-n", "200", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "paired"));
  char want[64];
  snprintf(want, sizeof want, "z = %.3f", pd.z);
  assert_non_null(strstr(r.out, want));
  cli_result_free(&r);
  free(csv);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void method_selects_the_sections(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  data d;
  char *csv = make_csv(&d);
  write_text(dir, "data.csv", csv);
  cli_result r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s2", "--method", "delong", "--format",
                                       "json", NULL});
  cJSON *j = parse_ok(&r);
  cJSON *sc = cJSON_GetArrayItem(get(j, "scores"), 0);
  expect_delong(sc, d.s2, d.y);
  assert_null(cJSON_GetObjectItem(sc, "bootstrap"));
  cJSON_Delete(j);
  cli_result_free(&r);

  r = stats(dir, (char *[]){"data.csv", "--label", "y", "--score", "s2", "--method", "bootstrap", "--unstratified",
                            "--boot-n", "200", "--seed", "7", "--threads", "2", "--format", "json", NULL});
  j = parse_ok(&r);
  sc = cJSON_GetArrayItem(get(j, "scores"), 0);
  assert_null(cJSON_GetObjectItem(sc, "delong"));
  expect_bootstrap(sc, d.s2, d.y, false);
  cJSON_Delete(j);
  cli_result_free(&r);
  free(csv);
  fs_remove_tree(dir, NULL);
  free(dir);
}

/* Runs stats on `csv` and expects a failure whose stderr holds every string in `want`. */
static void expect_error(const char *csv, char *const *args, const char *const *want) {
  char *dir = make_tmp_dir();
  if (csv) write_text(dir, "data.csv", csv);
  cli_result r = stats(dir, args);
  assert_int_not_equal(r.status, 0);
  assert_string_equal(r.out, "");
  for (int i = 0; want[i]; i++) {
    if (!strstr(r.err, want[i])) print_error("expected '%s' in stderr:\n%s\n", want[i], r.err);
    assert_non_null(strstr(r.err, want[i]));
  }
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static const char small_csv[] =
    "id,y,s1\n"
    "a,0,0.1\n"
    "b,1,0.9\n"
    "c,0,0.3\n"
    "d,1,0.7\n"
    "e,1,0.4\n";

static void missing_column_is_named_with_the_header(void **state) {
  (void)state;
  expect_error(small_csv, (char *[]){"data.csv", "--label", "y", "--score", "s9", NULL},
               (const char *[]){"'s9'", "id, y, s1", NULL});
  expect_error(small_csv, (char *[]){"data.csv", "--label", "label", "--score", "s1", NULL},
               (const char *[]){"'label'", "id, y, s1", NULL});
}

static void nan_score_names_the_file_line(void **state) {
  (void)state;
  /* The header is line 1, so the fourth data row is line 5. */
  expect_error("id,y,s1\na,0,0.1\nb,1,0.9\nc,0,0.3\nd,1,NaN\ne,1,0.4\n",
               (char *[]){"data.csv", "--label", "y", "--score", "s1", NULL},
               (const char *[]){"data.csv:5:", "'s1'", "NaN", NULL});
}

static void label_not_zero_or_one_names_row_and_column(void **state) {
  (void)state;
  expect_error("id,y,s1\na,0,0.1\nb,2,0.9\nc,0,0.3\nd,1,0.7\n",
               (char *[]){"data.csv", "--label", "y", "--score", "s1", NULL},
               (const char *[]){"data.csv:3:", "'y'", "'2'", NULL});
}

static void single_class_is_an_error(void **state) {
  (void)state;
  expect_error("y,s1\n0,0.1\n0,0.9\n0,0.3\n", (char *[]){"data.csv", "--label", "y", "--score", "s1", NULL},
               (const char *[]){"negative", "positives and negatives", NULL});
}

static void missing_file_is_an_error(void **state) {
  (void)state;
  expect_error(NULL, (char *[]){"nothere.csv", "--label", "y", "--score", "s1", NULL},
               (const char *[]){"nothere.csv", NULL});
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(text_output_shows_the_auc),
      cmocka_unit_test(json_numbers_equal_the_library_exactly),
      cmocka_unit_test(two_scores_give_the_paired_section),
      cmocka_unit_test(method_selects_the_sections),
      cmocka_unit_test(missing_column_is_named_with_the_header),
      cmocka_unit_test(nan_score_names_the_file_line),
      cmocka_unit_test(label_not_zero_or_one_names_row_and_column),
      cmocka_unit_test(single_class_is_an_error),
      cmocka_unit_test(missing_file_is_an_error),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

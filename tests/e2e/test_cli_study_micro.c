/* End to end through the real program at micro scale: configs/micro.yaml (the demo's study
 * with a few steps of every stage, on the shipped models/tiny-sd) runs data, textual inversion
 * of both classes, generation, the three classifier arms and the statistics for both swept
 * vector counts; every stage completes with plausible numbers, a second run does nothing, and
 * `harness report` renders the run with every figure and link in place; `harness regress`
 * passes a re-run of the same commit and flags an injected regression. */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "harness/runner/index.h"
#include "harness/store/store.h"
#include "harness/util/csv.h"
#include "html_links.h"
#include "test_main.h"

static const char *const arms[] = {"real", "real_synthetic", "synthetic"};

static cli_result run_micro(const char *results, const char *extra) {
  char *config = fs_join(MDH_SOURCE_DIR, "configs/micro.yaml");
  char *args[] = {"run", config, "--results", (char *)results, "--threads", "2", "--quiet", (char *)extra, NULL};
  cli_result r = cli_run(MDH_SOURCE_DIR, args);
  free(config);
  return r;
}

static store_reader *open_stage(const char *results, const char *id) {
  char *dir = fs_join(results, "stages"), *sd = fs_join(dir, id), *h5 = fs_join(sd, "stage.h5");
  herr e = {{0}};
  store_reader *r = store_open(h5, &e);
  if (!r) fprintf(stderr, "%s: %s\n", h5, e.msg);
  free(dir);
  free(sd);
  free(h5);
  return r;
}

static double metric(store_reader *r, const char *name) {
  double v = NAN;
  herr e = {{0}};
  if (store_get_metric(r, name, &v, &e)) fprintf(stderr, "%s: %s\n", store_stage_id(r), e.msg);
  return v;
}

/* Checks what one stage must show, by kind, and counts it (data, embed, generate, classify, evaluate). */
static void check_stage(store_reader *r, size_t counts[5]) {
  const char *kind = store_kind(r), *variant = store_variant(r);
  if (!strcmp(kind, "data")) {
    counts[0]++;
    assert_true(metric(r, "n_ok") == 48);
    assert_true(metric(r, "test/pos") + metric(r, "test/neg") == 20);
  } else if (!strcmp(kind, "embed")) {
    counts[1]++;
    assert_true(!strcmp(variant, "neg") || !strcmp(variant, "pos"));
    double v = metric(r, "vectors");
    assert_true(v == 1 || v == 4);
    assert_true(metric(r, "steps") == 4);
    assert_true(isfinite(metric(r, "final_loss")));
  } else if (!strcmp(kind, "generate")) {
    counts[2]++;
    assert_true(metric(r, "n_images") == 4);
  } else if (!strcmp(kind, "classify")) {
    counts[3]++;
    double auc = metric(r, "test_auc");
    assert_true(auc >= 0 && auc <= 1);
    assert_true(metric(r, "n_test") == 20);
  } else if (!strcmp(kind, "evaluate")) {
    counts[4]++;
    for (size_t a = 0; a < 3; a++) {
      char name[64];
      snprintf(name, sizeof name, "%s/auc_mean", arms[a]);
      double m = metric(r, name);
      assert_true(m >= 0 && m <= 1);
      snprintf(name, sizeof name, "%s/auc_sd", arms[a]);
      assert_true(isfinite(metric(r, name)));
    }
    herr e = {{0}};
    char *summary = store_get_artifact(r, "summary_md", &e);
    assert_non_null(summary);
    free(summary);
  } else {
    fail_msg("unexpected stage kind %s", kind);
  }
}

/* Counts the non-empty files in dir whose names end in ext. */
static size_t count_files(const char *dir, const char *ext) {
  DIR *d = opendir(dir);
  size_t n = 0, el = strlen(ext);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l <= el || strcmp(de->d_name + l - el, ext)) continue;
    char *p = fs_join(dir, de->d_name);
    struct stat sb;
    if (!stat(p, &sb) && sb.st_size > 0) n++;
    free(p);
  }
  if (d) closedir(d);
  return n;
}

static void check_report(const char *results, const char *report) {
  cli_result r = cli_run(MDH_SOURCE_DIR, (char *[]){"report", (char *)results, "--out", (char *)report, NULL});
  if (r.status) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  char *figures = fs_join(report, "figures"), *images = fs_join(report, "images"), *tables = fs_join(report, "tables");
  /* the sweep over vectors, and per point ROC, embedding loss, classifier loss and val AUC */
  size_t svg = count_files(figures, ".svg");
  assert_true(svg >= 9);
  assert_int_equal(count_files(figures, ".gp"), svg);
  assert_int_equal(count_files(images, ".png"), 4); /* one grid per generate stage */
  assert_true(count_files(tables, ".csv") >= 4);
  char *index = fs_join(report, "index.html"), *html = fs_read_file(index, NULL, NULL);
  assert_non_null(html);
  assert_true(check_html_links(report, html) >= svg + 4);
  char *md_path = fs_join(report, "report.md"), *md = fs_read_file(md_path, NULL, NULL);
  assert_non_null(md);
  assert_non_null(strstr(md, "diffusion.embed.train.vectors"));
  free(md);
  free(md_path);
  free(html);
  free(index);
  free(figures);
  free(images);
  free(tables);
}

static void micro_study_runs_every_stage_then_nothing_and_reports(void **state) {
  (void)state;
  char *dir = make_tmp_dir(), *results = fs_join(dir, "micro");
  cli_result r = run_micro(results, NULL);
  if (r.status) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "21 stages: 21 ran"));
  cli_result_free(&r);

  herr e = {{0}};
  index_data *ix = index_read(results, &e);
  assert_non_null(ix);
  assert_int_equal(ix->npoints, 2);
  assert_int_equal(ix->nstages, 21);
  size_t counts[5] = {0};
  for (size_t i = 0; i < ix->nstages; i++) {
    store_reader *s = open_stage(results, ix->stage_ids[i]);
    assert_non_null(s);
    check_stage(s, counts);
    store_reader_close(s);
  }
  /* 1 data, 2 x 2 embeddings, 2 x 2 image sets, the real arm's 2 runs shared by both points
   * plus 2 x 2 arms x 2 runs, one evaluate per point. */
  size_t want[5] = {1, 4, 4, 10, 2};
  for (size_t k = 0; k < 5; k++) assert_int_equal(counts[k], want[k]);
  for (size_t p = 0; p < ix->npoints; p++)
    assert_non_null(strstr(ix->point_assignments[p], "\"diffusion.embed.train.vectors\""));
  index_free(ix);

  r = run_micro(results, NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "0 ran, 21 already complete"));
  cli_result_free(&r);

  char *report = fs_join(dir, "report");
  check_report(results, report);
  free(report);

  fs_remove_tree(dir, NULL);
  free(results);
  free(dir);
}

/* Injects a regression by making the baseline better: every classify stage's test predictions
 * in the slim copy become perfect (score = label), so the current run's AUC is far below it.
 * (The micro classifier scores near chance on 20 cases: no real change could drop it
 * significantly.) Returns how many prediction files it rewrote. */
static size_t make_baseline_perfect(const char *baseline) {
  char *stages = fs_join(baseline, "stages");
  DIR *d = opendir(stages);
  assert_non_null(d);
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, "classify-", 9)) continue;
    char *sd = fs_join(stages, de->d_name), *path = fs_join(sd, "artifacts/test_predictions.csv");
    herr e = {{0}};
    csv_table *t = csv_read(path, &e);
    assert_non_null(t);
    long ci = csv_column(t, "case_id"), li = csv_column(t, "label");
    assert_true(ci >= 0 && li >= 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("case_id,label,score\n", f);
    for (size_t r = 0; r < t->nrows; r++)
      fprintf(f, "%s,%s,%s\n", csv_cell(t, r, (size_t)ci), csv_cell(t, r, (size_t)li), csv_cell(t, r, (size_t)li));
    fclose(f);
    csv_free(t);
    free(path);
    free(sd);
    n++;
  }
  closedir(d);
  free(stages);
  return n;
}

static void regress_passes_a_rerun_and_flags_an_injected_regression(void **state) {
  (void)state;
  char *dir = make_tmp_dir(), *a = fs_join(dir, "a"), *b = fs_join(dir, "b"), *slim = fs_join(dir, "baseline");
  cli_result r = run_micro(a, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  r = run_micro(b, NULL);
  assert_int_equal(r.status, 0);
  cli_result_free(&r);

  r = cli_run(MDH_SOURCE_DIR, (char *[]){"regress", "--baseline", a, "--current", b, NULL});
  if (r.status) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, " 0 REGRESSION"));
  cli_result_free(&r);

  r = cli_run(MDH_SOURCE_DIR, (char *[]){"baseline", a, "--out", slim, NULL});
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  assert_int_equal(make_baseline_perfect(slim), 10);
  r = cli_run(MDH_SOURCE_DIR, (char *[]){"regress", "--baseline", slim, "--current", b, NULL});
  if (r.status != 1) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
  assert_int_equal(r.status, 1);
  assert_null(strstr(r.out, " 0 REGRESSION"));
  cli_result_free(&r);

  /* a results folder against nothing cannot be compared */
  r = cli_run(MDH_SOURCE_DIR, (char *[]){"regress", "--baseline", dir, "--current", b, NULL});
  assert_int_equal(r.status, 3);
  cli_result_free(&r);

  fs_remove_tree(dir, NULL);
  free(a);
  free(b);
  free(slim);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(micro_study_runs_every_stage_then_nothing_and_reports),
      cmocka_unit_test(regress_passes_a_rerun_and_flags_an_injected_regression),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

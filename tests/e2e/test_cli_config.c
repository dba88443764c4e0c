/* End to end through the real program: `validate` points at the right file, line, column and
 * key; `plan` lists sweep points and each shared stage once; `run-stage` runs one stage from
 * its identity; `info` proves the C-to-libtorch path; results carry their provenance. */
#include "cli_util.h"
#include "harness/runner/stage_dir.h"
#include "harness/store/store.h"
#include "test_main.h"

static cli_result validate(const char *dir, const char *yaml, char *const *extra) {
  write_text(dir, "bad.yaml", yaml);
  char *args[16] = {"validate", "bad.yaml"};
  int n = 2;
  for (int i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
  args[n] = NULL;
  return cli_run(dir, args);
}

static void validate_points_at_line_column_and_key(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = validate(dir,
                          "name: bad\n"
                          "stages: [toy_eval]\n"
                          "toy:\n"
                          "  fit:\n"
                          "    lrr: 0.1\n"
                          "    steps: many\n"
                          "    lr: -1\n",
                          NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:5:5: toy.fit.lrr: unknown key 'lrr'; did you mean 'lr'?"));
  assert_non_null(strstr(r.err, "bad.yaml:6:12: toy.fit.steps: expected an integer, got 'many'"));
  assert_non_null(strstr(r.err, "bad.yaml:7:9: toy.fit.lr: expected a number > 0"));
  assert_non_null(strstr(r.err, "3 problems in the configuration"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void validate_points_at_the_bad_sweep_value(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = validate(dir,
                          "name: bad\n"
                          "stages: [toy_eval]\n"
                          "sweep:\n"
                          "  grid:\n"
                          "    toy.fit.batch: [4, 0]\n",
                          NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:5:24: toy.fit.batch: expected an integer >= 1"));
  cli_result_free(&r);
  r = validate(dir,
               "name: bad\n"
               "stages: [toy_eval]\n"
               "sweep:\n"
               "  zip:\n"
               "    toy.fit.lr: [0.1, 0.2]\n"
               "    toy.fit.steps: [10, 20, 30]\n",
               NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:6:20: sweep.zip: 'toy.fit.steps' has 3 values, but 'toy.fit.lr' has 2"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void validate_reports_syntax_parts_environment_and_overrides(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = validate(dir, "name: x\nstages: [toy_eval\ntoy: {}\n", NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:3:4: YAML syntax error"));
  cli_result_free(&r);
  r = validate(dir, "name: x\nstages: [toy_eval]\ndefaults:\n  - toy: nothere\n", NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:4:10: defaults: cannot find part 'toy/nothere'"));
  cli_result_free(&r);
  unsetenv("MDH_TEST_UNSET_DIR");
  r = validate(dir, "name: x\nstages: [toy_eval]\nresults_dir: ${MDH_TEST_UNSET_DIR}/r\n", NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:3:14: environment variable MDH_TEST_UNSET_DIR is not set"));
  cli_result_free(&r);
  r = validate(dir, "name: x\nstages: [toy_eval]\n", (char *[]){"toy.fit.models=[linear, cubic]", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "<command line> argument 3: toy.fit.models.1: expected one of 'constant', 'linear', "
                                "'quadratic', got 'cubic'"));
  cli_result_free(&r);
  r = validate(dir, "name: x\nstages: [toy_evl]\n", NULL);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "bad.yaml:2:10: stages.0"));
  assert_non_null(strstr(r.err, "did you mean 'toy_eval'"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void validate_accepts_the_shipped_configs(void **state) {
  const char *configs[] = {"configs/demo.yaml", "configs/micro.yaml", "configs/nightly.yaml", "configs/toy_sweep.yaml", NULL};
  for (int i = 0; configs[i]; i++) {
    cli_result r = cli_run(MDH_SOURCE_DIR, (char *[]){"validate", (char *)configs[i], NULL});
    if (r.status) fprintf(stderr, "%s", r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "valid"));
    cli_result_free(&r);
  }
}

static void plan_lists_80_points_and_each_shared_stage_once(void **state) {
  char *dir = make_tmp_dir();
  char *results = fs_join(dir, "r");
  cli_result r = cli_run(MDH_SOURCE_DIR, (char *[]){"plan", "configs/toy_sweep.yaml", "--results", results, NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "toy_sweep: 80 points, 340 unique stages"));
  assert_non_null(strstr(r.out, "toy_data 20 (used 80 times)"));
  assert_non_null(strstr(r.out, "340 stages: 0 complete, 340 pending"));
  /* point lines: 80 of them, the last one the last grid cell and seed */
  assert_non_null(strstr(r.out, "     79  pending              5  toy.data.noise=0.4 toy.fit.lr=0.3 seed=4\n"));
  /* every stage line appears exactly once */
  size_t data_lines = 0;
  for (const char *p = r.out; (p = strstr(p, "  pending    toy_data-")); p++) data_lines++;
  assert_int_equal(data_lines, 20);
  /* plan writes nothing without --write */
  assert_false(fs_exists(results));
  cli_result_free(&r);
  free(results);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static char *first_stage_id(const char *plan_out, const char *kind) {
  const char *p = strstr(plan_out, kind);
  assert_non_null(p);
  size_t n = strcspn(p, " \n");
  return strndup(p, n);
}

static void run_stage_runs_one_stage_from_its_identity(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", "name: one\nstages: [toy_eval]\nresults_dir: out\ntoy: {fit: {models: [linear], steps: 50}}\n");
  cli_result r = cli_run(dir, (char *[]){"plan", "c.yaml", "--write", "--stages-only", NULL});
  assert_int_equal(r.status, 0);
  char *data = first_stage_id(r.out, "toy_data-"), *fit = first_stage_id(r.out, "toy_fit-"),
       *eval = first_stage_id(r.out, "toy_eval-");
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run-stage", "out", fit, NULL});
  assert_int_equal(r.status, 3);
  assert_non_null(strstr(r.err, "which is not complete"));
  cli_result_free(&r);
  char *ids[] = {data, fit, eval};
  for (int i = 0; i < 3; i++) {
    r = cli_run(dir, (char *[]){"run-stage", "out", ids[i], "--quiet", NULL});
    assert_int_equal(r.status, 0);
    cli_result_free(&r);
  }
  r = cli_run(dir, (char *[]){"status", "out", NULL});
  assert_non_null(strstr(r.out, "0  complete"));
  assert_non_null(strstr(r.out, "3 stages: 3 complete"));
  cli_result_free(&r);
  /* the same results as a plain run: nothing left to do */
  r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "0 ran, 3 already complete"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run-stage", "out", "toy_fit-0123456789abcdef", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "spec.yaml"));
  cli_result_free(&r);
  free(data), free(fit), free(eval);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void stage_results_record_config_and_provenance(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", "name: prov\nstages: [toy_fit]\nresults_dir: out\nseed: 3\ntoy: {fit: {models: [linear], steps: 20}}\n");
  cli_result r = cli_run(dir, (char *[]){"run", "c.yaml", "--threads", "1", "--device", "cpu", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"plan", "c.yaml", "--stages-only", NULL});
  char *fit = first_stage_id(r.out, "toy_fit-");
  cli_result_free(&r);
  char *out = fs_join(dir, "out");
  char *h5 = stage_file_path(out, fit, "stage.h5");
  herr e = {{0}};
  store_reader *s = store_open(h5, &e);
  assert_non_null(s);
  assert_string_equal(store_kind(s), "toy_fit");
  assert_string_equal(store_variant(s), "linear");
  char *cfg = store_get_config(s, &e);
  assert_non_null(strstr(cfg, "point_seed: 3"));
  assert_non_null(strstr(cfg, "steps: 20"));
  free(cfg);
  char *threads = store_get_provenance(s, "threads", &e), *device = store_get_provenance(s, "device", &e);
  char *end = store_get_provenance(s, "end_time", &e), *lt = store_get_provenance(s, "libtorch_version", &e);
  assert_string_equal(threads, "1");
  assert_string_equal(device, "cpu");
  assert_int_equal(strlen(end), 20);
  assert_true(lt[0] >= '0' && lt[0] <= '9');
  double *rows;
  size_t nrows, ncols;
  char **cols;
  assert_int_equal(store_get_series(s, "loss", &rows, &nrows, &cols, &ncols, &e), 0);
  assert_int_equal(nrows, 20);
  assert_string_equal(cols[1], "loss");
  assert_true(rows[19 * 2] == 20.0);
  for (size_t i = 0; i < ncols; i++) free(cols[i]);
  free(cols), free(rows), free(threads), free(device), free(end), free(lt);
  store_reader_close(s);
  free(h5), free(out), free(fit);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void info_shows_libtorch_and_a_passing_cpu_self_test(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = cli_run(dir, (char *[]){"info", "--threads", "1", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "libtorch  "));
  assert_non_null(strstr(r.out, "threads   1\n"));
  assert_non_null(strstr(r.out, "device    cpu "));
  assert_non_null(strstr(r.out, "(ok)"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void unknown_commands_and_options_are_usage_errors(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = cli_run(dir, (char *[]){"frobnicate", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "unknown command 'frobnicate'"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run", "x.yaml", "--bogus", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "unknown option '--bogus'"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run", "--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "usage: harness run CONFIG"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run", "missing.yaml", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "missing.yaml"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(validate_points_at_line_column_and_key),
      cmocka_unit_test(validate_points_at_the_bad_sweep_value),
      cmocka_unit_test(validate_reports_syntax_parts_environment_and_overrides),
      cmocka_unit_test(validate_accepts_the_shipped_configs),
      cmocka_unit_test(plan_lists_80_points_and_each_shared_stage_once),
      cmocka_unit_test(run_stage_runs_one_stage_from_its_identity),
      cmocka_unit_test(stage_results_record_config_and_provenance),
      cmocka_unit_test(info_shows_libtorch_and_a_passing_cpu_self_test),
      cmocka_unit_test(unknown_commands_and_options_are_usage_errors),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

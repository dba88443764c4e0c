/* End to end through the real program: kill -9 at random moments then resume gives results
 * identical to an uninterrupted run; two concurrent runs share the work without running any
 * stage twice; Ctrl-C stops cleanly; failures are recorded and --keep-going goes on. */
#include <dirent.h>
#include <math.h>
#include <time.h>

#include "cli_util.h"
#include "harness/runner/stage_dir.h"
#include "harness/store/store.h"
#include "test_main.h"

/* 4 points (2 noise levels x 2 seeds) -> 4 data, 12 fits, 4 evals. */
static const char sweep_yaml[] =
    "name: resume\n"
    "stages: [toy_eval]\n"
    "results_dir: out\n"
    "toy:\n"
    "  data: {n_train: 100, n_test: 100, curvature: 1.0}\n"
    "  fit: {models: [constant, linear, quadratic], steps: 300, lr: 0.1}\n"
    "sweep:\n"
    "  grid: {toy.data.noise: [0.1, 0.3]}\n"
    "  seeds: 2\n";

static char **list_stage_ids(const char *results, size_t *n) {
  char *dir = fs_join(results, "stages");
  DIR *d = opendir(dir);
  free(dir);
  char **ids = NULL;
  *n = 0;
  if (!d) return NULL;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    ids = realloc(ids, (*n + 1) * sizeof *ids);
    ids[(*n)++] = strdup(de->d_name);
  }
  closedir(d);
  return ids;
}

static void free_ids(char **ids, size_t n) {
  for (size_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
}

/* Every stage.h5 that exists must open as complete: nothing half-written may look done. */
static size_t check_no_false_completion(const char *results) {
  size_t n, complete = 0;
  char **ids = list_stage_ids(results, &n);
  for (size_t i = 0; i < n; i++) {
    if (!stage_dir_complete(results, ids[i])) continue;
    char *p = stage_file_path(results, ids[i], "stage.h5");
    herr e = {{0}};
    store_reader *r = store_open(p, &e);
    if (!r) fprintf(stderr, "false completion: %s\n", e.msg);
    assert_non_null(r);
    store_reader_close(r);
    free(p);
    complete++;
  }
  free_ids(ids, n);
  return complete;
}

static void assert_same_array(store_reader *a, store_reader *b, const char *name) {
  double *x = NULL, *y = NULL;
  size_t nx, ny, dx[8], dy[8];
  herr e = {{0}};
  assert_int_equal(store_get_array_f64(a, name, &x, &nx, dx, &e), 0);
  assert_int_equal(store_get_array_f64(b, name, &y, &ny, dy, &e), 0);
  assert_int_equal(nx, ny);
  assert_int_equal(dx[0], dy[0]);
  assert_memory_equal(x, y, dx[0] * sizeof *x);
  free(x);
  free(y);
}

/* Bitwise comparison of every metric, the loss series and the arrays of two runs. */
static void assert_same_results(const char *ra, const char *rb) {
  size_t na, nb;
  char **ids = list_stage_ids(ra, &na);
  char **ids_b = list_stage_ids(rb, &nb);
  assert_int_equal(na, nb);
  assert_int_equal(na, 20);
  for (size_t i = 0; i < na; i++) {
    char *pa = stage_file_path(ra, ids[i], "stage.h5"), *pb = stage_file_path(rb, ids[i], "stage.h5");
    herr e = {{0}};
    store_reader *a = store_open(pa, &e), *b = store_open(pb, &e);
    assert_non_null(a);
    assert_non_null(b);
    char **ma, **mb;
    size_t nma, nmb;
    assert_int_equal(store_list_metrics(a, &ma, &nma, &e), 0);
    assert_int_equal(store_list_metrics(b, &mb, &nmb, &e), 0);
    assert_int_equal(nma, nmb);
    for (size_t k = 0; k < nma; k++) {
      assert_string_equal(ma[k], mb[k]);
      double va, vb;
      assert_int_equal(store_get_metric(a, ma[k], &va, &e), 0);
      assert_int_equal(store_get_metric(b, mb[k], &vb, &e), 0);
      assert_memory_equal(&va, &vb, sizeof va);
      free(ma[k]);
      free(mb[k]);
    }
    free(ma);
    free(mb);
    if (!strncmp(ids[i], "toy_fit-", 8)) {
      double *rows_a, *rows_b;
      size_t nra, nrb, nca, ncb;
      char **ca, **cb;
      assert_int_equal(store_get_series(a, "loss", &rows_a, &nra, &ca, &nca, &e), 0);
      assert_int_equal(store_get_series(b, "loss", &rows_b, &nrb, &cb, &ncb, &e), 0);
      assert_int_equal(nra, 300);
      assert_int_equal(nra, nrb);
      assert_memory_equal(rows_a, rows_b, nra * nca * sizeof *rows_a);
      for (size_t k = 0; k < nca; k++) free(ca[k]), free(cb[k]);
      free(ca), free(cb), free(rows_a), free(rows_b);
      assert_same_array(a, b, "params");
    } else if (!strncmp(ids[i], "toy_data-", 9)) {
      assert_same_array(a, b, "x_train");
      assert_same_array(a, b, "y_test");
    } else {
      char *sa = store_get_metric_str(a, "best_model", &e), *sb = store_get_metric_str(b, "best_model", &e);
      assert_string_equal(sa, sb);
      free(sa), free(sb);
    }
    store_reader_close(a);
    store_reader_close(b);
    free(pa), free(pb);
  }
  free_ids(ids, na);
  free_ids(ids_b, nb);
}

static void kill9_at_random_moments_then_resume_matches_uninterrupted_run(void **state) {
  char *ref = make_tmp_dir(), *dir = make_tmp_dir();
  write_text(ref, "c.yaml", sweep_yaml);
  write_text(dir, "c.yaml", sweep_yaml);
  cli_result r = cli_run(ref, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  char *ref_out = fs_join(ref, "out"), *out = fs_join(dir, "out");

  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  srand(seed);
  fprintf(stderr, "kill schedule seed %u\n", seed);
  /* The slowed-down run (a runtime key: same stages, same results) takes a few seconds; kill
   * it at random moments, checking after each kill that nothing incomplete looks complete. */
  int kills = 0;
  for (int attempt = 0; attempt < 12; attempt++) {
    char *o = fs_join(dir, ".stdout"), *e = fs_join(dir, ".stderr");
    pid_t pid = cli_spawn(dir, o, e, (char *[]){"run", "c.yaml", "toy.fit.step_delay_ms=1", "--quiet", NULL});
    long ms = 30 + rand() % 900;
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
    int killed = kill(pid, SIGKILL) == 0;
    int status = cli_wait(pid);
    free(o), free(e);
    check_no_false_completion(out);
    if (status == 0) break; /* it finished before the kill landed */
    assert_int_equal(status, 128 + SIGKILL);
    kills += killed;
  }
  fprintf(stderr, "killed %d times\n", kills);
  assert_true(kills >= 1);
  r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  assert_int_equal(check_no_false_completion(out), 20);
  assert_same_results(ref_out, out);
  /* no attempt folders survive a completed run */
  size_t n;
  char **ids = list_stage_ids(out, &n);
  for (size_t i = 0; i < n; i++) {
    char *sd = stage_dir_path(out, ids[i]);
    DIR *d = opendir(sd);
    struct dirent *de;
    while ((de = readdir(d))) assert_true(strncmp(de->d_name, "work.", 5) != 0);
    closedir(d);
    free(sd);
  }
  free_ids(ids, n);
  free(ref_out), free(out);
  fs_remove_tree(ref, NULL), fs_remove_tree(dir, NULL);
  free(ref), free(dir);
}

static void two_concurrent_runs_share_stages_without_duplicates(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", sweep_yaml);
  char *o1 = fs_join(dir, "o1"), *e1 = fs_join(dir, "e1"), *o2 = fs_join(dir, "o2"), *e2 = fs_join(dir, "e2");
  char *args[] = {"run", "c.yaml", "toy.fit.step_delay_ms=1", "--quiet", NULL};
  pid_t a = cli_spawn(dir, o1, e1, args);
  pid_t b = cli_spawn(dir, o2, e2, args);
  assert_int_equal(cli_wait(a), 0);
  assert_int_equal(cli_wait(b), 0);
  char *events_path = fs_join(dir, "out/events.log");
  char *events = fs_read_file(events_path, NULL, NULL);
  assert_non_null(events);
  size_t n;
  char **ids = list_stage_ids(dir, &n);
  free_ids(ids, n);
  char *out = fs_join(dir, "out");
  ids = list_stage_ids(out, &n);
  assert_int_equal(n, 20);
  for (size_t i = 0; i < n; i++) {
    int starts = 0, completes = 0;
    char needle[160];
    snprintf(needle, sizeof needle, " start %s", ids[i]);
    for (const char *p = events; (p = strstr(p, needle)); p++) starts++;
    snprintf(needle, sizeof needle, " complete %s", ids[i]);
    for (const char *p = events; (p = strstr(p, needle)); p++) completes++;
    assert_int_equal(starts, 1);
    assert_int_equal(completes, 1);
  }
  /* both processes did some of the work */
  char *s1 = fs_read_file(e1, NULL, NULL), *s2 = fs_read_file(e2, NULL, NULL);
  assert_non_null(s1);
  assert_non_null(s2);
  free(s1), free(s2);
  free_ids(ids, n);
  free(out), free(events), free(events_path), free(o1), free(e1), free(o2), free(e2);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void ctrl_c_stops_cleanly_and_the_next_run_resumes(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", sweep_yaml);
  char *o = fs_join(dir, ".stdout"), *e = fs_join(dir, ".stderr");
  pid_t pid = cli_spawn(dir, o, e, (char *[]){"run", "c.yaml", "toy.fit.step_delay_ms=2", NULL});
  /* Interrupt once stages are running (on a loaded machine start-up alone can take seconds). */
  char *events_path = fs_join(dir, "out/events.log");
  for (int i = 0; i < 600; i++) {
    char *events = fs_read_file(events_path, NULL, NULL);
    bool started = events && strstr(events, " start ");
    free(events);
    if (started) break;
    nanosleep(&(struct timespec){0, 50000000L}, NULL);
  }
  free(events_path);
  nanosleep(&(struct timespec){0, 300000000L}, NULL);
  kill(pid, SIGINT);
  assert_int_equal(cli_wait(pid), 130);
  char *err = fs_read_file(e, NULL, NULL);
  assert_non_null(strstr(err, "not run"));
  free(err);
  /* an interrupted stage is pending, not failed */
  char *out = fs_join(dir, "out");
  size_t n;
  char **ids = list_stage_ids(out, &n);
  for (size_t i = 0; i < n; i++) assert_true(stage_dir_state(out, ids[i]) != STAGE_FAILED);
  free_ids(ids, n);
  cli_result r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "already complete"));
  cli_result_free(&r);
  free(out), free(o), free(e);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void failed_stage_is_recorded_shown_and_retried(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "c.yaml", sweep_yaml);
  cli_result r = cli_run(dir, (char *[]){"run", "c.yaml", "toy.fit.fail_model=linear", "--quiet", NULL});
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "injected failure for model 'linear'"));
  assert_non_null(strstr(r.err, "1 failed"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"status", "out", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "error: toy_fit: injected failure"));
  /* only what lies downstream of the failure is blocked (that point's eval), not its siblings */
  assert_non_null(strstr(r.out, "1 failed, 1 blocked"));
  cli_result_free(&r);
  /* --keep-going: all four linear fits fail, their evals are blocked, everything else runs */
  r = cli_run(dir, (char *[]){"run", "c.yaml", "toy.fit.fail_model=linear", "--keep-going", "--quiet", NULL});
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "4 failed, 4 blocked by a failure"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"status", "out", "--stages-only", NULL});
  assert_non_null(strstr(r.out, "12 complete, 0 pending, 0 running, 4 failed, 4 blocked"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"run", "c.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.err, "8 ran, 12 already complete"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kill9_at_random_moments_then_resume_matches_uninterrupted_run),
      cmocka_unit_test(two_concurrent_runs_share_stages_without_duplicates),
      cmocka_unit_test(ctrl_c_stops_cleanly_and_the_next_run_resumes),
      cmocka_unit_test(failed_stage_is_recorded_shown_and_retried),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

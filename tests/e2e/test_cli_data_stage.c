/* End to end through the real program: the data stage renders a phantom set or takes a
 * prepared one, assigns the stratified splits, records the counts as metrics, is shared by
 * every seed of a sweep, and fails with a readable message when the splits cannot be met. */
#include <dirent.h>

#include "cli_util.h"
#include "harness/data/dataset.h"
#include "harness/runner/stage_dir.h"
#include "harness/store/store.h"
#include "test_main.h"

/* The ids of the stages under RESULTS/stages whose id starts with `prefix`; returns the count
 * and the first in *id (caller frees). */
static size_t find_stages(const char *results, const char *prefix, char **id) {
  char *dir = fs_join(results, "stages");
  DIR *d = opendir(dir);
  free(dir);
  size_t n = 0;
  *id = NULL;
  if (!d) return 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, prefix, strlen(prefix))) continue;
    if (!n) *id = strdup(de->d_name);
    n++;
  }
  closedir(d);
  return n;
}

static double metric(store_reader *r, const char *name) {
  double v = -1;
  herr e = {{0}};
  if (store_get_metric(r, name, &v, &e)) fail_msg("%s", e.msg);
  return v;
}

static void check_split_metrics(const char *results, const char *id) {
  char *h5 = stage_file_path(results, id, "stage.h5");
  herr e = {{0}};
  store_reader *r = store_open(h5, &e);
  if (!r) fail_msg("%s", e.msg);
  assert_int_equal((int)metric(r, "n_cases"), 40);
  assert_int_equal((int)metric(r, "pool/pos"), 20);
  assert_int_equal((int)metric(r, "train/pos"), 5);
  assert_int_equal((int)metric(r, "train/neg"), 5);
  assert_int_equal((int)metric(r, "val/pos"), 4);
  assert_int_equal((int)metric(r, "test/neg"), 4);
  assert_int_equal((int)metric(r, "embed/pos"), 3);
  assert_int_equal((int)metric(r, "embed/neg"), 3);
  char *art = store_get_artifact(r, "manifest", &e);
  assert_string_equal(art, "artifacts/manifest.csv");
  free(art);
  store_reader_close(r);
  free(h5);
}

static const char phantom_yaml[] =
    "name: data\n"
    "stages: [data]\n"
    "results_dir: out\n"
    "data:\n"
    "  phantom: {n: 40, size: 32}\n"
    "  split: {embed_per_class: 3, train: 10, val: 8, test: 8}\n"
    "  split_seed: 5\n"
    "sweep:\n"
    "  seeds: 2\n";

static void phantom_data_stage_assigns_splits_once_for_all_seeds(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "data.yaml", phantom_yaml);
  cli_result r = cli_run(dir, (char *[]){"run", "data.yaml", "--quiet", NULL});
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  cli_result_free(&r);
  char *results = fs_join(dir, "out"), *id;
  assert_int_equal(find_stages(results, "data-", &id), 1); /* unseeded: both seeds share it */
  check_split_metrics(results, id);
  char *sd = stage_dir_path(results, id), *art = fs_join(sd, "artifacts");
  herr e = {{0}};
  ds_manifest m;
  assert_int_equal(ds_manifest_read(art, &m, &e), 0);
  size_t train = 0, embed = 0;
  for (size_t i = 0; i < m.n; i++) {
    const ds_case *c = &m.cases[i];
    train += !strcmp(c->split, "train");
    if (c->embed) {
      embed++;
      assert_string_equal(c->split, "train"); /* embed_overlap_train defaults to true */
    }
    assert_true(c->image[0] != '/'); /* relative to artifacts/, which moved into place */
    char *p = ds_case_path(&m, c->image);
    assert_true(fs_exists(p));
    free(p);
  }
  assert_int_equal(train, 10);
  assert_int_equal(embed, 6);
  ds_manifest_free(&m);
  free(art);
  free(sd);
  free(id);
  free(results);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void prepared_data_stage_points_at_the_original_images(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = cli_run(dir, (char *[]){"prepare", "phantom", "--n", "40", "--seed", "0", "--out", "set", "--size",
                                         "32", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  cli_result_free(&r);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "name: prep\n"
           "stages: [data]\n"
           "results_dir: out\n"
           "data:\n"
           "  source: prepared\n"
           "  dir: %s/set\n"
           "  split: {embed_per_class: 3, train: 10, val: 8, test: 8}\n"
           "  split_seed: 5\n",
           dir);
  write_text(dir, "prep.yaml", yaml);
  r = cli_run(dir, (char *[]){"run", "prep.yaml", "--quiet", NULL});
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  cli_result_free(&r);
  char *results = fs_join(dir, "out"), *id;
  assert_int_equal(find_stages(results, "data-", &id), 1);
  check_split_metrics(results, id);
  char *sd = stage_dir_path(results, id), *art = fs_join(sd, "artifacts");
  char *copied = fs_join(art, "images");
  assert_false(fs_exists(copied)); /* images are not copied */
  free(copied);
  herr e = {{0}};
  ds_manifest m;
  assert_int_equal(ds_manifest_read(art, &m, &e), 0);
  char want[1024];
  snprintf(want, sizeof want, "%s/set/images/", dir);
  assert_int_equal(strncmp(m.cases[0].image, want, strlen(want)), 0);
  assert_true(fs_exists(m.cases[0].image));
  /* The same split as the phantom source with the same seed: the draw depends on the ids only. */
  size_t *idx, n;
  assert_int_equal(ds_select(&m, "embed", 1, &idx, &n, &e), 0);
  assert_int_equal(n, 3);
  free(idx);
  char *kind, *params;
  assert_int_equal(ds_read_info(art, &kind, &params, &e), 0);
  assert_string_equal(kind, "phantom");
  assert_non_null(strstr(params, "\"prepared_from\":"));
  free(kind);
  free(params);
  ds_manifest_free(&m);
  free(art);
  free(sd);
  free(id);
  free(results);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void data_stage_failures_say_what_is_missing(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "few.yaml",
             "name: few\n"
             "stages: [data]\n"
             "results_dir: out\n"
             "data:\n"
             "  phantom: {n: 12, size: 16}\n"
             "  split: {embed_per_class: 1, train: 10, val: 8, test: 8}\n");
  cli_result r = cli_run(dir, (char *[]){"run", "few.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 1);
  if (!strstr(r.err, "need 26 ok cases with a known label, but only 12 are available"))
    fail_msg("stderr: %s", r.err);
  cli_result_free(&r);
  write_text(dir, "missing.yaml",
             "name: missing\n"
             "stages: [data]\n"
             "results_dir: out2\n"
             "data: {source: prepared, dir: /nonexistent/set}\n");
  /* Caught by the preflight check: nothing runs, the message says how to make the set. */
  r = cli_run(dir, (char *[]){"run", "missing.yaml", "--quiet", NULL});
  assert_int_equal(r.status, 2);
  if (!strstr(r.err, "data.dir: no prepared dataset at '/nonexistent/set'")) fail_msg("stderr: %s", r.err);
  cli_result_free(&r);
  write_text(dir, "typo.yaml",
             "name: typo\n"
             "stages: [data]\n"
             "data: {phantom: {lesion_radius: 0.2}}\n");
  r = cli_run(dir, (char *[]){"validate", "typo.yaml", NULL});
  assert_int_equal(r.status, 2);
  if (!strstr(r.err, "typo.yaml:3:18: data.phantom.lesion_radius: unknown key 'lesion_radius'; did you mean 'lesion_radius_min'?"))
    fail_msg("stderr: %s", r.err);
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(phantom_data_stage_assigns_splits_once_for_all_seeds),
      cmocka_unit_test(prepared_data_stage_points_at_the_original_images),
      cmocka_unit_test(data_stage_failures_say_what_is_missing),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

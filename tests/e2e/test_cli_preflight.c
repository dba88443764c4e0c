/* A run whose model folder, prepared dataset or embedding files are missing stops before doing
 * any work, naming each missing input and how to provide it. */
#include "cli_util.h"
#include "test_main.h"

static void missing_inputs_stop_the_run_before_any_work(void **state) {
  char *dir = make_tmp_dir();
  write_text(dir, "miss.yaml",
             "name: miss\n"
             "stages: [generate]\n"
             "results_dir: out\n"
             "data: {source: prepared, dir: /nonexistent/picai}\n"
             "diffusion:\n"
             "  model: {dir: /nonexistent/sd2}\n");
  write_text(dir, "files.yaml",
             "name: files\n"
             "stages: [embed]\n"
             "results_dir: out\n"
             "diffusion:\n"
             "  model: {dir: /nonexistent/sd2}\n"
             "  embed: {source: file, files: {neg: /nonexistent/neg.pt, pos: ''}}\n");
  cli_result r = cli_run(dir, (char *[]){"run", "miss.yaml", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "nothing was run"));
  assert_non_null(strstr(r.err, "data.dir: no prepared dataset at '/nonexistent/picai'"));
  assert_non_null(strstr(r.err, "harness prepare picai"));
  assert_non_null(strstr(r.err, "diffusion.model.dir: no Stable Diffusion model at '/nonexistent/sd2'"));
  cli_result_free(&r);
  char *out = fs_join(dir, "out/stages");
  assert_false(fs_exists(out)); /* no stage folder was even created */
  r = cli_run(dir, (char *[]){"run", "files.yaml", NULL});
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "diffusion.embed.files.neg: embedding file '/nonexistent/neg.pt' not found"));
  assert_non_null(strstr(r.err, "diffusion.embed.files.pos: embedding file '' not found"));
  cli_result_free(&r);
  free(out);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(missing_inputs_stop_the_run_before_any_work),
};
MDH_TEST_MAIN(tests)

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

/* The paper's configs are valid and plan the study's graph; run, they stop at the missing inputs. */
static void paper_configs_validate_and_name_their_inputs(void **state) {
  const char *const configs[] = {"configs/vector_sweep.yaml", "configs/paper_table.yaml",
                                 "configs/released_embeddings.yaml"};
  const char *const want[] = {"48 points, 662 unique stages", "2 points, 31 unique stages",
                              "1 point, 21 unique stages"};
  for (int i = 0; i < 3; i++) {
    cli_result r = cli_run(MDH_SOURCE_DIR, (char *[]){"validate", (char *)configs[i], NULL});
    if (r.status != 0 || !strstr(r.out, want[i])) fail_msg("%s: %d\n%s%s", configs[i], r.status, r.out, r.err);
    cli_result_free(&r);
  }
  char *dir = make_tmp_dir();
  char *cfg = fs_join(MDH_SOURCE_DIR, "configs/paper_table.yaml"), *res = fs_join(dir, "res");
  setenv("SD_MODEL_DIR", "/nonexistent/sd2-base", 1);
  cli_result r = cli_run(dir, (char *[]){"run", cfg, "--results", res, NULL});
  unsetenv("SD_MODEL_DIR");
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "'/nonexistent/sd2-base'"));
  assert_non_null(strstr(r.err, "PICAI_DIR"));
  cli_result_free(&r);
  free(cfg);
  free(res);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(paper_configs_validate_and_name_their_inputs),
    cmocka_unit_test(missing_inputs_stop_the_run_before_any_work),
};
MDH_TEST_MAIN(tests)

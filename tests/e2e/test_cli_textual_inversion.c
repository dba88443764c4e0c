/* End to end through the real program on the golden tiny SD2 pipeline: `harness
 * train-embedding` writes both embedding formats, the loss curve and checkpoints, refuses to
 * overwrite a run without --resume, and its embedding drives `harness generate`; a config runs
 * data -> embed (neg, pos) -> generate, and a killed embed stage resumes from its checkpoint. */
#include <dirent.h>

#include "cli_util.h"
#include "golden.h"
#include "harness/data/dataset.h"
#include "harness/model/embedding_file.h"
#include "harness/store/store.h"
#include "test_main.h"

static void expect_status(const cli_result *r, int want) {
  if (r->status != want) fail_msg("exit %d (wanted %d)\nstdout:\n%s\nstderr:\n%s", r->status, want, r->out, r->err);
}

static void exists(const char *dir, const char *rel) {
  char *p = fs_join(dir, rel);
  if (!fs_exists(p)) fail_msg("%s missing", p);
  free(p);
}

static void train_embedding_cli(void **state) {
  char *model = golden_path_or_skip("pipeline_sd2");
  if (!model) return;
  char *dir = make_tmp_dir();
  cli_result r = cli_run(dir, (char *[]){"prepare", "phantom", "--n", "4", "--seed", "1", "--size", "32", "--out",
                                         "set", NULL});
  expect_status(&r, 0);
  cli_result_free(&r);
  char *args[] = {"train-embedding", "--model", model, "--images", "set/images", "--token", "<ph>", "--vectors", "2",
                  "--steps", "3", "--checkpoint-every", "2", "--threads", "2", "--device", "cpu", "--out", "run",
                  "--quiet", NULL};
  r = cli_run(dir, args);
  expect_status(&r, 0);
  cli_result_free(&r);
  exists(dir, "run/<ph>.pt");
  exists(dir, "run/learned_embeds.safetensors");
  exists(dir, "run/checkpoints/ti-state.safetensors");
  exists(dir, "run/checkpoints/embeddings/<ph>-2.pt");
  /* 3 steps: header + 3 rows. */
  char *csv_path = fs_join(dir, "run/losses.csv");
  herr e = {{0}};
  size_t len;
  char *csv = fs_read_file(csv_path, &len, &e);
  assert_non_null(csv);
  int lines = 0;
  for (size_t i = 0; i < len; i++) lines += csv[i] == '\n';
  assert_int_equal(lines, 4);
  free(csv);
  free(csv_path);
  /* The A1111 file holds 2 vectors of the model's width, step 3. */
  char *pt = fs_join(dir, "run/<ph>.pt");
  emb_file f;
  assert_int_equal(emb_read(pt, &f, &e), 0);
  assert_int_equal(f.items[0].n_vectors, 2);
  assert_int_equal(f.items[0].dim, 32);
  assert_int_equal(f.step, 3);
  assert_string_equal(f.name, "<ph>");
  emb_file_free(&f);
  /* Again into the same folder: refused without --resume; with it, nothing left to do. */
  r = cli_run(dir, args);
  expect_status(&r, 3);
  assert_non_null(strstr(r.err, "--resume"));
  cli_result_free(&r);
  /* The embedding drives generate; a multi-vector token expands. */
  r = cli_run(dir, (char *[]){"generate", "--model", model, "--embedding", pt, "--prompt", "a <ph>", "--steps", "2",
                              "--out", "gen", "--quiet", NULL});
  expect_status(&r, 0);
  cli_result_free(&r);
  exists(dir, "gen/00000.png");
  /* Usage errors name the option. */
  r = cli_run(dir, (char *[]){"train-embedding", "--model", model, "--images", "set/images", "--out", "x", NULL});
  expect_status(&r, 2);
  assert_non_null(strstr(r.err, "--token"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"train-embedding", "--model", model, "--images", "nowhere", "--token", "<a>", "--out",
                              "x", "--quiet", NULL});
  expect_status(&r, 2);
  assert_non_null(strstr(r.err, "nowhere"));
  cli_result_free(&r);
  free(pt);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(model);
}

static const char study_yaml_fmt[] =
    "name: ti\n"
    "stages: [generate]\n"
    "results_dir: out\n"
    "data:\n"
    "  phantom: {n: 24, size: 32}\n"
    "  split: {embed_per_class: 3, train: 6, val: 4, test: 4}\n"
    "diffusion:\n"
    "  model: {dir: '%s'}\n"
    "  embed:\n"
    "    train: {cases: 3, vectors: 2, steps: %d, flip: 0.5}\n"
    "    checkpoint_every: 2\n"
    "  generate: {n_per_class: 3, steps: 2, batch: 2}\n";

static size_t count_pngs(const char *dir) {
  DIR *d = opendir(dir);
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir(d))) n += strstr(de->d_name, ".png") != NULL;
  if (d) closedir(d);
  return n;
}

/* The directory of the completed stage of `kind` whose variant is `variant`. */
static char *find_stage(const char *results, const char *kind, const char *variant) {
  char *dir = fs_join(results, "stages");
  DIR *d = opendir(dir);
  char *found = NULL;
  struct dirent *de;
  size_t kn = strlen(kind);
  while (d && (de = readdir(d)) && !found) {
    if (strncmp(de->d_name, kind, kn) || de->d_name[kn] != '-') continue;
    char *sd = fs_join(dir, de->d_name), *h5 = fs_join(sd, "stage.h5");
    herr e = {{0}};
    store_reader *r = store_open(h5, &e);
    if (r && !strcmp(store_variant(r), variant)) found = sd;
    else free(sd);
    if (r) store_reader_close(r);
    free(h5);
  }
  if (d) closedir(d);
  free(dir);
  return found;
}

static void study_config_runs_embed_and_generate(void **state) {
  char *model = golden_path_or_skip("pipeline_sd2");
  if (!model) return;
  char *dir = make_tmp_dir();
  char yaml[2048];
  snprintf(yaml, sizeof yaml, study_yaml_fmt, model, 4);
  write_text(dir, "ti.yaml", yaml);
  cli_result r = cli_run(dir, (char *[]){"run", "ti.yaml", "--threads", "2", "--quiet", NULL});
  expect_status(&r, 0);
  cli_result_free(&r);
  char *results = fs_join(dir, "out");
  char *emb_pos = find_stage(results, "embed", "pos"), *gen_neg = find_stage(results, "generate", "neg");
  if (!emb_pos || !gen_neg) fail_msg("stages missing under %s", results);
  exists(emb_pos, "artifacts/embedding.pt");
  exists(emb_pos, "artifacts/learned_embeds.safetensors");
  /* The resume folder is gone once the stage completed. */
  char *resume = fs_join(emb_pos, "resume");
  assert_false(fs_exists(resume));
  free(resume);
  /* Loss series of 4 steps in the embed stage's HDF5. */
  char *h5 = fs_join(emb_pos, "stage.h5");
  herr e = {{0}};
  store_reader *sr = store_open(h5, &e);
  if (!sr) fail_msg("%s", e.msg);
  double *rows = NULL;
  size_t nrows = 0, ncols = 0;
  char **cols = NULL;
  if (store_get_series(sr, "loss", &rows, &nrows, &cols, &ncols, &e)) fail_msg("%s", e.msg);
  assert_int_equal(nrows, 4);
  assert_int_equal(ncols, 3);
  for (size_t i = 0; i < ncols; i++) free(cols[i]);
  free(cols);
  free(rows);
  double v;
  assert_int_equal(store_get_metric(sr, "vectors", &v, &e), 0);
  assert_int_equal((int)v, 2);
  store_reader_close(sr);
  free(h5);
  /* Generated images form a dataset of the class, all in the train split. */
  char *art = fs_join(gen_neg, "artifacts");
  ds_manifest m;
  if (ds_manifest_read(art, &m, &e)) fail_msg("%s", e.msg);
  assert_int_equal(m.n, 3);
  for (size_t i = 0; i < m.n; i++) {
    assert_int_equal(m.cases[i].label, 0);
    assert_string_equal(m.cases[i].split, "train");
  }
  ds_manifest_free(&m);
  char *imgs = fs_join(art, "images");
  assert_int_equal(count_pngs(imgs), 3);
  free(imgs);
  free(art);
  free(emb_pos);
  free(gen_neg);
  free(results);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(model);
}

static const char resume_yaml_fmt[] =
    "name: ti\n"
    "stages: [embed]\n"
    "results_dir: %s\n"
    "data:\n"
    "  phantom: {n: 24, size: 32}\n"
    "  split: {embed_per_class: 3, train: 6, val: 4, test: 4}\n"
    "diffusion:\n"
    "  model: {dir: '%s'}\n"
    "  embed:\n"
    "    train: {cases: 3, vectors: 2, steps: 8, batch_size: 2}\n"
    "    checkpoint_every: 2\n";

static emb_file read_embedding(const char *results, const char *variant) {
  char *sd = find_stage(results, "embed", variant);
  if (!sd) fail_msg("no completed embed stage '%s' under %s", variant, results);
  char *pt = fs_join(sd, "artifacts/embedding.pt");
  emb_file f;
  herr e = {{0}};
  if (emb_read(pt, &f, &e)) fail_msg("%s", e.msg);
  free(pt);
  free(sd);
  return f;
}

/* Killed (SIGKILL) once a checkpoint exists, run again: the stage resumes from the checkpoint
 * and ends with exactly the embedding of a run that was never interrupted. */
static void killed_embed_stage_resumes_bit_identical(void **state) {
  char *model = golden_path_or_skip("pipeline_sd2");
  if (!model) return;
  char *dir = make_tmp_dir();
  char yaml[2048];
  snprintf(yaml, sizeof yaml, resume_yaml_fmt, "whole", model);
  write_text(dir, "whole.yaml", yaml);
  snprintf(yaml, sizeof yaml, resume_yaml_fmt, "killed", model);
  write_text(dir, "killed.yaml", yaml);
  cli_result r = cli_run(dir, (char *[]){"run", "whole.yaml", "--threads", "2", "--quiet", NULL});
  expect_status(&r, 0);
  cli_result_free(&r);
  char *out = fs_join(dir, "k.out"), *err = fs_join(dir, "k.err"), *stages = fs_join(dir, "killed/stages");
  pid_t pid = cli_spawn(dir, out, err, (char *[]){"run", "killed.yaml", "--threads", "2", "--quiet", NULL});
  /* Wait for the first class's state file, then kill without warning. */
  bool seen = false;
  for (int i = 0; i < 6000 && !seen; i++) {
    DIR *d = opendir(stages);
    struct dirent *de;
    while (d && (de = readdir(d)) && !seen) {
      char rel[512];
      snprintf(rel, sizeof rel, "%s/%s/resume/ti-state.safetensors", stages, de->d_name);
      seen = fs_exists(rel);
    }
    if (d) closedir(d);
    if (!seen) usleep(10000);
  }
  kill(pid, SIGKILL);
  cli_wait(pid);
  assert_true(seen);
  r = cli_run(dir, (char *[]){"run", "killed.yaml", "--threads", "2", "--quiet", NULL});
  expect_status(&r, 0);
  cli_result_free(&r);
  char *whole = fs_join(dir, "whole"), *killed = fs_join(dir, "killed");
  double resumed = 0;
  for (int v = 0; v < 2; v++) {
    const char *variant = v ? "pos" : "neg";
    emb_file a = read_embedding(whole, variant), b = read_embedding(killed, variant);
    assert_int_equal(a.items[0].n_vectors * a.items[0].dim, b.items[0].n_vectors * b.items[0].dim);
    assert_memory_equal(a.items[0].data, b.items[0].data, (size_t)(a.items[0].n_vectors * a.items[0].dim) * sizeof(float));
    emb_file_free(&a);
    emb_file_free(&b);
    char *sd = find_stage(killed, "embed", variant), *h5 = fs_join(sd, "stage.h5");
    herr e = {{0}};
    store_reader *sr = store_open(h5, &e);
    double x = 0;
    if (!sr || store_get_metric(sr, "resumed_from_step", &x, &e)) fail_msg("%s", e.msg);
    resumed += x;
    store_reader_close(sr);
    free(h5);
    free(sd);
  }
  assert_true(resumed >= 2); /* at least one class continued from a checkpoint */
  free(whole);
  free(killed);
  free(out);
  free(err);
  free(stages);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(model);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(train_embedding_cli),
    cmocka_unit_test(study_config_runs_embed_and_generate),
    cmocka_unit_test(killed_embed_stage_resumes_bit_identical),
};
MDH_TEST_MAIN(tests)

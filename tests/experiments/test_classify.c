/* The classify and evaluate stages through the runner on phantom data: a short training learns
 * (test AUC well above chance) and `harness predict` reproduces its test scores from the
 * written checkpoint; a diverging loss stops with the step named; the evaluate stage's mean ±
 * sd and paired differences equal a hand computation from the classify stages' predictions,
 * with synthetic images mixed in from a stand-in generate stage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e/cli_util.h"
#include "experiments/classify_schema.h"
#include "harness/data/dataset.h"
#include "harness/data/phantom.h"
#include "harness/runner/runner.h"
#include "harness/store/store.h"
#include "harness/util/csv.h"
#include "mdh_shim.h"
#include "test_main.h"

extern const stage_kind data_stage;
extern const stage_kind classify_stage;
extern const stage_kind evaluate_stage;

/* Stand-in for the generate stage: phantom images of the variant's class (10 per class, 32 px),
 * in the generate stage's dataset layout (every case split "train"). */
static int fake_generate_run(stage_ctx *ctx, herr *e) {
  const char *art = stage_artifact_dir(ctx);
  int label = !strcmp(stage_variant(ctx), "pos");
  phantom_params p;
  phantom_params_default(&p);
  p.size = 32;
  p.positive_fraction = label;
  if (phantom_write_dataset(art, &p, 10, 1000 + (uint64_t)label, NULL, e)) return -1;
  ds_manifest m;
  if (ds_manifest_read(art, &m, e)) return -1;
  for (size_t i = 0; i < m.n; i++) snprintf(m.cases[i].split, sizeof m.cases[i].split, "train");
  int rc = ds_manifest_write(&m, e);
  ds_manifest_free(&m);
  return rc;
}

static int fake_generate_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  *out = calloc(3, sizeof **out);
  (*out)[0] = strdup("neg");
  (*out)[1] = strdup("pos");
  *n = 2;
  return 0;
}

static const stage_kind fake_generate = {.name = "generate", .version = 1, .summary = "test stand-in",
                                         .variants = fake_generate_variants, .run = fake_generate_run};
static const stage_kind *const kinds[] = {&data_stage, &classify_stage, &evaluate_stage, &fake_generate, NULL};

/* An easy phantom (large, conspicuous lesions, no mimics) so that a few dozen steps learn it. */
#define EASY_LESIONS                                                                                       \
  "lesion_radius_min: 0.5, lesion_radius_max: 0.7, lesion_t2w_min: 0.5, lesion_t2w_max: 0.7,\n"          \
  "            lesion_adc_min: 0.5, lesion_adc_max: 0.7, lesion_hbv_min: 2, lesion_hbv_max: 3, mimic_mean: 0}\n"
#define EASY_DATA                                                                                          \
  "data:\n"                                                                                                \
  "  phantom: {n: 120, size: 64, " EASY_LESIONS "  split: {embed_per_class: 0, train: 60, val: 30, test: 30}\n"
/* Fewer, smaller cases for the tests that check plumbing rather than learning. */
#define SMALL_DATA                                                                                         \
  "data:\n"                                                                                                \
  "  phantom: {n: 56, size: 32, " EASY_LESIONS "  split: {embed_per_class: 0, train: 20, val: 16, test: 20}\n"

typedef struct run_out {
  char *dir;
  plan *p;
  int rc;
} run_out;

static run_out run_yaml(const char *yaml) {
  herr e = {{0}};
  cfg_node *root = cfg_parse_string(yaml, "test.yaml", &e);
  if (!root) fail_msg("%s", e.msg);
  sch_report rep = {0};
  run_out r = {0};
  if (plan_build(root, kinds, &r.p, &rep, &e)) {
    for (size_t i = 0; i < rep.len; i++) fprintf(stderr, "%s\n", rep.msgs[i]);
    fail_msg("plan: %s", e.msg);
  }
  sch_report_free(&rep);
  cfg_free(root);
  char tmpl[] = "/tmp/mdh-classify-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  r.dir = strdup(tmpl);
  assert_int_equal(runner_prepare(r.p, r.dir, &e), 0);
  runner_opts o = {.threads = 1, .device = "cpu", .libtorch_version = shim_libtorch_version()};
  runner_summary sum;
  r.rc = runner_run(r.p, r.dir, kinds, &o, &sum, &e);
  return r;
}

static void run_out_free(run_out *r) {
  fs_remove_tree(r->dir, NULL);
  free(r->dir);
  plan_free(r->p);
}

static const char *stage_of(const run_out *r, const char *kind, const char *variant) {
  for (size_t i = 0; i < r->p->nstages; i++)
    if (!strcmp(r->p->stages[i].kind->name, kind) && !strcmp(r->p->stages[i].variant, variant))
      return r->p->stages[i].id;
  fail_msg("no %s stage %s", kind, variant);
  return NULL;
}

static double metric(const run_out *r, const char *id, const char *name) {
  char *path = stage_file_path(r->dir, id, "stage.h5");
  herr e = {{0}};
  store_reader *s = store_open(path, &e);
  if (!s) fail_msg("%s", e.msg);
  double v = NAN;
  if (store_get_metric(s, name, &v, &e)) fail_msg("%s: %s", name, e.msg);
  store_reader_close(s);
  free(path);
  return v;
}

static char *artifact(const run_out *r, const char *id, const char *name) {
  char *sd = stage_dir_path(r->dir, id), *a = fs_join(sd, "artifacts"), *p = fs_join(a, name);
  free(sd);
  free(a);
  return p;
}

/* Mann-Whitney AUC by the definition (all pairs, ties ½), independent of analysis/. */
static double pair_auc(const double *s, const int *y, size_t n) {
  double num = 0, pairs = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      if (y[i] == 1 && y[j] == 0) num += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0, pairs++;
  return num / pairs;
}

static double predictions_auc(const run_out *r, const char *id, size_t *n_out) {
  char *p = artifact(r, id, "test_predictions.csv");
  herr e = {{0}};
  csv_table *t = csv_read(p, &e);
  if (!t) fail_msg("%s", e.msg);
  double *s = malloc(t->nrows * sizeof *s);
  int *y = malloc(t->nrows * sizeof *y);
  for (size_t i = 0; i < t->nrows; i++) {
    y[i] = atoi(csv_cell(t, i, (size_t)csv_column(t, "label")));
    s[i] = strtod(csv_cell(t, i, (size_t)csv_column(t, "score")), NULL);
  }
  double auc = pair_auc(s, y, t->nrows);
  *n_out = t->nrows;
  free(s);
  free(y);
  csv_free(t);
  free(p);
  return auc;
}

static void short_training_learns_and_predict_reproduces_its_scores(void **state) {
  run_out r = run_yaml("name: t\nstages: [classify]\n" EASY_DATA
                       "classify:\n"
                       "  arms: {real: {real: 60}}\n"
                       "  runs: 1\n"
                       "  input_size: 32\n"
                       "  batch: 16\n"
                       "  steps: 30\n"
                       "  val_every: 10\n"
                       "  lr: 1e-3\n"
                       "  augment: {enabled: false}\n");
  assert_int_equal(r.rc, 0);
  const char *id = stage_of(&r, "classify", "real-r0");
  double auc = metric(&r, id, "test_auc");
  size_t n;
  double hand = predictions_auc(&r, id, &n);
  assert_int_equal(n, 30);
  assert_true(fabs(auc - hand) < 1e-12);
  if (!(auc > 0.8)) fail_msg("test AUC %.3f is not well above 0.5", auc);
  double best = metric(&r, id, "best_val_auc"), step = metric(&r, id, "best_step");
  assert_true(best > 0.5 && best <= 1);
  assert_true(step == 10 || step == 20 || step == 30);
  assert_int_equal((int)metric(&r, id, "n_real"), 60);
  assert_int_equal((int)metric(&r, id, "n_synthetic"), 0);
  assert_true(metric(&r, id, "images_per_second") > 0);

  /* predict with the checkpoint on the data set's manifest: the test cases get the stage's scores. */
  char *ckpt = artifact(&r, id, "best.safetensors");
  char *manifest = artifact(&r, stage_of(&r, "data", ""), "manifest.csv");
  char *out = fs_join(r.dir, "scores.csv");
  cli_result cr = cli_run(r.dir, (char *[]){"predict", "--classifier", ckpt, "--images", manifest, "--out", out,
                                            "--threads", "1", "--device", "cpu", NULL});
  if (cr.status != 0) fail_msg("predict exit %d: %s", cr.status, cr.err);
  cli_result_free(&cr);
  herr e = {{0}};
  csv_table *got = csv_read(out, &e), *want = NULL;
  char *preds = artifact(&r, id, "test_predictions.csv");
  want = csv_read(preds, &e);
  assert_non_null(got);
  assert_non_null(want);
  assert_int_equal(got->nrows, 120);
  assert_string_equal(got->header[0], "path");
  assert_string_equal(got->header[1], "score");
  size_t matched = 0;
  for (size_t i = 0; i < want->nrows; i++)
    for (size_t j = 0; j < got->nrows; j++)
      if (!strcmp(csv_cell(want, i, 0), csv_cell(got, j, 2))) {
        double a = strtod(csv_cell(want, i, 2), NULL), b = strtod(csv_cell(got, j, 1), NULL);
        if (fabs(a - b) > 1e-5) fail_msg("%s: predict %.8f, stage %.8f", csv_cell(want, i, 0), b, a);
        matched++;
      }
  assert_int_equal(matched, 30);
  csv_free(got);
  csv_free(want);

  /* A directory of PNGs: one row per image, path first. */
  char *images = artifact(&r, stage_of(&r, "data", ""), "images");
  cr = cli_run(r.dir, (char *[]){"predict", "--classifier", ckpt, "--images", images, "--out", out, "--threads", "1",
                                 "--device", "cpu", "--batch", "7", NULL});
  if (cr.status != 0) fail_msg("predict exit %d: %s", cr.status, cr.err);
  cli_result_free(&cr);
  got = csv_read(out, &e);
  assert_non_null(got);
  assert_int_equal(got->ncols, 2);
  assert_int_equal(got->nrows, 120);
  assert_non_null(strstr(csv_cell(got, 0, 0), "images/phantom-000000.png"));
  csv_free(got);
  cr = cli_run(r.dir, (char *[]){"predict", "--classifier", ckpt, "--out", out, NULL});
  assert_int_equal(cr.status, 2);
  assert_non_null(strstr(cr.err, "--images"));
  cli_result_free(&cr);
  free(images);
  free(preds);
  free(out);
  free(manifest);
  free(ckpt);
  run_out_free(&r);
}

static void diverging_loss_stops_naming_the_step(void **state) {
  run_out r = run_yaml("name: t\nstages: [classify]\n" SMALL_DATA
                       "classify:\n"
                       "  arms: {real: {real: 20}}\n"
                       "  runs: 1\n"
                       "  input_size: 32\n"
                       "  batch: 8\n"
                       "  steps: 30\n"
                       "  optimizer: sgd\n"
                       "  lr: 1e30\n"
                       "  augment: {enabled: false}\n");
  assert_int_equal(r.rc, 1);
  char *msg = stage_dir_failure(r.dir, stage_of(&r, "classify", "real-r0"));
  assert_non_null(msg);
  if (!strstr(msg, "training loss became") || !strstr(msg, "at step")) fail_msg("message: %s", msg);
  free(msg);
  run_out_free(&r);
}

static void evaluate_aggregates_the_runs_of_every_arm(void **state) {
  run_out r = run_yaml("name: t\nstages: [evaluate]\n" SMALL_DATA
                       "classify:\n"
                       "  arms: {real: {real: 20}, mixed: {real: 10, synthetic: 10}}\n"
                       "  runs: 2\n"
                       "  input_size: 32\n"
                       "  batch: 8\n"
                       "  steps: 2\n"
                       "  val_every: 2\n"
                       "  lr: 1e-3\n"
                       "evaluate: {bootstrap: 200}\n");
  assert_int_equal(r.rc, 0);
  const char *ev = stage_of(&r, "evaluate", "");
  static const char *const arms[] = {"real", "mixed"};
  double auc[2][2];
  for (int a = 0; a < 2; a++) {
    for (int k = 0; k < 2; k++) {
      char v[32];
      classify_variant_name(arms[a], k, v, sizeof v);
      size_t n;
      auc[a][k] = predictions_auc(&r, stage_of(&r, "classify", v), &n);
      assert_int_equal(n, 20);
      char name[64];
      snprintf(name, sizeof name, "%s/r%d/auc", arms[a], k);
      assert_true(fabs(metric(&r, ev, name) - auc[a][k]) < 1e-12);
      snprintf(name, sizeof name, "%s/r%d/delong_lo", arms[a], k);
      double lo = metric(&r, ev, name);
      snprintf(name, sizeof name, "%s/r%d/boot_hi", arms[a], k);
      double hi = metric(&r, ev, name);
      assert_true(lo <= auc[a][k] && auc[a][k] <= hi);
    }
    double mean = (auc[a][0] + auc[a][1]) / 2, sd = fabs(auc[a][0] - auc[a][1]) / sqrt(2.0);
    char name[64];
    snprintf(name, sizeof name, "%s/auc_mean", arms[a]);
    assert_true(fabs(metric(&r, ev, name) - mean) < 1e-12);
    snprintf(name, sizeof name, "%s/auc_sd", arms[a]);
    assert_true(fabs(metric(&r, ev, name) - sd) < 1e-12);
  }
  assert_int_equal((int)metric(&r, ev, "mixed/n_synthetic"), 10);
  assert_int_equal((int)metric(&r, ev, "mixed/n_real"), 10);
  assert_int_equal((int)metric(&r, stage_of(&r, "classify", "mixed-r1"), "n_synthetic"), 10);
  double diff = ((auc[0][0] - auc[1][0]) + (auc[0][1] - auc[1][1])) / 2;
  assert_true(fabs(metric(&r, ev, "compare/real_vs_mixed/diff_mean") - diff) < 1e-12);
  char *md_path = artifact(&r, ev, "summary.md");
  char *md = fs_read_file(md_path, NULL, NULL);
  assert_non_null(md);
  assert_non_null(strstr(md, "| real | 20 | 0 | "));
  assert_non_null(strstr(md, "| mixed | 10 | 10 | "));
  assert_non_null(strstr(md, "95% CI DeLong"));
  free(md);
  free(md_path);
  char *csv_path = artifact(&r, ev, "summary.csv");
  herr e = {{0}};
  csv_table *t = csv_read(csv_path, &e);
  assert_non_null(t);
  assert_int_equal(t->nrows, 2);
  assert_string_equal(csv_cell(t, 1, 0), "mixed");
  csv_free(t);
  free(csv_path);
  run_out_free(&r);
}

static void variant_names_round_trip_and_bad_ones_are_named(void **state) {
  char v[64], arm[CLASSIFY_ARM_NAME_MAX];
  long long run = -1;
  herr e = {{0}};
  classify_variant_name("real_synthetic", 3, v, sizeof v);
  assert_string_equal(v, "real_synthetic-r3");
  assert_int_equal(classify_variant_parse(v, arm, &run, &e), 0);
  assert_string_equal(arm, "real_synthetic");
  assert_int_equal(run, 3);
  assert_int_equal(classify_variant_parse("real", arm, &run, &e), -1);
  assert_non_null(strstr(e.msg, "<arm>-r<run>"));
  assert_int_equal(classify_variant_parse("real-rx", arm, &run, &e), -1);
  /* The defaults are the paper's three arms, five runs. */
  cfg_node *empty = cfg_new_map((cfg_loc){cfg_intern("t"), 0, 0});
  classify_arm *arms;
  size_t n;
  assert_int_equal(classify_read_arms(empty, &arms, &n, &run, &e), 0);
  assert_int_equal(n, 3);
  assert_int_equal(run, 5);
  assert_string_equal(arms[1].name, "real_synthetic");
  assert_int_equal(arms[1].real, 200);
  assert_int_equal(arms[1].synthetic, 2000);
  free(arms);
  cfg_free(empty);
  cfg_node *bad = cfg_parse_string("classify: {runs: 1, arms: {'a-b': {real: 1}}}\n", "bad.yaml", &e);
  assert_int_equal(classify_read_arms(bad, &arms, &n, &run, &e), -1);
  assert_non_null(strstr(e.msg, "'a-b'"));
  cfg_free(bad);
}

int main(int argc, char **argv) {
  shim_err err;
  int threads;
  /* One thread: on shared cores an OpenMP pool spins at its barriers whenever a peer is descheduled. */
  shim_runtime_init(&(shim_runtime_opts){.threads = 1}, &threads, &err);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(short_training_learns_and_predict_reproduces_its_scores),
      cmocka_unit_test(diverging_loss_stops_naming_the_step),
      cmocka_unit_test(evaluate_aggregates_the_runs_of_every_arm),
      cmocka_unit_test(variant_names_round_trip_and_bad_ones_are_named),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

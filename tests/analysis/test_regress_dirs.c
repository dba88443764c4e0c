/* `harness regress` and `harness baseline` on results directories written by the real runner
 * with two small fake stage kinds named like the study's (classify: test predictions of
 * simulated scores, evaluate: the per-run AUC metrics the real evaluate stage writes): a re-run
 * passes, an injected drop fails, missing or unrelated directories cannot be compared, and the
 * baseline copy is accepted while leaving the checkpoints out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "analysis/regress/regress.h"
#include "harness/runner/index.h"
#include "harness/runner/runner.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"
#include "harness/util/strbuf.h"
#include "e2e/cli_util.h"
#include "test_main.h"

/* ---- fake kinds ---- */
static const sch_node t_arm = {.type = SCH_STR, .doc = "an arm"};
static const sch_node t_fields[] = {
    {.key = "arms", .type = SCH_SEQ, .doc = "arms", .def = "[real, synthetic]", .item = &t_arm, .min_items = 1},
    {.key = "runs", .type = SCH_INT, .doc = "runs per arm", .def = "2"},
    {.key = "n_test", .type = SCH_INT, .doc = "test cases", .def = "300"},
    {.key = "separation", .type = SCH_FLOAT, .doc = "score shift of the positives", .def = "1.5"},
    {.key = "worse_arm", .type = SCH_STR, .doc = "arm whose separation is `worse`", .def = "''"},
    {.key = "worse", .type = SCH_FLOAT, .doc = "its separation", .def = "0.5"},
    {.key = "id_prefix", .type = SCH_STR, .doc = "test case ids", .def = "case-"},
    {.key = NULL},
};
static const sch_node t_schema = {.type = SCH_MAP, .doc = "fake study", .fields = t_fields};

static int classify_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  const cfg_node *arms = cfg_get(point, "t.arms");
  long long runs;
  if (cfg_int_at(point, "t.runs", &runs, e)) return -1;
  *out = calloc(arms->len * (size_t)runs + 1, sizeof **out);
  *n = 0;
  for (size_t a = 0; a < arms->len; a++)
    for (long long k = 0; k < runs; k++) {
      char buf[96];
      snprintf(buf, sizeof buf, "%s-r%lld", arms->items[a]->str, k);
      (*out)[(*n)++] = strdup(buf);
    }
  return 0;
}

static int classify_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  long long n;
  double sep, worse;
  const char *worse_arm, *prefix;
  if (cfg_int_at(c, "t.n_test", &n, e) || cfg_double_at(c, "t.separation", &sep, e) ||
      cfg_double_at(c, "t.worse", &worse, e) || cfg_str_at(c, "t.worse_arm", &worse_arm, e) ||
      cfg_str_at(c, "t.id_prefix", &prefix, e))
    return -1;
  const char *variant = stage_variant(ctx);
  size_t al = strcspn(variant, "-");
  if (*worse_arm && strlen(worse_arm) == al && !strncmp(variant, worse_arm, al)) sep = worse;
  rng r;
  rng_seed(&r, (uint64_t)variant[al + 2], 11); /* noise by run number: baseline and current share it */
  strbuf csv = STRBUF_INIT;
  sb_append(&csv, "case_id,label,score\n");
  for (long long i = 0; i < n; i++) sb_appendf(&csv, "%s%04lld,%lld,%.17g\n", prefix, i, i % 2, sep * (double)(i % 2) + rng_normal(&r));
  char *path = fs_join(stage_artifact_dir(ctx), "test_predictions.csv"),
       *ckpt = fs_join(stage_artifact_dir(ctx), "best.safetensors");
  int rc = fs_write_atomic(path, sb_str(&csv), csv.len, e);
  if (!rc) rc = fs_write_atomic(ckpt, "weights", 7, e);
  if (!rc) rc = store_put_artifact(stage_store(ctx), "test_predictions", "artifacts/test_predictions.csv", e);
  if (!rc) rc = store_put_artifact(stage_store(ctx), "best_checkpoint", "artifacts/best.safetensors", e);
  sb_free(&csv);
  free(path);
  free(ckpt);
  return rc;
}

static int evaluate_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  char **vs;
  if (classify_variants(point, &vs, n, e)) return -1;
  *out = calloc(*n + 1, sizeof **out);
  for (size_t i = 0; i < *n; i++) (*out)[i] = (stage_dep){.role = vs[i], .kind = "classify", .variant = vs[i]};
  free(vs);
  return 0;
}

/* The metrics the real evaluate stage writes that regress reads. */
static int evaluate_run(stage_ctx *ctx, herr *e) {
  const cfg_node *arms = cfg_get(stage_config(ctx), "t.arms");
  long long runs;
  if (cfg_int_at(stage_config(ctx), "t.runs", &runs, e)) return -1;
  store_writer *w = stage_store(ctx);
  int rc = 0;
  for (size_t a = 0; a < arms->len && !rc; a++) {
    double aucs[16];
    for (long long k = 0; k < runs && !rc; k++) {
      char role[96], name[160];
      snprintf(role, sizeof role, "%s-r%lld", arms->items[a]->str, k);
      const char *dir = stage_dep_dir(ctx, role, e);
      if (!dir) return -1;
      char *path = fs_join(dir, "artifacts/test_predictions.csv");
      regress_preds p;
      rc = regress_preds_read(path, &p, e);
      free(path);
      if (rc) return -1;
      auc_delong d;
      rc = auc_delong_ci(p.scores, p.labels, p.n, 0.95, &d, e);
      regress_preds_free(&p);
      aucs[k] = d.auc;
      snprintf(name, sizeof name, "%s/r%lld/auc", arms->items[a]->str, k);
      if (!rc) rc = store_put_metric(w, name, d.auc, e);
      snprintf(name, sizeof name, "%s/r%lld/delong_se", arms->items[a]->str, k);
      if (!rc) rc = store_put_metric(w, name, d.se, e);
    }
    double mean, sd;
    auc_mean_sd(aucs, (size_t)runs, &mean, &sd);
    char name[160];
    snprintf(name, sizeof name, "%s/auc_mean", arms->items[a]->str);
    if (!rc) rc = store_put_metric(w, name, mean, e);
    snprintf(name, sizeof name, "%s/auc_sd", arms->items[a]->str);
    if (!rc) rc = store_put_metric(w, name, sd, e);
  }
  char *md = fs_join(stage_artifact_dir(ctx), "summary.md");
  if (!rc) rc = fs_write_atomic(md, "| arm |\n", 8, e);
  if (!rc) rc = store_put_artifact(w, "summary_md", "artifacts/summary.md", e);
  free(md);
  return rc;
}

static const char *const classify_keys[] = {"t.n_test", "t.separation", "t.worse_arm", "t.worse", "t.id_prefix", NULL};
static const char *const evaluate_keys[] = {"t.arms", "t.runs", NULL};
static const stage_kind k_classify = {.name = "classify", .version = 1, .summary = "c", .section = "t",
                                      .schema = &t_schema, .keys = classify_keys, .seeded = true,
                                      .variants = classify_variants, .run = classify_run};
static const stage_kind k_evaluate = {.name = "evaluate", .version = 1, .summary = "e", .section = "t",
                                      .schema = &t_schema, .keys = evaluate_keys, .deps = evaluate_deps,
                                      .run = evaluate_run};
static const stage_kind *const kinds[] = {&k_classify, &k_evaluate, NULL};

/* ---- helpers ---- */
static char *tmp_dir(void) {
  char tmpl[] = "/tmp/mdh-regress-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return strdup(tmpl);
}

/* Runs the fake study with `t_section` (YAML flow map) into parent/name. */
static char *run_study(const char *parent, const char *name, const char *t_section, const char *sweep) {
  strbuf y = STRBUF_INIT;
  sb_appendf(&y, "name: fake\nstages: [evaluate]\nt: %s\nsweep: %s\n", t_section, sweep);
  herr e = {{0}};
  cfg_node *root = cfg_parse_string(sb_str(&y), "test.yaml", &e);
  assert_non_null(root);
  sch_report rep = {0};
  plan *p = NULL;
  int rc = plan_build(root, kinds, &p, &rep, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  char *dir = fs_join(parent, name);
  assert_int_equal(runner_prepare(p, dir, &e), 0);
  runner_opts o = {.threads = 1, .device = "cpu", .libtorch_version = "test"};
  runner_summary sum;
  rc = runner_run(p, dir, kinds, &o, &sum, &e);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  assert_int_equal(rc, 0);
  plan_free(p);
  cfg_free(root);
  sch_report_free(&rep);
  sb_free(&y);
  return dir;
}

static const regress_opts defaults = {.tolerance = REGRESS_DEFAULT_TOLERANCE, .alpha = REGRESS_DEFAULT_ALPHA};

static int regress_cli(const char *b, const char *c, cli_result *out) {
  char *args[] = {"regress", "--baseline", (char *)b, "--current", (char *)c, NULL};
  *out = cli_run(NULL, args);
  return out->status;
}

/* ---- cases ---- */
static void rerun_of_the_same_study_passes(void **state) {
  (void)state;
  char *tmp = tmp_dir();
  char *a = run_study(tmp, "a", "{}", "{seeds: [1, 2]}"), *b = run_study(tmp, "b", "{}", "{seeds: [1, 2]}");
  herr e = {{0}};
  regress_report *r;
  assert_int_equal(regress_compare(a, b, &defaults, &r, &e), 0);
  assert_int_equal(r->npoints, 2);
  assert_int_equal(r->n_ok, 4);
  assert_int_equal(r->n_config_diffs, 0);
  for (size_t i = 0; i < r->npoints; i++)
    for (size_t k = 0; k < r->points[i].narms; k++) {
      assert_true(r->points[i].arms[k].paired);
      assert_true(r->points[i].arms[k].diff == 0);
    }
  assert_int_equal(regress_exit_status(r), REGRESS_EXIT_OK);
  regress_report_free(r);
  cli_result out;
  assert_int_equal(regress_cli(a, b, &out), 0);
  assert_non_null(strstr(out.out, "4 ok, 0 REGRESSION"));
  cli_result_free(&out);
  fs_remove_tree(tmp, NULL);
  free(a);
  free(b);
  free(tmp);
}

static void injected_regression_exits_1(void **state) {
  (void)state;
  char *tmp = tmp_dir();
  char *a = run_study(tmp, "a", "{}", "{seeds: [1]}"),
       *b = run_study(tmp, "b", "{worse_arm: synthetic, worse: 0.6}", "{seeds: [1]}");
  herr e = {{0}};
  regress_report *r;
  assert_int_equal(regress_compare(a, b, &defaults, &r, &e), 0);
  assert_int_equal(r->n_regression, 1);
  assert_int_equal(r->n_ok, 1);
  const regress_arm *syn = &r->points[0].arms[1];
  assert_string_equal(syn->arm, "synthetic");
  assert_int_equal(syn->verdict, REGRESS_REGRESSION);
  assert_true(syn->paired);
  assert_true(r->n_config_diffs >= 1);
  regress_report_free(r);
  cli_result out;
  assert_int_equal(regress_cli(a, b, &out), 1);
  assert_non_null(strstr(out.out, "REGRESSION"));
  assert_non_null(strstr(out.out, "t.worse_arm"));
  cli_result_free(&out);
  /* --json says the same */
  char *args[] = {"regress", "--baseline", a, "--current", b, "--json", NULL};
  out = cli_run(NULL, args);
  assert_int_equal(out.status, 1);
  assert_non_null(strstr(out.out, "\"verdict\":\t\"REGRESSION\""));
  cli_result_free(&out);
  /* a small drop within the tolerance passes */
  char *c = run_study(tmp, "c", "{worse_arm: synthetic, worse: 1.48}", "{seeds: [1]}");
  assert_int_equal(regress_compare(a, c, &defaults, &r, &e), 0);
  assert_int_equal(r->n_regression, 0);
  assert_int_equal(regress_exit_status(r), 0);
  regress_report_free(r);
  fs_remove_tree(tmp, NULL);
  free(a);
  free(b);
  free(c);
  free(tmp);
}

static void other_test_cases_are_compared_unpaired(void **state) {
  (void)state;
  char *tmp = tmp_dir();
  char *a = run_study(tmp, "a", "{}", "{seeds: [1]}"), *b = run_study(tmp, "b", "{id_prefix: other-}", "{seeds: [1]}");
  herr e = {{0}};
  regress_report *r;
  assert_int_equal(regress_compare(a, b, &defaults, &r, &e), 0);
  assert_false(r->points[0].arms[0].paired);
  assert_non_null(strstr(r->points[0].arms[0].note, "test cases differ"));
  assert_int_equal(regress_exit_status(r), 0);
  regress_report_free(r);
  fs_remove_tree(tmp, NULL);
  free(a);
  free(b);
  free(tmp);
}

static void missing_or_unrelated_directories_exit_3(void **state) {
  (void)state;
  char *tmp = tmp_dir();
  char *a = run_study(tmp, "a", "{}", "{seeds: [1]}"), *b = run_study(tmp, "b", "{}", "{seeds: [7]}");
  char *missing = fs_join(tmp, "nothing-here");
  herr e = {{0}};
  regress_report *r;
  assert_int_equal(regress_compare(a, missing, &defaults, &r, &e), -1);
  assert_non_null(strstr(e.msg, "no such directory"));
  assert_int_equal(regress_compare(tmp, a, &defaults, &r, &e), -1);
  assert_non_null(strstr(e.msg, "no sweep index"));
  assert_int_equal(regress_compare(a, b, &defaults, &r, &e), -1);
  assert_non_null(strstr(e.msg, "share no point"));
  cli_result out;
  assert_int_equal(regress_cli(a, missing, &out), 3);
  cli_result_free(&out);
  assert_int_equal(regress_cli(a, b, &out), 3);
  assert_non_null(strstr(out.err, "cannot be compared"));
  cli_result_free(&out);
  char *args[] = {"regress", "--baseline", a, NULL};
  out = cli_run(NULL, args);
  assert_int_equal(out.status, 2);
  cli_result_free(&out);
  /* an evaluate stage that did not complete on one side */
  char *c = run_study(tmp, "c", "{}", "{seeds: [1, 2]}"), *d = run_study(tmp, "d", "{}", "{seeds: [1, 2]}");
  assert_int_equal(regress_compare(c, d, &defaults, &r, &e), 0);
  char *h5 = fs_join(d, "stages");
  char *ev = fs_join(h5, r->points[1].eval_c), *file = fs_join(ev, "stage.h5");
  regress_report_free(r);
  assert_int_equal(remove(file), 0);
  assert_int_equal(regress_compare(c, d, &defaults, &r, &e), 0);
  assert_int_equal(r->n_incomplete, 1);
  assert_non_null(strstr(r->points[1].incomplete, "did not complete"));
  assert_int_equal(regress_exit_status(r), REGRESS_EXIT_INCOMPARABLE);
  regress_report_free(r);
  fs_remove_tree(tmp, NULL);
  free(h5);
  free(ev);
  free(file);
  free(a);
  free(b);
  free(c);
  free(d);
  free(missing);
  free(tmp);
}

static void baseline_copy_is_accepted_and_omits_checkpoints(void **state) {
  (void)state;
  char *tmp = tmp_dir();
  char *a = run_study(tmp, "a", "{}", "{seeds: [1]}"), *b = run_study(tmp, "b", "{}", "{seeds: [1]}"),
       *bad = run_study(tmp, "bad", "{worse_arm: real, worse: 0.5}", "{seeds: [1]}");
  char *base = fs_join(tmp, "base");
  herr e = {{0}};
  regress_copy_stats st;
  assert_int_equal(regress_baseline_copy(a, base, false, &st, &e), 0);
  assert_int_equal(st.evaluate_stages, 1);
  assert_int_equal(st.classify_stages, 4);
  /* index + evaluate (stage.h5, spec.yaml, summary.md) + 4 classify (stage.h5, spec.yaml, csv) */
  assert_int_equal(st.files, 1 + 3 + 4 * 3);
  regress_report *r;
  assert_int_equal(regress_compare(base, b, &defaults, &r, &e), 0);
  assert_int_equal(regress_exit_status(r), 0);
  assert_true(r->points[0].arms[0].paired);
  regress_report_free(r);
  assert_int_equal(regress_compare(base, bad, &defaults, &r, &e), 0);
  assert_int_equal(regress_exit_status(r), 1);
  regress_report_free(r);
  /* no checkpoints, no temporaries left next to it */
  index_data *ix = index_read(base, &e);
  assert_non_null(ix);
  for (size_t i = 0; i < ix->nstages; i++) {
    char *st_dir = fs_join(base, "stages"), *d = fs_join(st_dir, ix->stage_ids[i]),
         *ck = fs_join(d, "artifacts/best.safetensors"), *pr = fs_join(d, "artifacts/test_predictions.csv");
    assert_false(fs_exists(ck));
    if (!strcmp(ix->stage_kinds[i], "classify")) assert_true(fs_exists(pr));
    free(st_dir);
    free(d);
    free(ck);
    free(pr);
  }
  index_free(ix);
  /* an existing copy is refused without --force and replaced with it */
  assert_int_equal(regress_baseline_copy(a, base, false, &st, &e), -1);
  assert_non_null(strstr(e.msg, "already exists"));
  assert_int_equal(regress_baseline_copy(bad, base, true, &st, &e), 0);
  assert_int_equal(regress_compare(base, bad, &defaults, &r, &e), 0);
  assert_int_equal(regress_exit_status(r), 0);
  regress_report_free(r);
  /* never over the results it copies */
  assert_int_equal(regress_baseline_copy(a, a, true, &st, &e), -1);
  assert_non_null(strstr(e.msg, "is (or contains)"));
  assert_int_equal(regress_baseline_copy(a, tmp, true, &st, &e), -1);
  /* through the program */
  char *base2 = fs_join(tmp, "base2");
  char *args[] = {"baseline", a, "--out", base2, NULL};
  cli_result out = cli_run(NULL, args);
  assert_int_equal(out.status, 0);
  assert_non_null(strstr(out.out, "1 evaluate and 4 classify stages"));
  cli_result_free(&out);
  out = cli_run(NULL, args);
  assert_int_equal(out.status, 3);
  cli_result_free(&out);
  assert_int_equal(regress_cli(base2, b, &out), 0);
  cli_result_free(&out);
  fs_remove_tree(tmp, NULL);
  free(a);
  free(b);
  free(bad);
  free(base);
  free(base2);
  free(tmp);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rerun_of_the_same_study_passes),
      cmocka_unit_test(injected_regression_exits_1),
      cmocka_unit_test(other_test_cases_are_compared_unpaired),
      cmocka_unit_test(missing_or_unrelated_directories_exit_3),
      cmocka_unit_test(baseline_copy_is_accepted_and_omits_checkpoints),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

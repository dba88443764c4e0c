/* harness report on a results directory made by the real writers: the micro study planned with
 * the real stage kinds (runner_prepare writes specs and the index), each stage's stage.h5
 * written with the store and its artifacts (manifests, PNGs) with the dataset and PNG writers;
 * one classify run failed, so its point's evaluate stage is missing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/report/report.h"
#include "harness/config/cfg.h"
#include "harness/data/dataset.h"
#include "harness/formats/png.h"
#include "harness/runner/plan.h"
#include "harness/runner/runner.h"
#include "harness/runner/stage_dir.h"
#include "harness/store/store.h"
#include "harness/util/csv.h"
#include "harness/util/fsutil.h"
#include "html_links.h"
#include "test_main.h"

static void put_png(const char *path, int label) {
  uint8_t px[8 * 8 * 3];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(label ? 200 : 40 + i % 50);
  herr e = {{0}};
  assert_int_equal(png_write8(path, px, 8, 8, 3, NULL, 0, &e), 0);
}

/* A manifest of n images of `label` (both labels when label < 0) in dir/images. */
static void put_dataset(const char *dir, int label, size_t n, const char *split) {
  herr e = {{0}};
  char *img = fs_join(dir, "images");
  assert_int_equal(fs_mkdir_p(img, &e), 0);
  ds_manifest m;
  assert_int_equal(ds_manifest_init(&m, dir, &e), 0);
  for (size_t i = 0; i < n; i++) {
    char id[32], rel[64];
    int lab = label >= 0 ? label : (int)(i % 2);
    snprintf(id, sizeof id, "case-%zu", i);
    snprintf(rel, sizeof rel, "images/%s.png", id);
    char *p = fs_join(dir, rel);
    put_png(p, lab);
    free(p);
    ds_case c = {.case_id = id, .label = lab, .ok = 1, .image = rel, .slice = -1};
    snprintf(c.split, sizeof c.split, "%s", split);
    assert_int_equal(ds_manifest_add(&m, &c, &e), 0);
  }
  assert_int_equal(ds_manifest_write(&m, &e), 0);
  ds_manifest_free(&m);
  free(img);
}

/* Test AUC of run k of an arm, as the fixture's evaluate stage records it. */
static double fixture_auc(const char *arm, long k) { return (strstr(arm, "synthetic") ? 0.7 : 0.6) + 0.01 * (double)k; }

static void write_stage(const char *dir, const plan_stage *s) {
  herr e = {{0}};
  char *sdir = stage_dir_path(dir, s->id), *art = fs_join(sdir, "artifacts"), *path = fs_join(sdir, "stage.h5");
  assert_int_equal(fs_mkdir_p(art, &e), 0);
  store_writer *w = store_create(path, s->id, s->kind->name, s->variant, &e);
  assert_non_null(w);
  store_provenance pv = {.harness_version = "0.1.0", .git_commit = "abc123", .libtorch_version = "test",
                         .device = "cpu", .host = "testhost", .start_time = "2026-01-01T00:00:00Z",
                         .end_time = "2026-01-01T00:01:00Z", .seed = s->seed, .threads = 1};
  assert_int_equal(store_put_config(w, "kind: test\n", &e), 0);
  assert_int_equal(store_put_provenance(w, &pv, &e), 0);
  const char *kind = s->kind->name;
  if (!strcmp(kind, "data")) {
    put_dataset(art, -1, 6, "train");
    assert_int_equal(store_put_artifact(w, "manifest", "artifacts/manifest.csv", &e), 0);
  } else if (!strcmp(kind, "generate")) {
    put_dataset(art, !strcmp(s->variant, "pos"), 3, "train");
    assert_int_equal(store_put_artifact(w, "manifest", "artifacts/manifest.csv", &e), 0);
  } else if (!strcmp(kind, "embed")) {
    const char *cols[] = {"step", "loss", "lr"};
    store_series *ser = store_series_create(w, "loss", cols, 3, &e);
    for (int i = 0; i < 50; i++) {
      double row[] = {i, 1.0 / (1 + i), 0.005};
      assert_int_equal(store_series_append(ser, row, &e), 0);
    }
  } else if (!strcmp(kind, "classify")) {
    double scores[6] = {0.9, 0.8, 0.3, 0.6, 0.2, 0.1};
    int labels[6] = {1, 1, 0, 1, 0, 0};
    size_t dims[1] = {6};
    assert_int_equal(store_put_array(w, "test_scores", STORE_F64, 1, dims, scores, &e), 0);
    assert_int_equal(store_put_array(w, "test_labels", STORE_I32, 1, dims, labels, &e), 0);
    const char *tc[] = {"step", "loss", "lr"}, *vc[] = {"step", "auc"};
    store_series *ts = store_series_create(w, "train", tc, 3, &e), *vs = store_series_create(w, "val", vc, 2, &e);
    for (int i = 0; i < 6; i++) {
      double tr[] = {i, 0.7 - 0.05 * i, 3e-4}, vr[] = {i, 0.5 + 0.05 * i};
      assert_int_equal(store_series_append(ts, tr, &e), 0);
      assert_int_equal(store_series_append(vs, vr, &e), 0);
    }
    assert_int_equal(store_put_metric(w, "test_auc", 0.5, &e), 0);
    assert_int_equal(store_put_metric(w, "best_val_auc", 0.75, &e), 0);
    assert_int_equal(store_put_metric(w, "n_real", strncmp(s->variant, "synthetic", 9) ? 16 : 0, &e), 0);
    assert_int_equal(store_put_metric(w, "n_synthetic", strncmp(s->variant, "real-", 5) ? 8 : 0, &e), 0);
  } else if (!strcmp(kind, "evaluate")) {
    const char *arms[] = {"real", "real_synthetic", "synthetic"};
    double nr[] = {16, 16, 0}, ns[] = {0, 8, 8};
    char name[200];
    for (size_t a = 0; a < 3; a++) {
      double aucs[2] = {fixture_auc(arms[a], 0), fixture_auc(arms[a], 1)};
      const char *f[] = {"auc_mean", "auc_sd", "delong_lo_mean", "delong_hi_mean", "boot_lo_mean", "boot_hi_mean",
                         "n_real", "n_synthetic"};
      double v[] = {(aucs[0] + aucs[1]) / 2, 0.00707, 0.4, 0.9, 0.41, 0.89, nr[a], ns[a]};
      for (size_t i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "%s/%s", arms[a], f[i]);
        assert_int_equal(store_put_metric(w, name, v[i], &e), 0);
      }
      for (long k = 0; k < 2; k++) {
        const char *rf[] = {"auc", "delong_lo", "delong_hi", "boot_lo", "boot_hi"};
        double rv[] = {aucs[k], 0.4, 0.9, 0.41, 0.89};
        for (size_t i = 0; i < 5; i++) {
          snprintf(name, sizeof name, "%s/r%ld/%s", arms[a], k, rf[i]);
          assert_int_equal(store_put_metric(w, name, rv[i], &e), 0);
        }
      }
    }
    /* real − real_synthetic = −0.1: synthetic data helped; p = 0.01 in every run. */
    for (size_t a = 0; a < 3; a++)
      for (size_t b = a + 1; b < 3; b++) {
        snprintf(name, sizeof name, "compare/%s_vs_%s/diff_mean", arms[a], arms[b]);
        assert_int_equal(store_put_metric(w, name, fixture_auc(arms[a], 0) - fixture_auc(arms[b], 0), &e), 0);
        snprintf(name, sizeof name, "compare/%s_vs_%s/diff_sd", arms[a], arms[b]);
        assert_int_equal(store_put_metric(w, name, 0, &e), 0);
        for (long k = 0; k < 2; k++) {
          snprintf(name, sizeof name, "compare/%s_vs_%s/r%ld/p", arms[a], arms[b], k);
          assert_int_equal(store_put_metric(w, name, 0.01, &e), 0);
        }
      }
  }
  assert_int_equal(store_close(w, &e), 0);
  free(sdir), free(art), free(path);
}

typedef struct fixture {
  char dir[64];
  char failed_id[PLAN_ID_MAX];
  size_t nfigures;
} fixture;

/* micro.yaml planned for real; every stage written but point 1's synthetic-r1 classify stage
 * (failed) and, downstream of it, point 1's evaluate stage (blocked). */
static void make_fixture(fixture *f) {
  herr e = {{0}};
  snprintf(f->dir, sizeof f->dir, "/tmp/mdh-report-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  cfg_node *root = cfg_load(MDH_SOURCE_DIR "/configs/micro.yaml", NULL, &e);
  assert_non_null(root);
  plan *p = NULL;
  sch_report rep = {0};
  assert_int_equal(plan_build(root, stage_kinds(), &p, &rep, &e), 0);
  assert_int_equal(p->npoints, 2);
  assert_int_equal(runner_prepare(p, f->dir, &e), 0);
  const size_t *st1 = p->point_stages[1];
  long failed = -1, eval1 = -1;
  for (size_t k = 0; k < p->point_nstages[1]; k++) {
    const plan_stage *s = &p->stages[st1[k]];
    if (!strcmp(s->kind->name, "classify") && !strcmp(s->variant, "synthetic-r1")) failed = (long)st1[k];
    if (!strcmp(s->kind->name, "evaluate")) eval1 = (long)st1[k];
  }
  assert_true(failed >= 0 && eval1 >= 0);
  snprintf(f->failed_id, sizeof f->failed_id, "%s", p->stages[failed].id);
  for (size_t i = 0; i < p->nstages; i++)
    if ((long)i != failed && (long)i != eval1) write_stage(f->dir, &p->stages[i]);
  assert_int_equal(stage_dir_record_failure(f->dir, f->failed_id, "classify: out of memory (test)", &e), 0);
  plan_free(p);
  sch_report_free(&rep);
  cfg_free(root);
}

static char *slurp(const char *dir, const char *name) {
  char *p = fs_join(dir, name), *t = fs_read_file(p, NULL, NULL);
  free(p);
  assert_non_null(t);
  return t;
}

static const char *cell(const csv_table *t, size_t row, const char *col) {
  long c = csv_column(t, col);
  assert_true(c >= 0);
  return csv_cell(t, row, (size_t)c);
}

static void report_renders_every_part_and_marks_incomplete_stages(void **state) {
  (void)state;
  fixture f;
  make_fixture(&f);
  herr e = {{0}};
  report_opts o = {.results_dir = f.dir, .html = true, .markdown = true, .figures = true};
  report_summary s;
  int rc = report_render(&o, &s, &e);
  if (rc) fail_msg("%s", e.msg);
  char *out = fs_join(f.dir, "report");
  assert_int_equal(s.points, 2);
  assert_int_equal(s.stages, s.complete_stages + 2);
  assert_true(s.figures >= 7); /* a sweep plot, and per point ROC, embedding loss, train loss, val AUC */
  assert_int_equal(s.grids, 4);
  char *html = slurp(out, "index.html"), *md = slurp(out, "report.md");
  assert_true(check_html_links(out, html) >= s.figures + s.grids + 3);
  assert_null(strstr(html, "http://"));
  assert_null(strstr(html, "https://"));
  assert_non_null(strstr(html, "<style>"));
  /* each figure: svg, gp and dat present and non-empty */
  const char *figs[] = {"sweep_diffusion_embed_train_vectors", "p0_roc", "p1_roc", "p0_embed_loss",
                        "p0_classify_train_loss", "p0_classify_val_auc"};
  for (size_t i = 0; i < 6; i++) {
    const char *ext[] = {".svg", ".gp", ".dat"};
    for (size_t k = 0; k < 3; k++) {
      char rel[200];
      snprintf(rel, sizeof rel, "figures/%s%s", figs[i], ext[k]);
      char *t = slurp(out, rel);
      assert_true(strlen(t) > 0);
      if (k == 0) assert_non_null(strstr(t, "<svg"));
      free(t);
      assert_non_null(strstr(md, figs[i]));
    }
  }
  /* the failed stage and the missing evaluate are shown as such, never as numbers */
  assert_non_null(strstr(html, "out of memory (test)"));
  assert_non_null(strstr(md, "incomplete: classify run r1 failed"));
  assert_non_null(strstr(md, "0.780 ± 0.017"));
  assert_non_null(strstr(md, "Point 1"));

  char *p = fs_join(out, "tables/results.csv");
  csv_table *t = csv_read(p, &e);
  assert_non_null(t);
  assert_int_equal(t->nrows, 6); /* 2 points × 3 arms */
  for (size_t r = 0; r < t->nrows; r++) {
    const char *arm = cell(t, r, "arm"), *point = cell(t, r, "point");
    assert_string_equal(cell(t, r, "diffusion.embed.train.vectors"), !strcmp(point, "0") ? "1" : "4");
    if (!strcmp(point, "0")) {
      assert_string_equal(cell(t, r, "state"), "complete");
      assert_true(fabs(strtod(cell(t, r, "auc_mean"), NULL) - (fixture_auc(arm, 0) + fixture_auc(arm, 1)) / 2) < 1e-12);
    } else {
      assert_string_equal(cell(t, r, "auc_mean"), "");
      assert_non_null(strstr(cell(t, r, "state"), "incomplete"));
    }
    if (!strcmp(arm, "real")) {
      assert_string_equal(cell(t, r, "paper_auc_mean"), "0.78");
      assert_string_equal(cell(t, r, "n_synthetic"), "0");
    }
  }
  csv_free(t);
  free(p);
  p = fs_join(out, "tables/comparisons.csv");
  t = csv_read(p, &e);
  assert_non_null(t);
  assert_int_equal(t->nrows, 3); /* point 0 only */
  assert_string_equal(cell(t, 0, "arm_a"), "real");
  assert_string_equal(cell(t, 0, "arm_b"), "real_synthetic");
  assert_true(fabs(strtod(cell(t, 0, "diff_mean"), NULL) + 0.1) < 1e-12);
  assert_string_equal(cell(t, 0, "p_max"), "0.01");
  csv_free(t);
  free(p);
  p = fs_join(out, "tables/provenance.csv");
  t = csv_read(p, &e);
  assert_non_null(t);
  assert_int_equal(t->nrows, s.stages);
  size_t failed = 0, blocked = 0;
  for (size_t r = 0; r < t->nrows; r++) {
    const char *st = cell(t, r, "state");
    if (!strcmp(cell(t, r, "stage"), f.failed_id)) {
      assert_non_null(strstr(st, "failed: classify: out of memory"));
      assert_string_equal(cell(t, r, "git_commit"), "");
      failed++;
    } else if (!strcmp(st, "complete")) {
      assert_string_equal(cell(t, r, "git_commit"), "abc123");
      assert_string_equal(cell(t, r, "threads"), "1");
    } else {
      blocked += !strncmp(st, "blocked", 7);
    }
  }
  assert_int_equal(failed, 1);
  assert_int_equal(blocked, 1);
  csv_free(t);
  free(p);
  for (size_t i = 0; i < 2; i++) {
    p = fs_join(out, i ? "tables/runs.csv" : "tables/paper.csv");
    t = csv_read(p, &e);
    assert_non_null(t);
    assert_true(t->nrows >= 4);
    csv_free(t);
    free(p);
  }
  /* a second report replaces the first; a folder the report did not write is left alone */
  assert_int_equal(report_render(&o, &s, &e), 0);
  char *mine = fs_join(f.dir, "mine");
  assert_int_equal(fs_mkdir_p(mine, &e), 0);
  char *keep = fs_join(mine, "notes.txt");
  assert_int_equal(fs_write_atomic(keep, "x", 1, &e), 0);
  report_opts o2 = o;
  o2.out_dir = mine;
  assert_int_equal(report_render(&o2, &s, &e), -1);
  assert_non_null(strstr(e.msg, "was not written by `harness report`"));
  assert_true(fs_exists(keep));
  free(keep), free(mine);
  free(html), free(md), free(out);
  assert_int_equal(fs_remove_tree(f.dir, &e), 0);
}

static void report_without_figures_needs_no_gnuplot(void **state) {
  (void)state;
  fixture f;
  make_fixture(&f);
  herr e = {{0}};
  report_opts o = {.results_dir = f.dir, .markdown = true, .figures = false};
  report_summary s;
  assert_int_equal(report_render(&o, &s, &e), 0);
  assert_int_equal(s.figures, 0);
  char *out = fs_join(f.dir, "report"), *md = fs_join(out, "report.md"), *html = fs_join(out, "index.html");
  assert_true(fs_exists(md));
  assert_false(fs_exists(html));
  free(out), free(md), free(html);
  /* with figures on and no gnuplot, the message says what to install */
  o.figures = true;
  o.gnuplot = "/nonexistent/gnuplot";
  assert_int_equal(report_render(&o, &s, &e), -1);
  assert_non_null(strstr(e.msg, "gnuplot-nox"));
  assert_int_equal(fs_remove_tree(f.dir, &e), 0);
}

static void report_on_a_folder_that_is_not_a_results_dir_names_it(void **state) {
  (void)state;
  char dir[] = "/tmp/mdh-report-none-XXXXXX";
  assert_non_null(mkdtemp(dir));
  herr e = {{0}};
  report_opts o = {.results_dir = dir, .html = true, .figures = false};
  assert_int_equal(report_render(&o, NULL, &e), -1);
  assert_non_null(strstr(e.msg, dir));
  assert_non_null(strstr(e.msg, "not a results directory"));
  char *out = fs_join(dir, "report");
  assert_false(fs_exists(out));
  free(out);
  o.results_dir = "/nonexistent/results";
  assert_int_equal(report_render(&o, NULL, &e), -1);
  assert_non_null(strstr(e.msg, "/nonexistent/results"));
  assert_int_equal(fs_remove_tree(dir, &e), 0);
}

/* The CLI: exit 3 naming the folder, exit 2 for a bad option. */
static void report_cli_exit_codes(void **state) {
  (void)state;
  char dir[] = "/tmp/mdh-report-cli-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' report '%s' --no-figures >/dev/null 2>&1", MDH_HARNESS_BIN, dir);
  int st = system(cmd);
  assert_int_equal(WEXITSTATUS(st), 3);
  snprintf(cmd, sizeof cmd, "'%s' report '%s' --format pdf >/dev/null 2>&1", MDH_HARNESS_BIN, dir);
  st = system(cmd);
  assert_int_equal(WEXITSTATUS(st), 2);
  snprintf(cmd, sizeof cmd, "'%s' report --help >/dev/null 2>&1", MDH_HARNESS_BIN);
  st = system(cmd);
  assert_int_equal(WEXITSTATUS(st), 0);
  rmdir(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(report_renders_every_part_and_marks_incomplete_stages),
      cmocka_unit_test(report_without_figures_needs_no_gnuplot),
      cmocka_unit_test(report_on_a_folder_that_is_not_a_results_dir_names_it),
      cmocka_unit_test(report_cli_exit_codes),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

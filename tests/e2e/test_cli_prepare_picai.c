/* End to end through the real program: `harness prepare picai` on a mini PI-CAI tree (a
 * positive, a negative, a truncated ADC, a case with only an AI delineation, an HBV elsewhere
 * in space, a delineation the marksheet contradicts) writes the images of the good cases, one
 * manifest row per case with its reason, and a summary line; bad command lines are refused. */
#include "cli_util.h"
#include "harness/data/dataset.h"
#include "harness/formats/png.h"
#include "test_main.h"
#include "vol_fixture.h"

static char *make_tree(void) {
  char *dir = make_tmp_dir();
  char *images = fs_join(dir, "images"), *labels = fs_join(dir, "picai_labels");
  fx_picai_case(images, labels, "10000_1000000", FX_POSITIVE);
  fx_picai_case(images, labels, "10001_1000001", FX_NEGATIVE);
  fx_picai_case(images, labels, "10002_1000002", FX_TRUNCATED_ADC);
  fx_picai_case(images, labels, "10003_1000003", FX_ONLY_AI_LABEL);
  fx_picai_case(images, labels, "10004_1000004", FX_HBV_ELSEWHERE);
  fx_picai_case(images, labels, "10006_1000006", FX_POSITIVE);
  char *ci = fs_join(labels, "clinical_information");
  fs_mkdir_p(ci, NULL);
  write_text(ci, "marksheet.csv",
             "patient_id,study_id,mri_date,case_ISUP,case_csPCa\n10000,1000000,2019-07-02,3,YES\n"
             "10001,1000001,2016-05-27,0,NO\n10003,1000003,2019-04-05,2,YES\n10006,1000006,2020-01-01,1,NO\n");
  free(ci);
  free(images);
  free(labels);
  return dir;
}

static const ds_case *find(const ds_manifest *m, const char *id) {
  for (size_t i = 0; i < m->n; i++)
    if (!strcmp(m->cases[i].case_id, id)) return &m->cases[i];
  fail_msg("no manifest row for %s", id);
  return NULL;
}

static void expect_skipped(const ds_manifest *m, const char *id, const char *needle) {
  const ds_case *c = find(m, id);
  if (c->ok || !strstr(c->reason, needle))
    fail_msg("%s: ok %d, reason '%s', expected skipped with '%s'", id, c->ok, c->reason, needle);
  assert_string_equal(c->image, "");
}

static void expect_image(const ds_manifest *m, const ds_case *c) {
  char *p = ds_case_path(m, c->image);
  png_image8 img;
  herr e;
  if (png_read8(p, &img, &e)) fail_msg("%s", e.msg);
  assert_int_equal(img.width, 512);
  assert_int_equal(img.height, 512);
  assert_int_equal(img.channels, 3);
  png_image8_free(&img);
  free(p);
}

static void mini_tree_with_human_labels(void **state) {
  (void)state;
  char *dir = make_tree();
  cli_result r = cli_run(dir, (char *[]){"prepare", "picai", "--images", "images", "--labels", "picai_labels", "--out",
                                         "set", "--threads", "2", NULL});
  if (r.status != 0) fail_msg("exit %d: %s\n%s", r.status, r.out, r.err);
  if (!strstr(r.out,
              "prepared 6 PI-CAI cases into set: 2 ok (1 positive, 1 negative), 4 skipped "
              "(1 missing label, 1 unreadable or invalid file, 1 geometry mismatch, 1 label conflict)"))
    fail_msg("summary: %s", r.out);
  assert_non_null(strstr(r.err, "skipped 10002_1000002: ADC: "));
  cli_result_free(&r);

  char *set = fs_join(dir, "set");
  ds_manifest m;
  herr e;
  if (ds_manifest_read(set, &m, &e)) fail_msg("%s", e.msg);
  assert_int_equal(m.n, 6);
  const ds_case *pos = find(&m, "10000_1000000"), *neg = find(&m, "10001_1000001");
  assert_true(pos->ok && neg->ok);
  assert_int_equal(pos->label, 1);
  assert_int_equal(pos->slice, FX_LESION_SLICE);
  assert_int_equal(neg->label, 0);
  assert_int_equal(neg->slice, FX_GLAND_MIDDLE);
  assert_string_equal(pos->image, "images/10000_1000000.png");
  assert_non_null(strstr(pos->source, "t2w=images/10000/10000_1000000_t2w.mha"));
  assert_non_null(strstr(pos->source, "lesion=picai_labels/csPCa_lesion_delineations/human_expert/resampled/"));
  expect_image(&m, pos);
  expect_image(&m, neg);
  expect_skipped(&m, "10002_1000002", "truncated");
  expect_skipped(&m, "10003_1000003", "no human-expert csPCa lesion delineation");
  expect_skipped(&m, "10004_1000004", "geometry mismatch: HBV does not overlap T2W in world space");
  expect_skipped(&m, "10006_1000006", "marksheet's case_csPCa is NO");
  char *stale = fs_join(set, "images/10006_1000006.png");
  assert_false(fs_exists(stale));
  free(stale);
  ds_manifest_free(&m);
  char *kind, *params;
  assert_int_equal(ds_read_info(set, &kind, &params, &e), 0);
  assert_string_equal(kind, "picai");
  assert_non_null(strstr(params, "\"label_set\":\"human\""));
  assert_non_null(strstr(params, "\"spacing_zyx_mm\":[3,0.5,0.5]"));
  free(kind);
  free(params);
  free(set);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void ai_label_set_and_quiet(void **state) {
  (void)state;
  char *dir = make_tree();
  cli_result r = cli_run(dir, (char *[]){"prepare", "picai", "--images", "images", "--labels", "picai_labels", "--out",
                                         "set", "--label-set", "ai", "--marksheet", "ignore", "--quiet", NULL});
  if (r.status != 0) fail_msg("exit %d: %s\n%s", r.status, r.out, r.err);
  assert_string_equal(r.err, "");
  cli_result_free(&r);
  char *set = fs_join(dir, "set");
  ds_manifest m;
  herr e;
  if (ds_manifest_read(set, &m, &e)) fail_msg("%s", e.msg);
  const ds_case *ai = find(&m, "10003_1000003");
  assert_true(ai->ok);
  assert_int_equal(ai->label, 1);
  assert_int_equal(ai->slice, FX_LESION_SLICE);
  assert_non_null(strstr(ai->source, "AI/Bosma22a/10003_1000003.nii.gz"));
  expect_skipped(&m, "10000_1000000", "no AI (Bosma22a) csPCa lesion delineation");
  ds_manifest_free(&m);
  free(set);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void bad_command_lines_refused(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  struct {
    char *args[12];
    const char *needle;
  } cases[] = {
      {{"prepare", "picai", "--labels", "l", "--out", "o", NULL}, "--images, --labels and --out are required"},
      {{"prepare", "picai", "--images", "nowhere", "--labels", ".", "--out", "o", NULL}, "nowhere: not a directory"},
      {{"prepare", "picai", "--images", ".", "--labels", ".", "--out", "o", NULL}, "no cases under ."},
      {{"prepare", "picai", "--images", ".", "--labels", ".", "--out", "o", "--spacing", "3,0.5", NULL},
       "--spacing expects Z,Y,X"},
      {{"prepare", "picai", "--images", ".", "--labels", ".", "--out", "o", "--label-set", "x", NULL},
       "expected human, ai or human-then-ai"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cli_result r = cli_run(dir, cases[i].args);
    assert_int_equal(r.status, 2);
    if (!strstr(r.err, cases[i].needle)) fail_msg("case %zu: %s", i, r.err);
    cli_result_free(&r);
  }
  cli_result r = cli_run(dir, (char *[]){"prepare", "picai", "--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "--label-set"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mini_tree_with_human_labels),
      cmocka_unit_test(ai_label_set_and_quiet),
      cmocka_unit_test(bad_command_lines_refused),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

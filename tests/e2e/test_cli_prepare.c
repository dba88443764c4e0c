/* End to end through the real program: `harness prepare phantom` writes a dataset directory
 * that reads back (images, masks, manifest, dataset.json with the options given), is
 * deterministic, and refuses bad command lines with a message naming the option. */
#include "cli_util.h"
#include "harness/data/dataset.h"
#include "harness/formats/png.h"
#include "test_main.h"

static void prepare_phantom_writes_a_dataset(void **state) {
  char *dir = make_tmp_dir();
  cli_result r = cli_run(dir, (char *[]){"prepare", "phantom", "--n", "5", "--seed", "3", "--out", "set", "--size",
                                         "40", "--positive-fraction", "0.4", "--noise-hbv", "0.1", NULL});
  if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
  assert_non_null(strstr(r.err, "wrote 5 cases to set"));
  cli_result_free(&r);
  char *set = fs_join(dir, "set");
  herr e = {{0}};
  ds_manifest m;
  assert_int_equal(ds_manifest_read(set, &m, &e), 0);
  assert_int_equal(m.n, 5);
  int pos = 0;
  for (size_t i = 0; i < m.n; i++) {
    pos += m.cases[i].label;
    assert_int_equal(m.cases[i].ok, 1);
    assert_string_equal(m.cases[i].split, "");
    char *p = ds_case_path(&m, m.cases[i].image);
    png_image8 img;
    assert_int_equal(png_read8(p, &img, &e), 0);
    assert_int_equal(img.width, 40);
    assert_int_equal(img.height, 40);
    assert_int_equal(img.channels, 3);
    png_image8_free(&img);
    free(p);
    p = ds_case_path(&m, m.cases[i].mask);
    assert_true(fs_exists(p));
    free(p);
  }
  assert_int_equal(pos, 2); /* floor(5 * 0.4) */
  char *kind, *params;
  assert_int_equal(ds_read_info(set, &kind, &params, &e), 0);
  assert_string_equal(kind, "phantom");
  assert_non_null(strstr(params, "\"noise_hbv\":0.1"));
  assert_non_null(strstr(params, "\"size\":40"));
  free(kind);
  free(params);
  ds_manifest_free(&m);

  /* The same command again gives the same bytes. */
  char *first = fs_join(set, "images/phantom-000004.png");
  size_t la, lb;
  char *a = fs_read_file(first, &la, &e);
  r = cli_run(dir, (char *[]){"prepare", "phantom", "--n", "5", "--seed", "3", "--out", "set", "--size", "40",
                              "--positive-fraction", "0.4", "--noise-hbv", "0.1", "--quiet", NULL});
  assert_int_equal(r.status, 0);
  assert_string_equal(r.err, "");
  cli_result_free(&r);
  char *b = fs_read_file(first, &lb, &e);
  assert_int_equal(la, lb);
  assert_memory_equal(a, b, la);
  free(a);
  free(b);
  free(first);
  free(set);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void prepare_refuses_bad_usage(void **state) {
  char *dir = make_tmp_dir();
  static const struct {
    char *args[12];
    int status;
    const char *want;
  } cases[] = {
      {{"prepare", NULL}, 2, "harness prepare: no SOURCE given"},
      {{"prepare", "mnist", NULL}, 2, "unknown source 'mnist' (expected phantom or picai)"},
      {{"prepare", "phantom", "--n", "5", "--out", "x", NULL}, 2, "--n, --seed and --out are required"},
      {{"prepare", "phantom", "--n", "0", "--seed", "1", "--out", "x", NULL}, 2, "--n expects"},
      {{"prepare", "phantom", "--n", "2", "--seed", "-1", "--out", "x", NULL}, 2,
       "--seed expects a whole number >= 0, got '-1'"},
      {{"prepare", "phantom", "--n", "2", "--seed", "1", "--out", "x", "--size", "8", NULL}, 2,
       "--size: phantom parameter size expects an integer in [16, 2048], got '8'"},
      {{"prepare", "phantom", "--n", "2", "--seed", "1", "--out", "x", "--lesion-t2w-min", "0.9", NULL}, 2,
       "lesion_t2w_min = 0.9 is larger than lesion_t2w_max = 0.5"},
      {{"prepare", "phantom", "--n", "2", "--seed", "1", "--out", "x", "--bogus", "1", NULL}, 2,
       "unknown option '--bogus'"},
      {{"prepare", "phantom", "--n", NULL}, 2, "option '--n' needs a value"},
      {{"prepare", "phantom", "--n", "2", "--seed", "1", "--out", "x", "extra", NULL}, 2,
       "unexpected argument 'extra'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cli_result r = cli_run(dir, cases[i].args);
    if (r.status != cases[i].status || !strstr(r.err, cases[i].want))
      fail_msg("case %zu: exit %d, stderr '%s'; expected %d and '%s'", i, r.status, r.err, cases[i].status,
               cases[i].want);
    cli_result_free(&r);
  }
  char *x = fs_join(dir, "x");
  assert_false(fs_exists(x)); /* nothing is written on a usage error */
  free(x);
  cli_result r = cli_run(dir, (char *[]){"prepare", "phantom", "--help", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "--lesion-radius-min"));
  assert_non_null(strstr(r.out, "--positive-fraction"));
  cli_result_free(&r);
  r = cli_run(dir, (char *[]){"help", "prepare", NULL});
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "phantom"));
  assert_non_null(strstr(r.out, "picai"));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(dir);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(prepare_phantom_writes_a_dataset),
      cmocka_unit_test(prepare_refuses_bad_usage),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

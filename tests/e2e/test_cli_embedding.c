/* End to end through the real `harness embedding`: info on the paper's A1111 .pt (64 x 1024,
 * step, checkpoint, norms equal to the library's bit for bit in --json), .pt -> .safetensors ->
 * .pt keeps every value bit-identical, diffusers output (by name or --format, --name renames the
 * token), overwrite and .bin refusals, and bad files failing with a message naming them. */
#include <cjson/cJSON.h>
#include <math.h>

#include "cli_util.h"
#include "harness/model/embedding_file.h"
#include "test_main.h"

#define PT MDH_TEST_DATA_DIR "/embeddings/prostate_pos.pt"
#define DIFFUSERS MDH_TEST_DATA_DIR "/embeddings/learned_embeds.safetensors"

static cli_result emb(char *const *args) {
  char *argv[16] = {"embedding"};
  int n = 1;
  for (int i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return cli_run(NULL, argv);
}

static void expect_ok(const cli_result *r) {
  if (r->status != 0) print_error("harness embedding failed (%d): %s\n", r->status, r->err);
  assert_int_equal(r->status, 0);
}

static void expect_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part)) print_error("'%s' not in:\n%s\n", part, text ? text : "(null)");
  assert_non_null(text);
  assert_non_null(strstr(text, part));
}

static emb_file read_emb(const char *path) {
  emb_file f;
  herr e;
  if (emb_read(path, &f, &e)) fail_msg("%s", e.msg);
  return f;
}

static void same_values(const emb_file *a, const emb_file *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    assert_int_equal(a->items[i].n_vectors, b->items[i].n_vectors);
    assert_int_equal(a->items[i].dim, b->items[i].dim);
    assert_memory_equal(a->items[i].data, b->items[i].data,
                        (size_t)(a->items[i].n_vectors * a->items[i].dim) * sizeof(float));
  }
}

static void info_shows_the_a1111_file(void **state) {
  (void)state;
  cli_result r = emb((char *[]){"info", PT, NULL});
  expect_ok(&r);
  expect_contains(r.out, "format:             a1111-pt\n");
  expect_contains(r.out, "name:               prostate_pos\n");
  expect_contains(r.out, "token:              prostate_pos\n");
  expect_contains(r.out, "vectors:            64\n");
  expect_contains(r.out, "dimension:          1024\n");
  expect_contains(r.out, "step:               100000\n");
  expect_contains(r.out, "sd_checkpoint:      09dd2ae4\n");
  expect_contains(r.out, "sd_checkpoint_name: checkpoints_512-base-ema\n");
  expect_contains(r.out, "vector L2 norms:    min ");
  cli_result_free(&r);
  r = emb((char *[]){"info", DIFFUSERS, NULL});
  expect_ok(&r);
  expect_contains(r.out, "format:             diffusers\n");
  expect_contains(r.out, "token:              <concept>\n");
  expect_contains(r.out, "vectors:            4\n");
  expect_contains(r.out, "dimension:          32\n");
  expect_contains(r.out, "step:               unknown\n");
  expect_contains(r.out, "sd_checkpoint:      (none)\n");
  cli_result_free(&r);
}

static double num(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v)) fail_msg("JSON key '%s' is not a number", key);
  return v->valuedouble;
}

static void info_json_norms_equal_the_library(void **state) {
  (void)state;
  cli_result r = emb((char *[]){"info", "--json", PT, NULL});
  expect_ok(&r);
  cJSON *j = cJSON_Parse(r.out);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(j, "format")->valuestring, "a1111-pt");
  assert_string_equal(cJSON_GetObjectItem(j, "sd_checkpoint")->valuestring, "09dd2ae4");
  assert_true(num(j, "vectors") == 64);
  assert_true(num(j, "dimension") == 1024);
  assert_true(num(j, "step") == 100000);
  const cJSON *toks = cJSON_GetObjectItem(j, "tokens");
  assert_int_equal(cJSON_GetArraySize(toks), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(toks, 0), "token")->valuestring, "prostate_pos");
  emb_file f = read_emb(PT);
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  for (int64_t v = 0; v < 64; v++) {
    double ss = 0;
    for (int64_t k = 0; k < 1024; k++) ss += (double)f.items[0].data[v * 1024 + k] * f.items[0].data[v * 1024 + k];
    double n = sqrt(ss);
    lo = fmin(lo, n), hi = fmax(hi, n), sum += n;
  }
  const cJSON *norms = cJSON_GetObjectItem(j, "norms");
  assert_true(num(norms, "min") == lo);
  assert_true(num(norms, "max") == hi);
  assert_true(num(norms, "mean") == sum / 64);
  assert_true(lo > 0 && hi >= lo);
  emb_file_free(&f);
  cJSON_Delete(j);
  cli_result_free(&r);
  r = emb((char *[]){"info", "--json", DIFFUSERS, NULL});
  expect_ok(&r);
  j = cJSON_Parse(r.out);
  assert_non_null(j);
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "step")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "sd_checkpoint")));
  cJSON_Delete(j);
  cli_result_free(&r);
}

static void pt_safetensors_pt_round_trip_is_bit_identical(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  char *st = fs_join(dir, "pp.safetensors"), *pt = fs_join(dir, "back.pt");
  cli_result r = emb((char *[]){"convert", PT, st, NULL});
  expect_ok(&r);
  expect_contains(r.out, "a1111-safetensors, 64 vectors x 1024");
  cli_result_free(&r);
  r = emb((char *[]){"convert", st, pt, NULL});
  expect_ok(&r);
  cli_result_free(&r);
  emb_file a = read_emb(PT), b = read_emb(st), c = read_emb(pt);
  assert_string_equal(b.format, "a1111-safetensors");
  assert_string_equal(c.format, "a1111-pt");
  same_values(&a, &b);
  same_values(&a, &c);
  assert_int_equal(c.step, 100000);
  assert_string_equal(c.sd_checkpoint, "09dd2ae4");
  assert_string_equal(c.sd_checkpoint_name, "checkpoints_512-base-ema");
  assert_string_equal(c.name, "pp"); /* A1111 names a .safetensors embedding after its file */
  emb_file_free(&a);
  emb_file_free(&b);
  emb_file_free(&c);
  r = emb((char *[]){"info", pt, NULL});
  expect_ok(&r);
  expect_contains(r.out, "vectors:            64\n");
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(st);
  free(pt);
  free(dir);
}

static void diffusers_output_by_name_or_format(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  char *le = fs_join(dir, "learned_embeds.safetensors"), *other = fs_join(dir, "prostate.safetensors");
  cli_result r = emb((char *[]){"convert", PT, le, NULL});
  expect_ok(&r);
  expect_contains(r.out, "(diffusers,");
  cli_result_free(&r);
  r = emb((char *[]){"convert", "--format", "diffusers", "--name", "<prostate>", PT, other, NULL});
  expect_ok(&r);
  cli_result_free(&r);
  emb_file a = read_emb(PT), b = read_emb(le), c = read_emb(other);
  assert_string_equal(b.format, "diffusers");
  assert_string_equal(b.items[0].token, "prostate_pos");
  assert_string_equal(c.format, "diffusers");
  assert_string_equal(c.items[0].token, "<prostate>");
  same_values(&a, &b);
  same_values(&a, &c);
  emb_file_free(&a);
  emb_file_free(&b);
  emb_file_free(&c);
  /* and back: diffusers -> A1111 .pt */
  char *pt = fs_join(dir, "again.pt");
  r = emb((char *[]){"convert", DIFFUSERS, pt, "--name", "concept", NULL});
  expect_ok(&r);
  cli_result_free(&r);
  emb_file d = read_emb(DIFFUSERS), g = read_emb(pt);
  same_values(&d, &g);
  assert_string_equal(g.name, "concept");
  emb_file_free(&d);
  emb_file_free(&g);
  fs_remove_tree(dir, NULL);
  free(le);
  free(other);
  free(pt);
  free(dir);
}

static void refusals_are_usage_errors(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  char *out = fs_join(dir, "x.pt"), *bin = fs_join(dir, "learned_embeds.bin"), *odd = fs_join(dir, "x.npy");
  write_text(dir, "x.pt", "occupied");
  cli_result r = emb((char *[]){"convert", PT, out, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, out);
  expect_contains(r.err, "--force");
  cli_result_free(&r);
  r = emb((char *[]){"convert", "--force", PT, out, NULL});
  expect_ok(&r);
  cli_result_free(&r);
  emb_file a = read_emb(out);
  assert_int_equal(a.items[0].n_vectors, 64);
  emb_file_free(&a);
  r = emb((char *[]){"convert", PT, bin, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "pickle");
  assert_false(fs_exists(bin));
  cli_result_free(&r);
  r = emb((char *[]){"convert", PT, odd, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "unknown extension");
  cli_result_free(&r);
  char *st = fs_join(dir, "y.safetensors");
  r = emb((char *[]){"convert", "--format", "a1111-pt", PT, st, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "does not fit");
  cli_result_free(&r);
  r = emb((char *[]){"convert", "--format", "onnx", PT, st, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "'onnx'");
  cli_result_free(&r);
  r = emb((char *[]){"convert", PT, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "usage:");
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(out);
  free(bin);
  free(odd);
  free(st);
  free(dir);
}

static void bad_files_are_named(void **state) {
  (void)state;
  char *dir = make_tmp_dir();
  write_text(dir, "bad.pt", "PK\x03\x04 not really a zip");
  char *bad = fs_join(dir, "bad.pt"), *missing = fs_join(dir, "missing.safetensors"), *out = fs_join(dir, "o.pt");
  cli_result r = emb((char *[]){"info", bad, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, bad);
  assert_true(r.out == NULL || r.out[0] == '\0');
  cli_result_free(&r);
  r = emb((char *[]){"info", missing, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, missing);
  cli_result_free(&r);
  r = emb((char *[]){"convert", bad, out, NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, bad);
  assert_false(fs_exists(out));
  cli_result_free(&r);
  fs_remove_tree(dir, NULL);
  free(bad);
  free(missing);
  free(out);
  free(dir);
}

static void usage_and_help(void **state) {
  (void)state;
  cli_result r = emb((char *[]){"--help", NULL});
  expect_ok(&r);
  expect_contains(r.out, "harness embedding info FILE");
  cli_result_free(&r);
  r = emb((char *[]){"convert", "--help", NULL});
  expect_ok(&r);
  expect_contains(r.out, "--force");
  cli_result_free(&r);
  r = emb((char *[]){NULL});
  assert_int_equal(r.status, 2);
  cli_result_free(&r);
  r = emb((char *[]){"merge", NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "unknown subcommand 'merge'");
  cli_result_free(&r);
  r = emb((char *[]){"info", PT, "--verbose", NULL});
  assert_int_equal(r.status, 2);
  expect_contains(r.err, "'--verbose'");
  cli_result_free(&r);
  r = cli_run(NULL, (char *[]){"help", "embedding", NULL});
  expect_ok(&r);
  expect_contains(r.out, "convert IN OUT");
  cli_result_free(&r);
  r = cli_run(NULL, (char *[]){"--help", NULL});
  expect_ok(&r);
  expect_contains(r.out, "embedding info|convert");
  cli_result_free(&r);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(info_shows_the_a1111_file),
      cmocka_unit_test(info_json_norms_equal_the_library),
      cmocka_unit_test(pt_safetensors_pt_round_trip_is_bit_identical),
      cmocka_unit_test(diffusers_output_by_name_or_format),
      cmocka_unit_test(refusals_are_usage_errors),
      cmocka_unit_test(bad_files_are_named),
      cmocka_unit_test(usage_and_help),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

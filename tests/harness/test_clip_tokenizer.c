/* harness/text/clip_tokenizer: every reference case of tests/data/tokenizer/cases.json (SD1 and
 * SD2 padding, textual-inversion tokens) exactly, Unicode normalisation, truncation, and clear
 * errors for broken tokenizer folders and invalid UTF-8. */
#include "test_main.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "harness/text/clip_tokenizer.h"
#include "harness/util/fsutil.h"

enum { MAXLEN = 77 };

static cJSON *load_cases(void) {
  char *p = test_data_path("tokenizer/cases.json");
  herr e;
  char *buf = fs_read_file(p, NULL, &e);
  assert_non_null(buf);
  cJSON *j = cJSON_Parse(buf);
  assert_non_null(j);
  free(buf);
  free(p);
  return j;
}

static tok_clip *load_sd1(void) {
  char *p = test_data_path("tokenizer");
  herr e;
  tok_clip *t = tok_clip_load(p, &e);
  if (!t) print_message("%s\n", e.msg);
  assert_non_null(t);
  free(p);
  return t;
}

/* A scratch folder holding links to the shared vocab/merges plus chosen config files. */
static char *scratch_dir(void) {
  char tmpl[] = "/tmp/mdh-tok-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  char *d = malloc(sizeof tmpl);
  assert_non_null(d);
  memcpy(d, tmpl, sizeof tmpl);
  return d;
}

static void link_data(const char *dir, const char *rel, const char *name) {
  char *src = test_data_path(rel);
  char *dst = fs_join(dir, name);
  assert_int_equal(symlink(src, dst), 0);
  free(src);
  free(dst);
}

static void write_file(const char *dir, const char *name, const char *text) {
  char *p = fs_join(dir, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  free(p);
}

static void remove_dir(char *dir) {
  herr e;
  assert_int_equal(fs_remove_tree(dir, &e), 0);
  free(dir);
}

static tok_clip *load_sd2(char **dir_out) {
  char *d = scratch_dir();
  link_data(d, "tokenizer/vocab.json", "vocab.json");
  link_data(d, "tokenizer/merges.txt", "merges.txt");
  link_data(d, "tokenizer/sd2/special_tokens_map.json", "special_tokens_map.json");
  link_data(d, "tokenizer/sd2/tokenizer_config.json", "tokenizer_config.json");
  herr e;
  tok_clip *t = tok_clip_load(d, &e);
  if (!t) print_message("%s\n", e.msg);
  assert_non_null(t);
  *dir_out = d;
  return t;
}

static void expect_ids(const cJSON *arr, const int64_t *got, size_t n, const char *what, const char *text) {
  size_t want_n = (size_t)cJSON_GetArraySize(arr);
  int ok = want_n == n;
  for (size_t i = 0; ok && i < n; i++) ok = (int64_t)cJSON_GetArrayItem(arr, (int)i)->valuedouble == got[i];
  if (!ok) {
    print_message("%s mismatch for \"%s\": got", what, text);
    for (size_t i = 0; i < n; i++) print_message(" %lld", (long long)got[i]);
    print_message("\n");
  }
  assert_true(ok);
}

/* One case: padded ids, unpadded length, raw ids and the BPE token strings. */
static void check_case(const tok_clip *t, const cJSON *c, const char *padded_key, const char *tokens_key) {
  const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
  int64_t ids[MAXLEN];
  size_t n_real = 0;
  herr e;
  int rc = tok_clip_encode(t, text, ids, MAXLEN, &n_real, &e);
  if (rc) print_message("%s\n", e.msg);
  assert_int_equal(rc, 0);
  expect_ids(cJSON_GetObjectItem(c, padded_key), ids, MAXLEN, padded_key, text);
  /* "ids" is SD1's unpadded list; the token list gives each variant's own length. */
  size_t n_full = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(c, tokens_key)) + 2;
  assert_int_equal(n_real, n_full < MAXLEN ? n_full : MAXLEN);

  int64_t *raw = NULL;
  size_t n_raw = 0;
  assert_int_equal(tok_clip_encode_raw(t, text, &raw, &n_raw, &e), 0);
  const cJSON *toks = cJSON_GetObjectItem(c, tokens_key);
  assert_int_equal(n_raw, (size_t)cJSON_GetArraySize(toks));
  for (size_t i = 0; i < n_raw; i++) {
    const char *want = cJSON_GetArrayItem(toks, (int)i)->valuestring;
    const char *got = tok_clip_decode_token(t, raw[i]);
    if (!got || strcmp(got, want) != 0) print_message("\"%s\" token %zu: got %s want %s\n", text, i, got, want);
    assert_non_null(got);
    assert_string_equal(got, want);
  }
  free(raw);
}

static void sd1_golden_cases(void **state) {
  (void)state;
  cJSON *j = load_cases();
  tok_clip *t = load_sd1();
  const cJSON *cases = cJSON_GetObjectItem(j, "cases");
  assert_true(cJSON_GetArraySize(cases) >= 40);
  for (const cJSON *c = cases->child; c; c = c->next) {
    check_case(t, c, "sd1_input_ids", "tokens");
    /* Without padding/truncation the full id list is BOS + raw + EOS. */
    const cJSON *full = cJSON_GetObjectItem(c, "ids");
    int64_t *raw = NULL;
    size_t n = 0;
    herr e;
    assert_int_equal(tok_clip_encode_raw(t, cJSON_GetObjectItem(c, "text")->valuestring, &raw, &n, &e), 0);
    assert_int_equal(n + 2, (size_t)cJSON_GetArraySize(full));
    for (size_t i = 0; i < n; i++)
      assert_int_equal(raw[i], (int64_t)cJSON_GetArrayItem(full, (int)(i + 1))->valuedouble);
    free(raw);
  }
  tok_clip_free(t);
  cJSON_Delete(j);
}

static void sd2_golden_cases(void **state) {
  (void)state;
  cJSON *j = load_cases();
  char *dir;
  tok_clip *t = load_sd2(&dir);
  assert_int_equal(tok_clip_pad_id(t), 0);
  const cJSON *cases = cJSON_GetObjectItem(j, "cases");
  for (const cJSON *c = cases->child; c; c = c->next) check_case(t, c, "sd2_input_ids", "sd2_tokens");
  tok_clip_free(t);
  remove_dir(dir);
  cJSON_Delete(j);
}

static void add_reference_tokens(tok_clip *t, const cJSON *added) {
  const cJSON *toks = cJSON_GetObjectItem(added, "tokens"), *ids = cJSON_GetObjectItem(added, "ids");
  for (int i = 0; i < cJSON_GetArraySize(toks); i++) {
    int64_t id = -1;
    herr e;
    assert_int_equal(tok_clip_add_token(t, cJSON_GetArrayItem(toks, i)->valuestring, &id, &e), 0);
    assert_int_equal(id, (int64_t)cJSON_GetArrayItem(ids, i)->valuedouble);
  }
}

static void added_token_cases(void **state) {
  (void)state;
  cJSON *j = load_cases();
  const cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
  for (int sd = 1; sd <= 2; sd++) {
    char *dir = NULL;
    tok_clip *t = sd == 1 ? load_sd1() : load_sd2(&dir);
    add_reference_tokens(t, added);
    assert_int_equal(tok_clip_n_added(t), 16);
    for (const cJSON *c = cJSON_GetObjectItem(added, "cases")->child; c; c = c->next)
      check_case(t, c, sd == 1 ? "sd1_input_ids" : "sd2_input_ids", sd == 1 ? "tokens" : "sd2_tokens");
    if (sd == 1) {
      /* diffusers' maybe_convert_prompt expansions. */
      for (const cJSON *c = cJSON_GetObjectItem(added, "diffusers_maybe_convert_prompt")->child; c; c = c->next) {
        int64_t ids[MAXLEN];
        herr e;
        const char *text = cJSON_GetObjectItem(c, "expanded")->valuestring;
        assert_int_equal(tok_clip_encode(t, text, ids, MAXLEN, NULL, &e), 0);
        expect_ids(cJSON_GetObjectItem(c, "sd1_input_ids"), ids, MAXLEN, "sd1_input_ids", text);
      }
    }
    tok_clip_free(t);
    if (dir) remove_dir(dir);
  }
  cJSON_Delete(j);
}

static void a_photo_of_a_cat_and_accessors(void **state) {
  (void)state;
  tok_clip *t = load_sd1();
  int64_t ids[MAXLEN];
  size_t n = 0;
  herr e;
  assert_int_equal(tok_clip_encode(t, "a photo of a cat", ids, 0, &n, &e), 0); /* 0: model_max_length */
  const int64_t want[] = {49406, 320, 1125, 539, 320, 2368, 49407};
  assert_int_equal(n, 7);
  assert_memory_equal(ids, want, sizeof want);
  for (size_t i = 7; i < MAXLEN; i++) assert_int_equal(ids[i], 49407);
  assert_int_equal(tok_clip_vocab_size(t), 49408);
  assert_int_equal(tok_clip_model_max_length(t), 77);
  assert_int_equal(tok_clip_bos_id(t), 49406);
  assert_int_equal(tok_clip_eos_id(t), 49407);
  assert_int_equal(tok_clip_pad_id(t), 49407);
  assert_int_equal(tok_clip_unk_id(t), 49407);
  assert_int_equal(tok_clip_token_id(t, "cat</w>"), 2368);
  assert_int_equal(tok_clip_token_id(t, "<nope>"), -1);
  assert_string_equal(tok_clip_decode_token(t, 2368), "cat</w>");
  assert_null(tok_clip_decode_token(t, 49408));
  tok_clip_free(t);
}

static void long_prompt_truncated_with_eos_last(void **state) {
  (void)state;
  tok_clip *t = load_sd1();
  char text[2000] = "";
  for (int i = 0; i < 150; i++) strcat(text, i % 2 ? "prostate " : "lesion, ");
  int64_t ids[MAXLEN];
  size_t n = 0;
  herr e;
  assert_int_equal(tok_clip_encode(t, text, ids, MAXLEN, &n, &e), 0);
  assert_int_equal(n, MAXLEN);
  assert_int_equal(ids[0], 49406);
  assert_int_equal(ids[MAXLEN - 1], 49407);
  int64_t *raw;
  size_t n_raw;
  assert_int_equal(tok_clip_encode_raw(t, text, &raw, &n_raw, &e), 0);
  assert_true(n_raw > 200);
  assert_memory_equal(ids + 1, raw, (MAXLEN - 2) * sizeof *raw);
  free(raw);
  /* A shorter max_len truncates the same way. */
  int64_t short_ids[5];
  assert_int_equal(tok_clip_encode(t, "a photo of a cat", short_ids, 5, &n, &e), 0);
  const int64_t want[] = {49406, 320, 1125, 539, 49407};
  assert_memory_equal(short_ids, want, sizeof want);
  assert_int_equal(tok_clip_encode(t, "a", short_ids, 1, &n, &e), -1);
  tok_clip_free(t);
}

static void same_ids(const tok_clip *t, const char *a, const char *b) {
  int64_t x[MAXLEN], y[MAXLEN];
  herr e;
  assert_int_equal(tok_clip_encode(t, a, x, MAXLEN, NULL, &e), 0);
  assert_int_equal(tok_clip_encode(t, b, y, MAXLEN, NULL, &e), 0);
  if (memcmp(x, y, sizeof x) != 0) print_message("\"%s\" and \"%s\" differ\n", a, b);
  assert_memory_equal(x, y, sizeof x);
}

static void unicode_normalisation(void **state) {
  (void)state;
  tok_clip *t = load_sd1();
  same_ids(t, "cafe\xcc\x81 cre\xcc\x80me", "caf\xc3\xa9 cr\xc3\xa8me");        /* NFC composes */
  same_ids(t, "CAF\xc3\x89", "caf\xc3\xa9");                                      /* non-ASCII lower() */
  same_ids(t, "a\xe2\x80\x8b photo\x01 of\xc2\xa0" "a cat", "a photo of a cat"); /* Cf/Cc dropped, NBSP */
  same_ids(t, "\xce\x8c\xce\xa3\xce\x9f\xce\xa3", "\xcf\x8c\xcf\x83\xce\xbf\xcf\x82"); /* final sigma */
  same_ids(t, "x\xe4\xb8\xad\xe6\x96\x87y", "x \xe4\xb8\xad \xe6\x96\x87 y");         /* CJK spaced out */
  same_ids(t, "<|STARTOFTEXT|>", "<|startoftext|>"); /* lower-cased marker still maps to itself */
  tok_clip_free(t);
}

static void invalid_utf8_is_an_error(void **state) {
  (void)state;
  tok_clip *t = load_sd1();
  const char *bad[] = {"a \xff photo", "caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x28\xa1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int64_t ids[MAXLEN];
    herr e;
    assert_int_equal(tok_clip_encode(t, bad[i], ids, MAXLEN, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "invalid UTF-8"));
    int64_t *raw = (int64_t *)1;
    size_t n = 9;
    assert_int_equal(tok_clip_encode_raw(t, bad[i], &raw, &n, &e), -1);
    assert_null(raw);
  }
  herr e;
  assert_int_equal(tok_clip_add_token(t, "<bad\xff>", NULL, &e), -1);
  assert_non_null(strstr(e.msg, "invalid UTF-8"));
  tok_clip_free(t);
}

static void add_token_errors(void **state) {
  (void)state;
  tok_clip *t = load_sd1();
  herr e;
  int64_t id;
  assert_int_equal(tok_clip_add_token(t, "cat</w>", &id, &e), -1);
  assert_non_null(strstr(e.msg, "cat</w>"));
  assert_int_equal(tok_clip_add_token(t, "", &id, &e), -1);
  assert_int_equal(tok_clip_add_token(t, "<tok>", &id, &e), 0);
  assert_int_equal(id, 49408);
  assert_int_equal(tok_clip_add_token(t, "<tok>", &id, &e), -1);
  assert_non_null(strstr(e.msg, "already"));
  assert_int_equal(tok_clip_add_token(t, "<tok>_1", &id, &e), 0);
  assert_int_equal(id, 49409);
  assert_int_equal(tok_clip_token_id(t, "<tok>_1"), 49409);
  assert_string_equal(tok_clip_decode_token(t, 49409), "<tok>_1");
  int64_t ids[MAXLEN];
  size_t n;
  assert_int_equal(tok_clip_encode(t, "a<tok>_1 <tok>", ids, MAXLEN, &n, &e), 0);
  const int64_t want[] = {49406, 320, 49409, 49408, 49407};
  assert_int_equal(n, 5);
  assert_memory_equal(ids, want, sizeof want);
  tok_clip_free(t);
}

/* Loads dir and expects failure whose message holds both fragments. */
static void expect_load_error(const char *dir, const char *frag1, const char *frag2) {
  herr e;
  tok_clip *t = tok_clip_load(dir, &e);
  if (t) tok_clip_free(t);
  assert_null(t);
  if (!strstr(e.msg, frag1) || !strstr(e.msg, frag2)) print_message("message: %s\n", e.msg);
  assert_non_null(strstr(e.msg, frag1));
  assert_non_null(strstr(e.msg, frag2));
}

static void load_errors_name_file_and_problem(void **state) {
  (void)state;
  expect_load_error("/nonexistent/tokenizer", "/nonexistent/tokenizer", "not a directory");

  char *d = scratch_dir();
  expect_load_error(d, "vocab.json", "missing");
  write_file(d, "vocab.json", "{\"a\": 0, \"b\": ");
  expect_load_error(d, "vocab.json", "not valid JSON");
  write_file(d, "vocab.json", "[1, 2]");
  expect_load_error(d, "vocab.json", "JSON object");
  write_file(d, "vocab.json", "{\"a\": 0, \"b\": \"x\"}");
  expect_load_error(d, "vocab.json", "\"b\"");
  write_file(d, "vocab.json",
             "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4, \"<|startoftext|>\": 5, "
             "\"<|endoftext|>\": 6}");
  expect_load_error(d, "merges.txt", "missing");
  write_file(d, "merges.txt", "#version: 0.2\na b</w>\nab\n");
  expect_load_error(d, "merges.txt", "line 3");
  write_file(d, "merges.txt", "#version: 0.2\na b</w>\nb a\n");
  expect_load_error(d, "line 3", "\"ba\", which is not in vocab.json");

  write_file(d, "merges.txt", "#version: 0.2\na b</w>\n");
  herr e;
  tok_clip *t = tok_clip_load(d, &e);
  assert_non_null(t); /* no config files: CLIP defaults */
  int64_t ids[4];
  size_t n;
  assert_int_equal(tok_clip_encode(t, "AB", ids, 4, &n, &e), 0);
  const int64_t want[] = {5, 4, 6, 6};
  assert_memory_equal(ids, want, sizeof want);
  assert_int_equal(tok_clip_encode(t, "ab", ids, 0, &n, &e), -1); /* no model_max_length */
  assert_non_null(strstr(e.msg, "model_max_length"));
  tok_clip_free(t);

  write_file(d, "special_tokens_map.json", "{\"pad_token\": ");
  expect_load_error(d, "special_tokens_map.json", "not valid JSON");
  write_file(d, "special_tokens_map.json", "{\"pad_token\": {\"lstrip\": true}}");
  expect_load_error(d, "special_tokens_map.json", "pad_token");
  write_file(d, "special_tokens_map.json", "{\"pad_token\": \"<pad>\"}");
  write_file(d, "tokenizer_config.json", "{\"model_max_length\": -3}");
  expect_load_error(d, "tokenizer_config.json", "model_max_length");
  write_file(d, "tokenizer_config.json", "{\"model_max_length\": 4}");
  write_file(d, "added_tokens.json", "{\"<x>\": 9}");
  expect_load_error(d, "added_tokens.json", "\"<x>\" has id 9");
  write_file(d, "added_tokens.json", "{\"<x>\": 7}");
  t = tok_clip_load(d, &e);
  if (!t) print_message("%s\n", e.msg);
  assert_non_null(t);
  /* added_tokens.json first (7), then the pad token missing from the vocab gets the next id. */
  assert_int_equal(tok_clip_token_id(t, "<x>"), 7);
  assert_int_equal(tok_clip_pad_id(t), 8);
  assert_int_equal(tok_clip_encode(t, "b<x>", ids, 0, &n, &e), 0);
  const int64_t want2[] = {5, 3, 7, 6};
  assert_memory_equal(ids, want2, sizeof want2);
  assert_int_equal(tok_clip_encode(t, "", ids, 0, &n, &e), 0);
  const int64_t want3[] = {5, 6, 8, 8};
  assert_memory_equal(ids, want3, sizeof want3);
  tok_clip_free(t);
  remove_dir(d);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sd1_golden_cases),
      cmocka_unit_test(sd2_golden_cases),
      cmocka_unit_test(added_token_cases),
      cmocka_unit_test(a_photo_of_a_cat_and_accessors),
      cmocka_unit_test(long_prompt_truncated_with_eos_last),
      cmocka_unit_test(unicode_normalisation),
      cmocka_unit_test(invalid_utf8_is_an_error),
      cmocka_unit_test(add_token_errors),
      cmocka_unit_test(load_errors_name_file_and_problem),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

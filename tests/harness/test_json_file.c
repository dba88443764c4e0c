/* json_file: bounded reading with line:column parse errors, and typed getters whose messages
 * name the file, the key and what was expected. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "harness/formats/json_file.h"
#include "test_main.h"

static char *write_tmp(const char *text) {
  char tmpl[] = "/tmp/mdh-jf-XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return strdup(tmpl);
}

/* Parses `text` through a file, as jf_read sees it. */
static cJSON *parse(const char *text) {
  char *p = write_tmp(text);
  herr e = {{0}};
  cJSON *j = jf_read(p, 1 << 20, &e);
  if (!j) fail_msg("%s", e.msg);
  unlink(p);
  free(p);
  return j;
}

static void reads_reference_unet_config(void **state) {
  char *path = golden_path_or_skip("unet_sd2/config.json");
  herr e = {{0}};
  cJSON *j = jf_read(path, 1 << 20, &e);
  if (!j) fail_msg("%s", e.msg);
  const char *f = "unet/config.json";
  long long blocks[8], heads[8], layers, nah;
  size_t nb;
  assert_int_equal(jf_get_int_array(j, f, "block_out_channels", blocks, 8, &nb, &e), 0);
  assert_int_equal(nb, 4);
  assert_int_equal(blocks[0], 32);
  assert_int_equal(blocks[3], 64);
  assert_int_equal(jf_get_int_or_array(j, f, "attention_head_dim", true, 8, 1, 4096, heads, nb, &e), 0);
  assert_int_equal(heads[0], 2);
  assert_int_equal(heads[2], 4);
  assert_int_equal(jf_get_int(j, f, "layers_per_block", true, 2, 1, 64, &layers, &e), 0);
  assert_int_equal(layers, 2);
  /* "num_attention_heads": null — counts as absent, so the default applies */
  assert_int_equal(jf_get_int(j, f, "num_attention_heads", false, -1, 1, 4096, &nah, &e), 0);
  assert_int_equal(nah, -1);
  assert_false(jf_has(j, "num_attention_heads"));
  double eps;
  assert_int_equal(jf_get_double(j, f, "norm_eps", true, 0, 0, 1, &eps, &e), 0);
  assert_true(eps == 1e-5);
  bool center;
  assert_int_equal(jf_get_bool(j, f, "center_input_sample", true, true, &center, &e), 0);
  assert_false(center);
  const char *types[8], *act;
  size_t nt;
  assert_int_equal(jf_get_string_array(j, f, "down_block_types", types, 8, &nt, &e), 0);
  assert_int_equal(nt, 4);
  assert_string_equal(types[0], "CrossAttnDownBlock2D");
  assert_string_equal(types[3], "DownBlock2D");
  assert_int_equal(jf_get_string(j, f, "act_fn", true, NULL, &act, &e), 0);
  assert_string_equal(act, "silu");
  cJSON_Delete(j);
  free(path);
}

static void int_errors_name_file_key_range_and_value(void **state) {
  cJSON *j = parse("{\"layers_per_block\": 2.5, \"big\": 100, \"s\": \"3\", \"n\": null}");
  herr e = {{0}};
  long long v;
  assert_int_equal(jf_get_int(j, "unet/config.json", "layers_per_block", true, 0, 1, 64, &v, &e), -1);
  assert_string_equal(e.msg, "unet/config.json: key 'layers_per_block' must be an integer between 1 and 64, got 2.5");
  assert_int_equal(jf_get_int(j, "c.json", "big", true, 0, 1, 64, &v, &e), -1);
  assert_string_equal(e.msg, "c.json: key 'big' must be an integer between 1 and 64, got 100");
  assert_int_equal(jf_get_int(j, "c.json", "s", true, 0, 0, LLONG_MAX, &v, &e), -1);
  assert_string_equal(e.msg, "c.json: key 's' must be an integer >= 0, got \"3\"");
  assert_int_equal(jf_get_int(j, "c.json", "missing", true, 0, 0, 9, &v, &e), -1);
  assert_string_equal(e.msg, "c.json: key 'missing' (an integer) is missing");
  assert_int_equal(jf_get_int(j, "c.json", "n", true, 0, 0, 9, &v, &e), -1);
  assert_string_equal(e.msg, "c.json: key 'n' (an integer) is null");
  assert_int_equal(jf_get_int(j, "c.json", "missing", false, 7, 0, 9, &v, &e), 0);
  assert_int_equal(v, 7);
  assert_int_equal(jf_get_int(j, "c.json", "big", false, 7, LLONG_MIN, LLONG_MAX, &v, &e), 0);
  assert_int_equal(v, 100);
  cJSON_Delete(j);
}

static void typed_getters_reject_wrong_types(void **state) {
  cJSON *j = parse("{\"b\": 1, \"s\": 3, \"d\": \"x\", \"o\": [1], \"lr\": 0.5, \"neg\": -1e-3}");
  herr e = {{0}};
  bool b;
  assert_int_equal(jf_get_bool(j, "f.json", "b", true, false, &b, &e), -1);
  assert_string_equal(e.msg, "f.json: key 'b' must be true or false, got 1");
  const char *s;
  assert_int_equal(jf_get_string(j, "f.json", "s", true, NULL, &s, &e), -1);
  assert_string_equal(e.msg, "f.json: key 's' must be a string, got 3");
  assert_int_equal(jf_get_string(j, "f.json", "absent", false, "dflt", &s, &e), 0);
  assert_string_equal(s, "dflt");
  double d;
  assert_int_equal(jf_get_double(j, "f.json", "d", true, 0, -HUGE_VAL, HUGE_VAL, &d, &e), -1);
  assert_string_equal(e.msg, "f.json: key 'd' must be a number, got \"x\"");
  assert_int_equal(jf_get_double(j, "f.json", "neg", true, 0, 0, 1, &d, &e), -1);
  assert_non_null(strstr(e.msg, "key 'neg' must be a number between 0 and 1, got -0.001"));
  assert_int_equal(jf_get_double(j, "f.json", "lr", true, 0, 0.1, 0.3, &d, &e), -1);
  assert_string_equal(e.msg, "f.json: key 'lr' must be a number between 0.1 and 0.3, got 0.5");
  assert_int_equal(jf_get_double(j, "f.json", "lr", true, 0, 0, 1, &d, &e), 0);
  assert_true(d == 0.5);
  assert_int_equal(jf_get_double(j, "f.json", "b", true, 0, 0, 10, &d, &e), 0); /* ints are numbers */
  assert_true(d == 1.0);
  const cJSON *o;
  assert_int_equal(jf_get_object(j, "f.json", "o", true, &o, &e), -1);
  assert_string_equal(e.msg, "f.json: key 'o' must be an object, got [1]");
  assert_int_equal(jf_get_object(j, "f.json", "absent", false, &o, &e), 0);
  assert_null(o);
  cJSON_Delete(j);
  cJSON *arr = parse("[1, 2]");
  long long v;
  assert_int_equal(jf_get_int(arr, "top.json", "k", false, 0, 0, 1, &v, &e), -1);
  assert_non_null(strstr(e.msg, "top.json: expected a JSON object"));
  cJSON_Delete(arr);
}

static void int_or_array_accepts_a_scalar_or_a_list(void **state) {
  cJSON *j = parse("{\"one\": 8, \"list\": [5, 10, 20, 20], \"short\": [1, 2], \"bad\": [1, 2.5, 3, 4],"
                   " \"str\": \"8\", \"nul\": null}");
  herr e = {{0}};
  long long out[4];
  assert_int_equal(jf_get_int_or_array(j, "u.json", "one", true, 0, 1, 64, out, 4, &e), 0);
  for (int i = 0; i < 4; i++) assert_int_equal(out[i], 8);
  assert_int_equal(jf_get_int_or_array(j, "u.json", "list", true, 0, 1, 64, out, 4, &e), 0);
  assert_int_equal(out[0], 5);
  assert_int_equal(out[3], 20);
  assert_int_equal(jf_get_int_or_array(j, "u.json", "nul", false, 3, 1, 64, out, 4, &e), 0);
  assert_int_equal(out[2], 3);
  assert_int_equal(jf_get_int_or_array(j, "u.json", "short", true, 0, 1, 64, out, 4, &e), -1);
  assert_string_equal(e.msg, "u.json: key 'short' must be an integer or a list of 4 integers, got a list of 2");
  assert_int_equal(jf_get_int_or_array(j, "u.json", "bad", true, 0, 1, 64, out, 4, &e), -1);
  assert_string_equal(e.msg, "u.json: key 'bad'[1] must be an integer between 1 and 64, got 2.5");
  assert_int_equal(jf_get_int_or_array(j, "u.json", "str", true, 0, 1, 64, out, 4, &e), -1);
  assert_non_null(strstr(e.msg, "key 'str' must be an integer or a list of 4 integers, got \"8\""));
  assert_int_equal(jf_get_int_or_array(j, "u.json", "one", true, 0, 1, 4, out, 4, &e), -1);
  assert_non_null(strstr(e.msg, "between 1 and 4, got 8"));
  cJSON_Delete(j);
}

static void arrays_check_entries_and_capacity(void **state) {
  cJSON *j = parse("{\"ints\": [1, 2, 3], \"mixed\": [1, \"a\"], \"names\": [\"a\", 2], \"not\": 5,"
                   " \"betas\": [0.1, 0.2]}");
  herr e = {{0}};
  long long iv[3];
  size_t n;
  assert_int_equal(jf_get_int_array(j, "a.json", "ints", iv, 3, &n, &e), 0);
  assert_int_equal(n, 3);
  assert_int_equal(iv[2], 3);
  assert_int_equal(jf_get_int_array(j, "a.json", "ints", iv, 2, &n, &e), -1);
  assert_string_equal(e.msg, "a.json: key 'ints' has 3 entries, at most 2 are supported");
  assert_int_equal(jf_get_int_array(j, "a.json", "mixed", iv, 3, &n, &e), -1);
  assert_string_equal(e.msg, "a.json: key 'mixed'[1] must be an integer, got \"a\"");
  assert_int_equal(jf_get_int_array(j, "a.json", "not", iv, 3, &n, &e), -1);
  assert_string_equal(e.msg, "a.json: key 'not' must be a list of integers, got 5");
  assert_int_equal(jf_get_int_array(j, "a.json", "nothere", iv, 3, &n, &e), -1);
  assert_non_null(strstr(e.msg, "key 'nothere' (a list of integers) is missing"));
  const char *sv[2];
  assert_int_equal(jf_get_string_array(j, "a.json", "names", sv, 2, &n, &e), -1);
  assert_string_equal(e.msg, "a.json: key 'names'[1] must be a string, got 2");
  double dv[4];
  assert_int_equal(jf_get_double_array(j, "a.json", "betas", dv, 4, &n, &e), 0);
  assert_int_equal(n, 2);
  assert_true(dv[1] == 0.2);
  cJSON_Delete(j);
}

static void last_duplicate_key_wins_like_python(void **state) {
  cJSON *j = parse("{\"k\": 1, \"k\": 2}");
  herr e = {{0}};
  long long v;
  assert_int_equal(jf_get_int(j, "d.json", "k", true, 0, LLONG_MIN, LLONG_MAX, &v, &e), 0);
  assert_int_equal(v, 2);
  cJSON_Delete(j);
}

static void parse_errors_give_line_and_column(void **state) {
  char *p = write_tmp("{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  herr e = {{0}};
  assert_null(jf_read(p, 1 << 20, &e));
  char want[256];
  snprintf(want, sizeof want, "%s:3:8: invalid JSON near ']'", p);
  assert_string_equal(e.msg, want);
  unlink(p);
  free(p);
  p = write_tmp("{\"a\": [1, 2");
  assert_null(jf_read(p, 1 << 20, &e));
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "invalid JSON"));
  unlink(p);
  free(p);
  p = write_tmp("{\"a\": 1} trailing");
  assert_null(jf_read(p, 1 << 20, &e));
  snprintf(want, sizeof want, "%s:1:10: invalid JSON near 'trailing'", p);
  assert_string_equal(e.msg, want);
  unlink(p);
  free(p);
  p = write_tmp("  \n");
  assert_null(jf_read(p, 1 << 20, &e));
  assert_non_null(strstr(e.msg, "empty"));
  unlink(p);
  free(p);
}

static void read_limits_size_and_names_missing_file(void **state) {
  char *p = write_tmp("{\"a\": \"0123456789\"}");
  herr e = {{0}};
  assert_null(jf_read(p, 10, &e));
  assert_non_null(strstr(e.msg, p));
  assert_non_null(strstr(e.msg, "10-byte limit"));
  cJSON *j = jf_read(p, 19, &e); /* exactly at the limit */
  assert_non_null(j);
  cJSON_Delete(j);
  unlink(p);
  free(p);
  assert_null(jf_read("/nonexistent/config.json", 100, &e));
  assert_non_null(strstr(e.msg, "/nonexistent/config.json"));
  p = write_tmp("\xEF\xBB\xBF{\"bom\": true}");
  j = jf_read(p, 100, &e);
  assert_non_null(j);
  bool b = false;
  assert_int_equal(jf_get_bool(j, p, "bom", true, false, &b, &e), 0);
  assert_true(b);
  cJSON_Delete(j);
  unlink(p);
  free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_reference_unet_config),
      cmocka_unit_test(int_errors_name_file_key_range_and_value),
      cmocka_unit_test(typed_getters_reject_wrong_types),
      cmocka_unit_test(int_or_array_accepts_a_scalar_or_a_list),
      cmocka_unit_test(arrays_check_entries_and_capacity),
      cmocka_unit_test(last_duplicate_key_wins_like_python),
      cmocka_unit_test(parse_errors_give_line_and_column),
      cmocka_unit_test(read_limits_size_and_names_missing_file),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

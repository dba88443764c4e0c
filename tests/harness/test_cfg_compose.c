/* Composition (defaults lists, lookup, cycles), deep merge, ${ENV} interpolation and
 * command-line overrides. Files are written into a fresh mkdtemp directory per test. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/util/fsutil.h"

static char *make_tmpdir(void) {
  char tmpl[] = "/tmp/mdh_cfg_XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

static void remove_tmpdir(char *dir) {
  herr e;
  assert_int_equal(fs_remove_tree(dir, &e), 0);
  free(dir);
}

/* Writes dir/rel (creating folders) and returns the full path (caller frees). */
static char *write_file(const char *dir, const char *rel, const char *text) {
  char *path = fs_join(dir, rel);
  char *parent = fs_dirname(path);
  herr e;
  assert_int_equal(fs_mkdir_p(parent, &e), 0);
  free(parent);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void assert_canonical(const cfg_node *n, const char *expected) {
  char *c = cfg_canonical(n);
  assert_string_equal(c, expected);
  free(c);
}

static cfg_node *load_ok(const char *path, const char *root) {
  herr e = {{0}};
  cfg_node *n = cfg_load(path, root, &e);
  if (!n) fail_msg("unexpected load error: %s", e.msg);
  return n;
}

static cfg_node *parse_ok(const char *text) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  if (!n) fail_msg("unexpected parse error: %s", e.msg);
  return n;
}

static void defaults_list_merges_paths_at_root_and_groups_under_key(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml",
                         "defaults:\n  - base/common\n  - model: sd2\ntoy:\n  lr: 0.5\n");
  free(write_file(dir, "base/common.yaml", "toy:\n  lr: 0.1\n  steps: 10\nseed: 1\n"));
  free(write_file(dir, "model/sd2.yaml", "name: sd2\nres: 512\n"));
  cfg_node *root = load_ok(top, NULL);
  assert_canonical(root, "{\"model\":{\"name\":\"sd2\",\"res\":512},\"seed\":1,"
                         "\"toy\":{\"lr\":0.5,\"steps\":10}}");
  /* Parts first, in order; the file's own value replaces in place. */
  assert_int_equal(root->len, 3);
  assert_string_equal(root->keys[0], "toy");
  assert_string_equal(root->keys[1], "seed");
  assert_string_equal(root->keys[2], "model");
  cfg_node *lr = cfg_get(root, "toy.lr");
  assert_string_equal(lr->loc.file, top);
  assert_int_equal(lr->loc.line, 5);
  cfg_node *steps = cfg_get(root, "toy.steps");
  assert_true(strstr(steps->loc.file, "base/common.yaml") != NULL);
  assert_null(cfg_get(root, "defaults"));
  cfg_free(root);
  free(top);
  remove_tmpdir(dir);
}

static void parts_compose_their_own_defaults(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml", "defaults:\n  - model: big\nmodel:\n  depth: 3\n");
  free(write_file(dir, "model/big.yaml",
                  "defaults:\n  - unet: wide\n  - model/common\nwidth: 64\n"));
  free(write_file(dir, "model/common.yaml", "depth: 1\nact: silu\n"));
  free(write_file(dir, "model/unet/wide.yaml", "channels: [64, 128]\n"));
  cfg_node *root = load_ok(top, NULL);
  assert_canonical(root, "{\"model\":{\"act\":\"silu\",\"depth\":3,\"unet\":{\"channels\":[64,"
                         "128]},\"width\":64}}");
  cfg_free(root);
  free(top);
  remove_tmpdir(dir);
}

static void part_lookup_tries_including_dir_then_search_root(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml", "defaults:\n  - sub/a\n");
  free(write_file(dir, "sub/a.yaml", "defaults:\n  - b\n  - shared/c\nfrom_a: 1\n"));
  free(write_file(dir, "sub/b.yaml", "b: near\n"));
  free(write_file(dir, "b.yaml", "b: root\n"));
  free(write_file(dir, "shared/c.yaml", "c: root\n"));
  cfg_node *root = load_ok(top, NULL);
  assert_canonical(root, "{\"b\":\"near\",\"c\":\"root\",\"from_a\":1}");
  cfg_free(root);

  /* An explicit search root replaces the top file's directory. */
  char *other = make_tmpdir();
  free(write_file(other, "shared/c.yaml", "c: other\n"));
  free(write_file(other, "sub/a.yaml", "a: other\n"));
  root = load_ok(top, other);
  /* sub/a is still found next to x.yaml first. */
  assert_canonical(root, "{\"b\":\"near\",\"c\":\"other\",\"from_a\":1}");
  cfg_free(root);
  free(top);
  remove_tmpdir(other);
  remove_tmpdir(dir);
}

static void missing_part_names_includer_and_places_looked(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml", "seed: 1\ndefaults:\n  - model: sd3\n");
  herr e;
  assert_null(cfg_load(top, NULL, &e));
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s:3:12: defaults: cannot find part 'model/sd3' (looked for %s/model/sd3.yaml)", top,
           dir);
  assert_string_equal(e.msg, expected);

  char *other = make_tmpdir();
  assert_null(cfg_load(top, other, &e));
  snprintf(expected, sizeof expected,
           "%s:3:12: defaults: cannot find part 'model/sd3' (looked for %s/model/sd3.yaml and "
           "%s/model/sd3.yaml)",
           top, dir, other);
  assert_string_equal(e.msg, expected);
  free(top);
  remove_tmpdir(other);
  remove_tmpdir(dir);
}

static void include_cycle_is_an_error(void **state) {
  char *dir = make_tmpdir();
  char *a = write_file(dir, "a.yaml", "defaults:\n  - b\nx: 1\n");
  free(write_file(dir, "b.yaml", "defaults:\n  - a\ny: 2\n"));
  herr e;
  assert_null(cfg_load(a, NULL, &e));
  char expected[2048];
  snprintf(expected, sizeof expected,
           "%s/b.yaml:2:5: defaults: include cycle: %s -> %s/b.yaml -> %s/a.yaml (included "
           "from %s:2:5)",
           dir, a, dir, dir, a);
  assert_string_equal(e.msg, expected);
  free(a);
  remove_tmpdir(dir);
}

static void error_inside_part_names_part_and_includer(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml", "defaults:\n  - bad\n");
  free(write_file(dir, "bad.yaml", "a: [1\n"));
  herr e;
  assert_null(cfg_load(top, NULL, &e));
  char expected[2048];
  snprintf(expected, sizeof expected,
           "%s/bad.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while parsing "
           "a flow sequence that starts at line 1, column 4) (included from %s:2:5)",
           dir, top);
  assert_string_equal(e.msg, expected);
  free(top);
  remove_tmpdir(dir);
}

static void malformed_defaults_entries_are_errors(void **state) {
  char *dir = make_tmpdir();
  char *top = write_file(dir, "x.yaml", "defaults:\n  - {a: x, b: y}\n");
  herr e;
  assert_null(cfg_load(top, NULL, &e));
  char expected[1024];
  snprintf(expected, sizeof expected,
           "%s:2:5: defaults.0: expected 'path/name' or {group: name}, got a map", top);
  assert_string_equal(e.msg, expected);
  free(top);
  top = write_file(dir, "y.yaml", "defaults: base\n");
  assert_null(cfg_load(top, NULL, &e));
  snprintf(expected, sizeof expected,
           "%s:1:11: defaults: expected a list of parts ('path/name' or {group: name}), got "
           "'base'",
           top);
  assert_string_equal(e.msg, expected);
  free(top);
  remove_tmpdir(dir);
}

static void merge_is_deep_for_maps_and_replaces_the_rest(void **state) {
  cfg_node *base = parse_ok("a: {x: 1, y: [1, 2], z: {p: 1}}\nb: 2\nc: {k: v}\n");
  cfg_node *over = parse_ok("a: {y: [3], z: {q: 2}, w: new}\nc: scalar\nd: 4\n");
  cfg_merge(base, over);
  assert_canonical(base, "{\"a\":{\"w\":\"new\",\"x\":1,\"y\":[3],\"z\":{\"p\":1,\"q\":2}},"
                         "\"b\":2,\"c\":\"scalar\",\"d\":4}");
  assert_string_equal(base->keys[2], "c");
  assert_string_equal(base->keys[3], "d");
  cfg_free(base);
}

static void interpolation_substitutes_set_variables(void **state) {
  setenv("MDH_CFG_T_DIR", "/data/picai", 1);
  setenv("MDH_CFG_T_N", "12", 1);
  cfg_node *root =
      parse_ok("p: ${MDH_CFG_T_DIR}/images\nq: '${MDH_CFG_T_DIR}'\nn: ${MDH_CFG_T_N}\n"
               "s: \"${MDH_CFG_T_N}\"\nl:\n  - x${MDH_CFG_T_N}y\n");
  herr e;
  assert_int_equal(cfg_interpolate(root, &e), 0);
  assert_string_equal(cfg_get(root, "p")->str, "/data/picai/images");
  assert_string_equal(cfg_get(root, "q")->str, "/data/picai");
  assert_int_equal(cfg_scalar_type(cfg_get(root, "n")), CFG_T_INT);
  assert_int_equal(cfg_scalar_type(cfg_get(root, "s")), CFG_T_STR);
  assert_string_equal(cfg_get(root, "l.0")->str, "x12y");
  cfg_free(root);
  unsetenv("MDH_CFG_T_DIR");
  unsetenv("MDH_CFG_T_N");
}

static void unset_variable_without_fallback_is_an_error(void **state) {
  unsetenv("MDH_CFG_T_UNSET");
  cfg_node *root = parse_ok("a: 1\ndata:\n  dir: ${MDH_CFG_T_UNSET}/x\n");
  herr e;
  assert_int_equal(cfg_interpolate(root, &e), -1);
  assert_string_equal(e.msg, "x.yaml:3:8: environment variable MDH_CFG_T_UNSET is not set "
                             "(write ${MDH_CFG_T_UNSET:-fallback} for a default)");
  cfg_free(root);
}

static void fallback_is_used_and_keeps_yaml_type(void **state) {
  unsetenv("MDH_CFG_T_UNSET");
  setenv("MDH_CFG_T_EMPTY", "", 1);
  cfg_node *root = parse_ok("n: ${MDH_CFG_T_UNSET:-5}\nf: ${MDH_CFG_T_UNSET:-1e-3}\n"
                            "q: '${MDH_CFG_T_UNSET:-5}'\ne: ${MDH_CFG_T_EMPTY:-fb}\n"
                            "nested: ${MDH_CFG_T_UNSET:-${MDH_CFG_T_UNSET:-deep}}\n");
  herr e;
  assert_int_equal(cfg_interpolate(root, &e), 0);
  assert_string_equal(cfg_get(root, "n")->str, "5");
  assert_int_equal(cfg_scalar_type(cfg_get(root, "n")), CFG_T_INT);
  assert_int_equal(cfg_scalar_type(cfg_get(root, "f")), CFG_T_FLOAT);
  assert_int_equal(cfg_scalar_type(cfg_get(root, "q")), CFG_T_STR);
  assert_string_equal(cfg_get(root, "e")->str, "fb");
  assert_string_equal(cfg_get(root, "nested")->str, "deep");
  cfg_free(root);
  unsetenv("MDH_CFG_T_EMPTY");
}

static void double_dollar_brace_is_a_literal(void **state) {
  cfg_node *root = parse_ok("a: $${HOME}/x\nb: cost $$5 and $5\n");
  herr e;
  assert_int_equal(cfg_interpolate(root, &e), 0);
  assert_string_equal(cfg_get(root, "a")->str, "${HOME}/x");
  assert_string_equal(cfg_get(root, "b")->str, "cost $$5 and $5");
  cfg_free(root);
}

static void malformed_interpolation_is_an_error(void **state) {
  cfg_node *root = parse_ok("a: ${OOPS\n");
  herr e;
  assert_int_equal(cfg_interpolate(root, &e), -1);
  assert_string_equal(e.msg, "x.yaml:1:4: unterminated '${' in '${OOPS' (write $${ for a "
                             "literal ${)");
  cfg_free(root);
  root = parse_ok("a: ${1BAD}\n");
  assert_int_equal(cfg_interpolate(root, &e), -1);
  assert_string_equal(e.msg, "x.yaml:1:4: '${1BAD}' does not name an environment variable "
                             "(expected ${NAME} or ${NAME:-fallback})");
  cfg_free(root);
}

static void load_interpolates_after_composition(void **state) {
  char *dir = make_tmpdir();
  setenv("MDH_CFG_T_MODEL", "tiny", 1);
  char *top = write_file(dir, "x.yaml", "defaults:\n  - model: ${MDH_CFG_T_MODEL}\nout: ${MDH_CFG_T_MODEL}-run\n");
  free(write_file(dir, "model/tiny.yaml", "steps: ${MDH_CFG_T_UNSET:-3}\n"));
  unsetenv("MDH_CFG_T_UNSET");
  cfg_node *root = load_ok(top, NULL);
  assert_canonical(root, "{\"model\":{\"steps\":3},\"out\":\"tiny-run\"}");
  cfg_free(root);
  unsetenv("MDH_CFG_T_MODEL");
  free(top);
  remove_tmpdir(dir);
}

static void override_sets_scalars_lists_and_quoted_strings(void **state) {
  cfg_node *root = parse_ok("toy:\n  fit:\n    lr: 0.1\n    models: [a]\n");
  herr e;
  assert_int_equal(cfg_override(root, "toy.fit.lr=0.01", 1, &e), 0);
  assert_int_equal(cfg_override(root, "toy.fit.models=[b, c]", 2, &e), 0);
  assert_int_equal(cfg_override(root, "toy.name='1'", 3, &e), 0);
  assert_int_equal(cfg_override(root, "toy.opt={kind: adam, beta: 0.9}", 4, &e), 0);
  assert_int_equal(cfg_override(root, "toy.empty=", 5, &e), 0);
  assert_canonical(root, "{\"toy\":{\"empty\":\"\",\"fit\":{\"lr\":0.01,\"models\":[\"b\",\"c\"]},"
                         "\"name\":\"1\",\"opt\":{\"beta\":0.9,\"kind\":\"adam\"}}}");
  cfg_node *lr = cfg_get(root, "toy.fit.lr");
  char buf[64];
  assert_string_equal(cfg_loc_str(lr->loc, buf, sizeof buf), "<command line> argument 1");
  assert_string_equal(cfg_loc_str(cfg_get(root, "toy.fit.models.1")->loc, buf, sizeof buf),
                      "<command line> argument 2");
  cfg_free(root);
}

static void override_creates_new_nested_keys(void **state) {
  cfg_node *root = parse_ok("a: 1\n");
  herr e;
  assert_int_equal(cfg_override(root, "b.c.d=true", 7, &e), 0);
  assert_canonical(root, "{\"a\":1,\"b\":{\"c\":{\"d\":true}}}");
  cfg_free(root);
}

static void override_value_is_interpolated(void **state) {
  setenv("MDH_CFG_T_N", "12", 1);
  cfg_node *root = parse_ok("a: 1\n");
  herr e;
  assert_int_equal(cfg_override(root, "a=${MDH_CFG_T_N}", 1, &e), 0);
  assert_canonical(root, "{\"a\":12}");
  unsetenv("MDH_CFG_T_UNSET");
  assert_int_equal(cfg_override(root, "a=${MDH_CFG_T_UNSET}", 2, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 2: environment variable MDH_CFG_T_UNSET "
                             "is not set (write ${MDH_CFG_T_UNSET:-fallback} for a default)");
  cfg_free(root);
  unsetenv("MDH_CFG_T_N");
}

static void override_with_tilde_deletes_key(void **state) {
  cfg_node *root = parse_ok("a: {b: 1, c: 2}\n");
  herr e;
  assert_int_equal(cfg_override(root, "a.b~", 1, &e), 0);
  assert_canonical(root, "{\"a\":{\"c\":2}}");
  assert_int_equal(cfg_override(root, "a.zz~", 2, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 2: cannot delete 'a.zz': there is no such key");
  cfg_free(root);
}

static void bad_overrides_name_the_argument(void **state) {
  cfg_node *root = parse_ok("a: 1\n");
  herr e;
  assert_int_equal(cfg_override(root, "a=[1, 2", 3, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 3: a: cannot read the value '[1, 2': YAML "
                             "syntax error: did not find expected ',' or ']' (while parsing a "
                             "flow sequence that starts at line 1, column 1)");
  assert_int_equal(cfg_override(root, "justakey", 4, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 4: expected KEY=VALUE or KEY~ (to delete "
                             "KEY), got 'justakey'");
  assert_int_equal(cfg_override(root, "a..b=1", 5, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 5: 'a..b=1': expected a dotted key such as "
                             "a.b.c before '='");
  assert_int_equal(cfg_override(root, "a.b=1", 6, &e), -1);
  assert_string_equal(e.msg, "<command line> argument 6: a.b=1: x.yaml:1:4: cannot set 'a.b': "
                             "'a' is a scalar, not a map");
  assert_canonical(root, "{\"a\":1}");
  cfg_free(root);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults_list_merges_paths_at_root_and_groups_under_key),
    cmocka_unit_test(parts_compose_their_own_defaults),
    cmocka_unit_test(part_lookup_tries_including_dir_then_search_root),
    cmocka_unit_test(missing_part_names_includer_and_places_looked),
    cmocka_unit_test(include_cycle_is_an_error),
    cmocka_unit_test(error_inside_part_names_part_and_includer),
    cmocka_unit_test(malformed_defaults_entries_are_errors),
    cmocka_unit_test(merge_is_deep_for_maps_and_replaces_the_rest),
    cmocka_unit_test(interpolation_substitutes_set_variables),
    cmocka_unit_test(unset_variable_without_fallback_is_an_error),
    cmocka_unit_test(fallback_is_used_and_keeps_yaml_type),
    cmocka_unit_test(double_dollar_brace_is_a_literal),
    cmocka_unit_test(malformed_interpolation_is_an_error),
    cmocka_unit_test(load_interpolates_after_composition),
    cmocka_unit_test(override_sets_scalars_lists_and_quoted_strings),
    cmocka_unit_test(override_creates_new_nested_keys),
    cmocka_unit_test(override_value_is_interpolated),
    cmocka_unit_test(override_with_tilde_deletes_key),
    cmocka_unit_test(bad_overrides_name_the_argument),
};

MDH_TEST_MAIN(tests)

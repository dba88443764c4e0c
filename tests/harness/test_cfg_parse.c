/* Reading YAML into the config tree: scalar types, locations, syntax and duplicate-key
 * errors, anchors, tags, typed reads, path lookup and cfg_set. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"

static cfg_node *parse_ok(const char *text) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  if (!n) fail_msg("unexpected parse error: %s", e.msg);
  return n;
}

static void assert_parse_error(const char *text, const char *expected) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  assert_null(n);
  assert_string_equal(e.msg, expected);
}

static void scalar_types_follow_yaml_core_schema(void **state) {
  static const struct {
    const char *text;
    cfg_type type;
  } cases[] = {
      {"~", CFG_T_NULL},       {"null", CFG_T_NULL},     {"Null", CFG_T_NULL},
      {"NULL", CFG_T_NULL},    {"", CFG_T_NULL},         {"true", CFG_T_BOOL},
      {"False", CFG_T_BOOL},   {"TRUE", CFG_T_BOOL},     {"yes", CFG_T_STR},
      {"on", CFG_T_STR},       {"0", CFG_T_INT},         {"-17", CFG_T_INT},
      {"+3", CFG_T_INT},       {"0x1F", CFG_T_INT},      {"0o17", CFG_T_INT},
      {"0b101", CFG_T_STR},    {"1.5", CFG_T_FLOAT},     {"-.5", CFG_T_FLOAT},
      {"5.", CFG_T_FLOAT},     {"1e-4", CFG_T_FLOAT},    {"1E+3", CFG_T_FLOAT},
      {".inf", CFG_T_FLOAT},   {"-.Inf", CFG_T_FLOAT},   {".NaN", CFG_T_FLOAT},
      {"1e", CFG_T_STR},       {"1.2.3", CFG_T_STR},     {"abc", CFG_T_STR},
      {"1_000", CFG_T_STR},    {"nan", CFG_T_STR},       {"0x", CFG_T_STR},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[64];
    snprintf(text, sizeof text, "v: %s\n", cases[i].text);
    cfg_node *root = parse_ok(text);
    cfg_node *v = cfg_get(root, "v");
    assert_non_null(v);
    if (cfg_scalar_type(v) != cases[i].type)
      fail_msg("'%s' resolved to %d, expected %d", cases[i].text, cfg_scalar_type(v),
               cases[i].type);
    cfg_free(root);
  }
}

static void quoted_and_block_scalars_are_strings(void **state) {
  cfg_node *root = parse_ok("a: '1'\nb: \"true\"\nc: |\n  5\nd: >\n  null\ne: ''\n");
  const char *names[] = {"a", "b", "c", "d", "e"};
  for (size_t i = 0; i < 5; i++) {
    cfg_node *n = cfg_get(root, names[i]);
    assert_true(n->quoted);
    assert_int_equal(cfg_scalar_type(n), CFG_T_STR);
  }
  assert_string_equal(cfg_get(root, "c")->str, "5\n");
  assert_string_equal(cfg_get(root, "e")->str, "");
  cfg_free(root);
}

static void typed_reads_convert_values(void **state) {
  cfg_node *root = parse_ok("h: 0x1F\no: 0o17\nd: -42\nf: 2.5e-3\ni: -.inf\nb: False\ns: x y\n");
  herr e;
  long long v;
  assert_int_equal(cfg_int_at(root, "h", &v, &e), 0);
  assert_int_equal(v, 31);
  assert_int_equal(cfg_int_at(root, "o", &v, &e), 0);
  assert_int_equal(v, 15);
  assert_int_equal(cfg_int_at(root, "d", &v, &e), 0);
  assert_int_equal(v, -42);
  double d;
  assert_int_equal(cfg_double_at(root, "f", &d, &e), 0);
  assert_true(d == 2.5e-3);
  assert_int_equal(cfg_double_at(root, "d", &d, &e), 0);
  assert_true(d == -42.0);
  assert_int_equal(cfg_double_at(root, "i", &d, &e), 0);
  assert_true(isinf(d) && d < 0);
  bool b = true;
  assert_int_equal(cfg_bool_at(root, "b", &b, &e), 0);
  assert_false(b);
  const char *s;
  assert_int_equal(cfg_str_at(root, "s", &s, &e), 0);
  assert_string_equal(s, "x y");
  assert_int_equal(cfg_str_at(root, "d", &s, &e), 0);
  assert_string_equal(s, "-42");
  cfg_free(root);
}

static void typed_read_of_wrong_type_names_location(void **state) {
  cfg_node *root = parse_ok("toy:\n  fit:\n    steps: abc\n    lr: '5'\n    big: 99999999999999999999\n");
  herr e;
  long long v;
  assert_int_equal(cfg_as_int(cfg_get(root, "toy.fit.steps"), &v, &e), -1);
  assert_string_equal(e.msg, "x.yaml:3:12: expected an integer, got 'abc'");
  assert_int_equal(cfg_int_at(root, "toy.fit.steps", &v, &e), -1);
  assert_string_equal(e.msg, "x.yaml:3:12: toy.fit.steps: expected an integer, got 'abc'");
  double d;
  assert_int_equal(cfg_double_at(root, "toy.fit.lr", &d, &e), -1);
  assert_string_equal(e.msg, "x.yaml:4:9: toy.fit.lr: expected a number, got the string '5'");
  bool b;
  assert_int_equal(cfg_bool_at(root, "toy.fit", &b, &e), -1);
  assert_string_equal(e.msg, "x.yaml:3:5: toy.fit: expected true or false, got a map");
  assert_int_equal(cfg_int_at(root, "toy.fit.big", &v, &e), -1);
  assert_string_equal(e.msg, "x.yaml:5:10: toy.fit.big: expected an integer that fits in 64 "
                             "bits, got '99999999999999999999'");
  cfg_free(root);
}

static void missing_key_at_path_names_deepest_parent(void **state) {
  cfg_node *root = parse_ok("toy:\n  fit:\n    steps: 3\n");
  herr e;
  long long v;
  assert_int_equal(cfg_int_at(root, "toy.fit.lr", &v, &e), -1);
  assert_string_equal(e.msg, "x.yaml:3:5: toy.fit.lr: missing key");
  cfg_free(root);
}

static void nodes_and_keys_remember_one_based_locations(void **state) {
  cfg_node *root = parse_ok("# comment\ntoy:\n  fit: {lr: 0.1, steps: 5}\n  list:\n    - a\n    - b\n");
  cfg_node *toy = cfg_get(root, "toy");
  assert_string_equal(root->key_locs[0].file, "x.yaml");
  assert_int_equal(root->key_locs[0].line, 2);
  assert_int_equal(root->key_locs[0].col, 1);
  assert_int_equal(toy->key_locs[0].line, 3);
  assert_int_equal(toy->key_locs[0].col, 3);
  cfg_node *lr = cfg_get(root, "toy.fit.lr");
  assert_int_equal(lr->loc.line, 3);
  assert_int_equal(lr->loc.col, 13);
  cfg_node *fit = cfg_get(root, "toy.fit");
  assert_int_equal(fit->key_locs[1].col, 18);
  cfg_node *b = cfg_get(root, "toy.list.1");
  assert_string_equal(b->str, "b");
  assert_int_equal(b->loc.line, 6);
  assert_int_equal(b->loc.col, 7);
  /* Interned: every node of one file shares the same name pointer. */
  assert_ptr_equal(b->loc.file, root->loc.file);
  assert_ptr_equal(cfg_intern("x.yaml"), root->loc.file);
  cfg_free(root);
}

static void syntax_error_names_line_column_and_problem(void **state) {
  assert_parse_error("a: 1\nb: [1, 2\nc: 3\n",
                     "x.yaml:3:2: YAML syntax error: did not find expected ',' or ']' (while "
                     "parsing a flow sequence that starts at line 2, column 4)");
  assert_parse_error("a: 1\n  b: 2\n",
                     "x.yaml:2:4: YAML syntax error: mapping values are not allowed in this "
                     "context");
}

static void duplicate_key_is_an_error_naming_both_places(void **state) {
  assert_parse_error("toy:\n  lr: 1\n  steps: 2\n  lr: 3\n",
                     "x.yaml:4:3: toy.lr: duplicate key 'lr' (first written at 2:3)");
}

static void anchors_and_aliases_are_copied(void **state) {
  cfg_node *root = parse_ok("base: &b {lr: 0.1, opt: adam}\nrun: *b\nlist: [*b, *b]\n");
  cfg_node *run = cfg_get(root, "run");
  assert_ptr_not_equal(run, cfg_get(root, "base"));
  assert_true(cfg_equal(run, cfg_get(root, "base")));
  assert_int_equal(run->loc.line, 2);
  assert_int_equal(run->loc.col, 6);
  herr e;
  assert_int_equal(cfg_set(root, "run.lr", cfg_new_scalar("0.5", false, run->loc), &e), 0);
  assert_string_equal(cfg_get(root, "base.lr")->str, "0.1");
  assert_string_equal(cfg_get(root, "list.1.opt")->str, "adam");
  cfg_free(root);
}

static void bad_aliases_are_errors(void **state) {
  assert_parse_error("a: *nope\n", "x.yaml:1:4: a: alias '*nope' names no anchor");
  assert_parse_error("a: &x [1, *x]\n", "x.yaml:1:11: a.1: alias '*x' is inside the node it "
                                         "refers to");
}

static void core_tags_are_checked_and_others_rejected(void **state) {
  cfg_node *root = parse_ok("a: !!str 5\nb: !!float 5\nc: !!int '7'\nd: !!map {x: 1}\n");
  assert_int_equal(cfg_scalar_type(cfg_get(root, "a")), CFG_T_STR);
  assert_int_equal(cfg_scalar_type(cfg_get(root, "b")), CFG_T_FLOAT);
  assert_string_equal(cfg_get(root, "b")->str, "5.0");
  assert_int_equal(cfg_scalar_type(cfg_get(root, "c")), CFG_T_INT);
  cfg_free(root);
  assert_parse_error("a: !!int abc\n", "x.yaml:1:4: a: !!int: expected an integer, got 'abc'");
  assert_parse_error("a:\n  b: !foo x\n",
                     "x.yaml:2:6: a.b: unsupported tag '!foo' on a scalar (allowed: !!str, "
                     "!!int, !!float, !!bool, !!null, !!map, !!seq)");
  assert_parse_error("a: !!set {x: 1}\n",
                     "x.yaml:1:4: a: unsupported tag '!!set' on a map (allowed: !!str, !!int, "
                     "!!float, !!bool, !!null, !!map, !!seq)");
}

static void empty_document_is_an_empty_map(void **state) {
  const char *texts[] = {"", "# only a comment\n", "---\n"};
  for (size_t i = 0; i < 3; i++) {
    cfg_node *root = parse_ok(texts[i]);
    assert_int_equal(root->kind, CFG_MAP);
    assert_int_equal(root->len, 0);
    cfg_free(root);
  }
}

static void second_document_is_an_error(void **state) {
  assert_parse_error("a: 1\n---\nb: 2\n",
                     "x.yaml:2:1: expected a single YAML document, found another");
}

static void complex_key_is_an_error(void **state) {
  assert_parse_error("? [1, 2]\n: x\n", "x.yaml:1:3: a key must be a scalar, not a list");
}

static void parse_file_reports_missing_file(void **state) {
  herr e;
  assert_null(cfg_parse_file("/nonexistent/dir/x.yaml", &e));
  assert_string_equal(e.msg, "cannot open /nonexistent/dir/x.yaml: No such file or directory");
}

static void get_follows_keys_and_sequence_indices(void **state) {
  cfg_node *root = parse_ok("a:\n  list: [{x: 1}, {x: 2}]\n  m: {'0': zero}\n");
  assert_string_equal(cfg_get(root, "a.list.1.x")->str, "2");
  assert_string_equal(cfg_get(root, "a.m.0")->str, "zero");
  assert_ptr_equal(cfg_get(root, ""), root);
  assert_null(cfg_get(root, "a.list.2"));
  assert_null(cfg_get(root, "a.list.x"));
  assert_null(cfg_get(root, "a..list"));
  assert_null(cfg_get(root, "a.list.0.x.y"));
  cfg_free(root);
}

static void set_creates_maps_and_replaces_in_place(void **state) {
  cfg_node *root = parse_ok("a: 1\nb: {c: 2}\nd: 3\nl: [1, 2]\n");
  cfg_loc loc = {"t", 1, 1};
  herr e;
  assert_int_equal(cfg_set(root, "b.c", cfg_new_scalar("9", false, loc), &e), 0);
  assert_int_equal(cfg_set(root, "x.y.z", cfg_new_scalar("new", false, loc), &e), 0);
  assert_int_equal(cfg_set(root, "l.1", cfg_new_scalar("7", false, loc), &e), 0);
  char *c = cfg_canonical(root);
  assert_string_equal(c, "{\"a\":1,\"b\":{\"c\":9},\"d\":3,\"l\":[1,7],\"x\":{\"y\":{\"z\":\"new\"}}}");
  free(c);
  assert_string_equal(root->keys[1], "b"); /* replaced in place, order kept */
  assert_string_equal(root->keys[4], "x");
  assert_true(cfg_map_remove(root, "a"));
  assert_false(cfg_map_remove(root, "a"));
  assert_string_equal(root->keys[0], "b");
  cfg_free(root);
}

static void set_through_scalar_or_missing_index_fails(void **state) {
  cfg_node *root = parse_ok("a: 1\nl: [1, 2]\n");
  cfg_loc loc = {"t", 1, 1};
  herr e;
  assert_int_equal(cfg_set(root, "a.b", cfg_new_scalar("x", false, loc), &e), -1);
  assert_string_equal(e.msg, "x.yaml:1:4: cannot set 'a.b': 'a' is a scalar, not a map");
  assert_int_equal(cfg_set(root, "l.5", cfg_new_scalar("x", false, loc), &e), -1);
  assert_string_equal(e.msg,
                      "x.yaml:2:4: cannot set 'l.5': 'l' has 2 items, so index 5 does not exist");
  assert_int_equal(cfg_set(root, "l.k", cfg_new_scalar("x", false, loc), &e), -1);
  assert_string_equal(e.msg, "x.yaml:2:4: cannot set 'l.k': 'l' is a list and 'k' is not an index");
  cfg_free(root);
}

static void loc_str_formats_each_kind_of_location(void **state) {
  char buf[128];
  assert_string_equal(cfg_loc_str((cfg_loc){"a.yaml", 3, 7}, buf, sizeof buf), "a.yaml:3:7");
  assert_string_equal(cfg_loc_str((cfg_loc){"<default>", 0, 0}, buf, sizeof buf), "<default>");
  assert_string_equal(cfg_loc_str((cfg_loc){"<command line>", 0, 4}, buf, sizeof buf),
                      "<command line> argument 4");
}

static void clone_is_deep_and_equal(void **state) {
  cfg_node *root = parse_ok("a: {b: [1, {c: x}]}\n");
  cfg_node *copy = cfg_clone(root);
  assert_true(cfg_equal(root, copy));
  free(cfg_get(copy, "a.b.1.c")->str);
  cfg_get(copy, "a.b.1.c")->str = strdup("y");
  assert_false(cfg_equal(root, copy));
  assert_string_equal(cfg_get(root, "a.b.1.c")->str, "x");
  cfg_free(copy);
  cfg_free(root);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(scalar_types_follow_yaml_core_schema),
    cmocka_unit_test(quoted_and_block_scalars_are_strings),
    cmocka_unit_test(typed_reads_convert_values),
    cmocka_unit_test(typed_read_of_wrong_type_names_location),
    cmocka_unit_test(missing_key_at_path_names_deepest_parent),
    cmocka_unit_test(nodes_and_keys_remember_one_based_locations),
    cmocka_unit_test(syntax_error_names_line_column_and_problem),
    cmocka_unit_test(duplicate_key_is_an_error_naming_both_places),
    cmocka_unit_test(anchors_and_aliases_are_copied),
    cmocka_unit_test(bad_aliases_are_errors),
    cmocka_unit_test(core_tags_are_checked_and_others_rejected),
    cmocka_unit_test(empty_document_is_an_empty_map),
    cmocka_unit_test(second_document_is_an_error),
    cmocka_unit_test(complex_key_is_an_error),
    cmocka_unit_test(parse_file_reports_missing_file),
    cmocka_unit_test(get_follows_keys_and_sequence_indices),
    cmocka_unit_test(set_creates_maps_and_replaces_in_place),
    cmocka_unit_test(set_through_scalar_or_missing_index_fails),
    cmocka_unit_test(loc_str_formats_each_kind_of_location),
    cmocka_unit_test(clone_is_deep_and_equal),
};

MDH_TEST_MAIN(tests)

/* Writing configs: YAML that reads back equal (order, types, tricky strings) and the
 * canonical JSON used for hashing and equality. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"

static const cfg_loc LOC = {"t.yaml", 1, 1};

static cfg_node *parse_ok(const char *text) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  if (!n) fail_msg("unexpected parse error: %s\n--- text:\n%s", e.msg, text);
  return n;
}

static void assert_canonical(const char *yaml, const char *expected) {
  cfg_node *n = parse_ok(yaml);
  char *c = cfg_canonical(n);
  assert_string_equal(c, expected);
  free(c);
  cfg_free(n);
}

/* Same kinds, keys in the same order, same scalar types and texts for strings. */
static void assert_same_shape(const cfg_node *a, const cfg_node *b) {
  assert_int_equal(a->kind, b->kind);
  if (a->kind == CFG_SCALAR) {
    if (cfg_scalar_type(a) != cfg_scalar_type(b))
      fail_msg("'%s' (type %d) came back as '%s' (type %d)", a->str, cfg_scalar_type(a), b->str,
               cfg_scalar_type(b));
    if (cfg_scalar_type(a) == CFG_T_STR) assert_string_equal(a->str, b->str);
    return;
  }
  assert_int_equal(a->len, b->len);
  for (size_t i = 0; i < a->len; i++) {
    if (a->kind == CFG_MAP) assert_string_equal(a->keys[i], b->keys[i]);
    assert_same_shape(a->items[i], b->items[i]);
  }
}

static void assert_round_trip(const cfg_node *n) {
  char *yaml = cfg_to_yaml(n);
  cfg_node *back = parse_ok(yaml);
  assert_same_shape(n, back);
  assert_true(cfg_equal(n, back));
  cfg_free(back);
  free(yaml);
}

static const char *const tricky[] = {
    "true", "False", "1", "-2", "0x1F", "0o7", "+1", "1e3", ".inf", "-.inf", ".nan", "null",
    "~", "", " ", "a: b", "a:b", "#x", "x #y", " lead", "trail ", "-", "- x", "-x", "---",
    "...", "--- x", "[a]", "{a}", "a, b", "*x", "&x", "!x", "|", ">", "'", "\"", "%x", "@x",
    "`x", "?", "? x", ":x", "x:", "multi\nline", "tab\there", "back\\slash", "ctrl\x01",
    "yes", "on", "unicode \xc3\xa9", "line\xe2\x80\xa8sep", "nel\xc2\x85x", "=", "<<", "a=b",
    "C:\\path", "http://x.org/a?b=c#d", "$HOME", "${X}", "quote's", "end\n"};

static void tricky_strings_round_trip_as_values_and_keys(void **state) {
  cfg_node *root = cfg_new_map(LOC);
  cfg_node *seq = cfg_new_seq(LOC);
  cfg_node *as_keys = cfg_new_map(LOC);
  for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
    cfg_seq_push(seq, cfg_new_scalar(tricky[i], true, LOC));
    cfg_map_set(as_keys, tricky[i], LOC, cfg_new_scalar(tricky[i], true, LOC));
  }
  cfg_map_set(root, "values", LOC, seq);
  cfg_map_set(root, "keys", LOC, as_keys);
  assert_round_trip(root);
  cfg_free(root);
}

static void unquoted_scalars_keep_their_types(void **state) {
  cfg_node *root = parse_ok("i: 42\nh: 0x10\nf: 1.5e-3\nb: true\nn: ~\nnn:\nin: -.inf\n"
                            "s: plain text\nd: 2024-01-01\n");
  /* Text that only interpolation could produce: unquoted, yet not writable plain. */
  cfg_map_set(root, "odd", LOC, cfg_new_scalar("a: b #c", false, LOC));
  assert_round_trip(root);
  cfg_free(root);
}

static void emitted_yaml_is_block_style_in_key_order(void **state) {
  cfg_node *root = parse_ok("z: 1\na:\n  list: [1, {k: v, w: [x]}, [2, 3]]\n  empty_map: {}\n"
                            "  empty_list: []\n  s: 'true'\nm: {}\n");
  char *yaml = cfg_to_yaml(root);
  assert_string_equal(yaml,
                      "z: 1\n"
                      "a:\n"
                      "  list:\n"
                      "    - 1\n"
                      "    - k: v\n"
                      "      w:\n"
                      "        - x\n"
                      "    - - 2\n"
                      "      - 3\n"
                      "  empty_map: {}\n"
                      "  empty_list: []\n"
                      "  s: \"true\"\n"
                      "m: {}\n");
  free(yaml);
  cfg_free(root);
}

static void scalar_and_empty_roots_round_trip(void **state) {
  cfg_node *s = cfg_new_scalar("hello: world", true, LOC);
  assert_round_trip(s);
  cfg_free(s);
  cfg_node *seq = cfg_new_seq(LOC);
  char *yaml = cfg_to_yaml(seq);
  assert_string_equal(yaml, "[]\n");
  free(yaml);
  assert_round_trip(seq);
  cfg_free(seq);
  cfg_node *n = cfg_new_scalar("", false, LOC);
  yaml = cfg_to_yaml(n);
  assert_string_equal(yaml, "null\n");
  free(yaml);
  cfg_free(n);
}

static void canonical_sorts_keys_and_drops_whitespace(void **state) {
  assert_canonical("b: 1\na: {d: [x, 'y z'], c: null}\n",
                   "{\"a\":{\"c\":null,\"d\":[\"x\",\"y z\"]},\"b\":1}");
}

static void canonical_numbers_compare_by_value(void **state) {
  assert_canonical("a: 1e-4\nb: 0.0001\nc: 1\nd: 1.0\ne: 1e0\nf: 0x10\ng: 0o20\nh: +16\n"
                   "i: 0.1\nj: 1e300\nk: -0.0\nl: 9007199254740993.0\n",
                   "{\"a\":0.0001,\"b\":0.0001,\"c\":1,\"d\":1,\"e\":1,\"f\":16,\"g\":16,"
                   "\"h\":16,\"i\":0.1,\"j\":1e+300,\"k\":0,\"l\":9007199254740992}");
  /* Beyond 2^53 floats print as their shortest round-trip text; ints stay exact. */
  assert_canonical("a: 1.5e17\nb: 123456789012345678\nc: 99999999999999999999\n",
                   "{\"a\":1.5e+17,\"b\":123456789012345678,\"c\":99999999999999999999}");
}

static void canonical_keeps_quoted_text_as_strings(void **state) {
  assert_canonical("a: '1'\nb: \"true\"\nc: 'null'\nd: TRUE\ne: ~\n",
                   "{\"a\":\"1\",\"b\":\"true\",\"c\":\"null\",\"d\":true,\"e\":null}");
}

static void canonical_special_floats_do_not_collide_with_strings(void **state) {
  assert_canonical("a: .inf\nb: -.Inf\nc: .NaN\nd: inf\ne: {$float: inf}\n",
                   "{\"a\":{\"$float\":\"inf\"},\"b\":{\"$float\":\"-inf\"},\"c\":{\"$float\":"
                   "\"nan\"},\"d\":\"inf\",\"e\":{\"$$float\":\"inf\"}}");
  cfg_node *a = parse_ok("x: .inf\n");
  cfg_node *b = parse_ok("x: {$float: inf}\n");
  assert_false(cfg_equal(a, b));
  cfg_free(a);
  cfg_free(b);
}

static void canonical_escapes_strings_as_json(void **state) {
  assert_canonical("a: \"q\\\"b\\\\n\\nt\\tc\\x01\"\n", "{\"a\":\"q\\\"b\\\\n\\nt\\tc\\u0001\"}");
}

static void equality_ignores_order_location_and_number_spelling(void **state) {
  cfg_node *a = parse_ok("lr: 1e-4\nsteps: 10\nopt: {name: adam, betas: [0.9, 0.999]}\n");
  cfg_node *b = parse_ok("# other file\nopt:\n  betas:\n    - 9e-1\n    - 0.999\n  name: \"adam\"\n"
                         "steps: 10.0\nlr: 0.0001\n");
  assert_true(cfg_equal(a, b));
  cfg_node *c = parse_ok("lr: 1e-4\nsteps: '10'\nopt: {name: adam, betas: [0.9, 0.999]}\n");
  assert_false(cfg_equal(a, c));
  cfg_node *d = parse_ok("lr: 1e-4\nsteps: 10\nopt: {name: adam, betas: [0.999, 0.9]}\n");
  assert_false(cfg_equal(a, d));
  cfg_free(a);
  cfg_free(b);
  cfg_free(c);
  cfg_free(d);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(tricky_strings_round_trip_as_values_and_keys),
    cmocka_unit_test(unquoted_scalars_keep_their_types),
    cmocka_unit_test(emitted_yaml_is_block_style_in_key_order),
    cmocka_unit_test(scalar_and_empty_roots_round_trip),
    cmocka_unit_test(canonical_sorts_keys_and_drops_whitespace),
    cmocka_unit_test(canonical_numbers_compare_by_value),
    cmocka_unit_test(canonical_keeps_quoted_text_as_strings),
    cmocka_unit_test(canonical_special_floats_do_not_collide_with_strings),
    cmocka_unit_test(canonical_escapes_strings_as_json),
    cmocka_unit_test(equality_ignores_order_location_and_number_spelling),
};

MDH_TEST_MAIN(tests)

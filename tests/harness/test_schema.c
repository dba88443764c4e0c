/* Schema validation: messages with file:line:col and key paths, suggestions, ranges, enums,
 * lists, dicts, required keys, defaults filled in and problems collected in document order. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/schema.h"

static const char *const optimisers[] = {"adam", "sgd", "adamw", NULL};
static const char *const formats[] = {"text", "json", NULL};
static const sch_node model_item = {.type = SCH_STR};
static const sch_node weight_item = {.type = SCH_FLOAT, .has_min = true, .min = 0};

static const sch_node fit_fields[] = {
    {.key = "lr", .type = SCH_FLOAT, .doc = "learning rate", .def = "0.1", .has_min = true,
     .min = 0, .min_exclusive = true},
    {.key = "steps", .type = SCH_INT, .doc = "number of optimisation steps", .has_min = true,
     .min = 1},
    {.key = "opt", .type = SCH_ENUM, .doc = "optimiser", .def = "adam", .choices = optimisers},
    {.key = "momentum", .type = SCH_FLOAT, .doc = "momentum", .def = "0.9", .has_min = true,
     .min = 0, .has_max = true, .max = 1, .max_exclusive = true},
    {.key = "models", .type = SCH_SEQ, .doc = "models", .def = "[a]", .item = &model_item,
     .min_items = 1, .max_items = 3},
    {.key = "weights", .type = SCH_DICT, .doc = "class weights", .optional = true,
     .item = &weight_item},
    {.key = "out", .type = SCH_PATH, .doc = "output file", .optional = true},
    {.key = "verbose", .type = SCH_BOOL, .doc = "chatty", .def = "false"},
    {.key = "extra", .type = SCH_ANY, .doc = "anything", .optional = true},
    {0}};

static const sch_node sink_fields[] = {
    {.key = "name", .type = SCH_STR, .doc = "sink name", .def = "''"},
    {.key = "level", .type = SCH_INT, .doc = "level", .def = "2"},
    {0}};

static const sch_node log_fields[] = {
    {.key = "every", .type = SCH_INT, .doc = "log interval", .def = "10", .has_min = true,
     .min = 1},
    {.key = "format", .type = SCH_ENUM, .doc = "format", .def = "text", .choices = formats},
    {.key = "sink", .type = SCH_MAP, .doc = "where logs go", .fields = sink_fields},
    {.key = "tag", .type = SCH_STR, .doc = "tag", .optional = true},
    {0}};

static const sch_node toy_fields[] = {
    {.key = "fit", .type = SCH_MAP, .doc = "fitting", .fields = fit_fields},
    {.key = "log", .type = SCH_MAP, .doc = "logging", .fields = log_fields},
    {0}};

static const sch_node root_fields[] = {
    {.key = "toy", .type = SCH_MAP, .doc = "the toy stage", .fields = toy_fields}, {0}};

static const sch_node root_schema = {.type = SCH_MAP, .fields = root_fields};

static cfg_node *parse_ok(const char *text) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  if (!n) fail_msg("unexpected parse error: %s", e.msg);
  return n;
}

/* Validates text against the root schema and compares the whole report. */
static void assert_report(const char *yaml, const char *expected) {
  cfg_node *n = parse_ok(yaml);
  sch_report rep = {0};
  size_t count = sch_validate(&root_schema, n, "", &rep);
  assert_int_equal(count, rep.len);
  char *text = sch_report_text(&rep);
  assert_string_equal(text, expected);
  free(text);
  sch_report_free(&rep);
  cfg_free(n);
}

static void valid_config_gets_every_default_filled_in(void **state) {
  cfg_node *n = parse_ok("toy:\n  fit:\n    steps: 5\n");
  sch_report rep = {0};
  assert_int_equal(sch_validate(&root_schema, n, "", &rep), 0);
  char *c = cfg_canonical(n);
  assert_string_equal(c, "{\"toy\":{\"fit\":{\"lr\":0.1,\"models\":[\"a\"],\"momentum\":0.9,"
                         "\"opt\":\"adam\",\"steps\":5,\"verbose\":false},\"log\":{\"every\":10,"
                         "\"format\":\"text\",\"sink\":{\"level\":2,\"name\":\"\"}}}}");
  free(c);
  cfg_node *lr = cfg_get(n, "toy.fit.lr");
  char buf[64];
  assert_string_equal(cfg_loc_str(lr->loc, buf, sizeof buf), "<default>");
  assert_int_equal(cfg_scalar_type(lr), CFG_T_FLOAT);
  assert_string_equal(cfg_get(n, "toy.fit.models.0")->loc.file, "<default>");
  /* Defaults follow the keys that were written, in schema order. */
  cfg_node *fit = cfg_get(n, "toy.fit");
  assert_string_equal(fit->keys[0], "steps");
  assert_string_equal(fit->keys[1], "lr");
  assert_string_equal(fit->keys[2], "opt");
  assert_null(cfg_get(n, "toy.fit.weights"));
  assert_null(cfg_get(n, "toy.log.tag"));
  sch_report_free(&rep);
  cfg_free(n);
}

static void whole_section_with_defaults_may_be_omitted(void **state) {
  cfg_node *n = parse_ok("toy:\n  fit: {steps: 1}\n  log: {sink: {level: 5}}\n");
  sch_report rep = {0};
  assert_int_equal(sch_validate(&root_schema, n, "", &rep), 0);
  char *c = cfg_canonical(cfg_get(n, "toy.log"));
  assert_string_equal(c, "{\"every\":10,\"format\":\"text\",\"sink\":{\"level\":5,\"name\":\"\"}}");
  free(c);
  sch_report_free(&rep);
  cfg_free(n);
}

static void unknown_key_suggests_closest(void **state) {
  assert_report("toy:\n  fit:\n    steps: 5\n    lrr: 0.1\n",
                "x.yaml:4:5: toy.fit.lrr: unknown key 'lrr'; did you mean 'lr'?");
  assert_report("toy:\n  fit:\n    steps: 5\n    stpes: 2\n",
                "x.yaml:4:5: toy.fit.stpes: unknown key 'stpes'; did you mean 'steps'?");
}

static void unknown_key_without_near_match_lists_known_keys(void **state) {
  assert_report("toy:\n  fit: {steps: 5}\n  zzz: 1\n",
                "x.yaml:3:3: toy.zzz: unknown key 'zzz'; known keys: fit, log");
}

static void wrong_types_say_what_was_expected(void **state) {
  assert_report("toy:\n  fit:\n    steps: abc\n",
                "x.yaml:3:12: toy.fit.steps: expected an integer, got 'abc'");
  assert_report("toy:\n  fit:\n    steps: 1.5\n",
                "x.yaml:3:12: toy.fit.steps: expected an integer, got '1.5'");
  assert_report("toy:\n  fit:\n    steps: '5'\n",
                "x.yaml:3:12: toy.fit.steps: expected an integer, got the string '5'");
  assert_report("toy:\n  fit: {steps: 2, lr: fast, verbose: yes, models: a, out: ''}\n",
                "x.yaml:2:23: toy.fit.lr: expected a number, got 'fast'\n"
                "x.yaml:2:38: toy.fit.verbose: expected true or false, got 'yes'\n"
                "x.yaml:2:51: toy.fit.models: expected a list, got 'a'\n"
                "x.yaml:2:59: toy.fit.out: expected a path, got an empty string");
  assert_report("toy: [1]\n", "x.yaml:1:6: toy: expected a map, got a list");
}

static void float_field_accepts_integers(void **state) {
  assert_report("toy:\n  fit: {steps: 2, lr: 1, momentum: 0}\n", "");
}

static void ranges_are_checked_inclusive_and_exclusive(void **state) {
  assert_report("toy:\n  fit:\n    steps: -3\n",
                "x.yaml:3:12: toy.fit.steps: expected an integer >= 1, got '-3'");
  assert_report("toy:\n  fit: {steps: 1, lr: 0}\n",
                "x.yaml:2:23: toy.fit.lr: expected a number > 0, got '0'");
  assert_report("toy:\n  fit: {steps: 1, momentum: 1.0}\n",
                "x.yaml:2:29: toy.fit.momentum: expected a number >= 0 and < 1, got '1.0'");
  assert_report("toy:\n  fit: {steps: 1, momentum: .nan}\n",
                "x.yaml:2:29: toy.fit.momentum: expected a number >= 0 and < 1, got '.nan'");
  assert_report("toy:\n  fit: {steps: 1, momentum: 0.999, lr: 1e-9}\n", "");
}

static void enum_lists_choices_and_suggests(void **state) {
  assert_report("toy:\n  fit: {steps: 1, opt: adm}\n",
                "x.yaml:2:24: toy.fit.opt: expected one of 'adam', 'sgd', 'adamw', got 'adm'; "
                "did you mean 'adam'?");
  assert_report("toy:\n  fit: {steps: 1, opt: lbfgs}\n",
                "x.yaml:2:24: toy.fit.opt: expected one of 'adam', 'sgd', 'adamw', got 'lbfgs'");
}

static void missing_required_key_is_reported_at_parent(void **state) {
  assert_report("toy:\n  fit:\n    lr: 0.5\n",
                "x.yaml:3:5: toy.fit: missing required key 'steps' (number of optimisation "
                "steps)");
  assert_report("toy: {}\n", "x.yaml:1:6: toy: missing required key 'fit' (fitting)");
  assert_report("other: 1\n",
                "x.yaml:1:1: missing required key 'toy' (the toy stage)\n"
                "x.yaml:1:1: other: unknown key 'other'; known keys: toy");
}

static void sequence_length_and_items_are_checked(void **state) {
  assert_report("toy:\n  fit:\n    steps: 1\n    models: [a, {b: 1}, c, d]\n",
                "x.yaml:4:13: toy.fit.models: expected at most 3 items, got 4\n"
                "x.yaml:4:17: toy.fit.models.1: expected a string, got a map");
  assert_report("toy:\n  fit:\n    steps: 1\n    models: []\n",
                "x.yaml:4:13: toy.fit.models: expected at least 1 item, got 0");
}

static void dict_values_are_checked_with_item_schema(void **state) {
  assert_report("toy:\n  fit:\n    steps: 1\n    weights: {a: 1, b: -1, c: x}\n",
                "x.yaml:4:24: toy.fit.weights.b: expected a number >= 0, got '-1'\n"
                "x.yaml:4:31: toy.fit.weights.c: expected a number, got 'x'");
}

static void all_problems_are_collected_in_document_order(void **state) {
  assert_report("toy:\n"
                "  fit:\n"
                "    lrr: 0.1\n"
                "    opt: sdg\n"
                "    momentum: 2\n"
                "  log:\n"
                "    every: 0\n"
                "    sink: {levle: 3}\n",
                "x.yaml:3:5: toy.fit: missing required key 'steps' (number of optimisation "
                "steps)\n"
                "x.yaml:3:5: toy.fit.lrr: unknown key 'lrr'; did you mean 'lr'?\n"
                "x.yaml:4:10: toy.fit.opt: expected one of 'adam', 'sgd', 'adamw', got 'sdg'; "
                "did you mean 'sgd'?\n"
                "x.yaml:5:15: toy.fit.momentum: expected a number >= 0 and < 1, got '2'\n"
                "x.yaml:7:12: toy.log.every: expected an integer >= 1, got '0'\n"
                "x.yaml:8:12: toy.log.sink.levle: unknown key 'levle'; did you mean 'level'?");
}

static void validation_below_a_path_prefixes_messages(void **state) {
  static const sch_node fit_schema = {.type = SCH_MAP, .fields = fit_fields};
  cfg_node *n = parse_ok("lr: -1\n");
  sch_report rep = {0};
  assert_int_equal(sch_validate(&fit_schema, n, "toy.fit", &rep), 2);
  assert_string_equal(rep.msgs[0], "x.yaml:1:1: toy.fit: missing required key 'steps' (number "
                                   "of optimisation steps)");
  assert_string_equal(rep.msgs[1], "x.yaml:1:5: toy.fit.lr: expected a number > 0, got '-1'");
  sch_report_free(&rep);
  cfg_free(n);
}

static void bad_schema_default_is_reported(void **state) {
  static const sch_node fields[] = {{.key = "a", .type = SCH_INT, .def = "[1"}, {0}};
  static const sch_node schema = {.type = SCH_MAP, .fields = fields};
  cfg_node *n = parse_ok("{}\n");
  sch_report rep = {0};
  assert_int_equal(sch_validate(&schema, n, "", &rep), 1);
  assert_string_equal(rep.msgs[0],
                      "<default>: a: the schema's default '[1' is not valid YAML: <default>:2:1: "
                      "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
                      "sequence that starts at line 1, column 1)");
  sch_report_free(&rep);
  cfg_free(n);
}

static void default_of_wrong_type_is_reported_at_default(void **state) {
  static const sch_node fields[] = {{.key = "a", .type = SCH_INT, .def = "x"}, {0}};
  static const sch_node schema = {.type = SCH_MAP, .fields = fields};
  cfg_node *n = parse_ok("{}\n");
  sch_report rep = {0};
  assert_int_equal(sch_validate(&schema, n, "", &rep), 1);
  assert_string_equal(rep.msgs[0], "<default>: a: expected an integer, got 'x'");
  sch_report_free(&rep);
  cfg_free(n);
}

static void edit_distance_counts_transpositions_once(void **state) {
  assert_int_equal(sch_edit_distance("lr", "lrr"), 1);
  assert_int_equal(sch_edit_distance("ab", "ba"), 1);
  assert_int_equal(sch_edit_distance("kitten", "sitting"), 3);
  assert_int_equal(sch_edit_distance("", "abc"), 3);
  assert_int_equal(sch_edit_distance("same", "same"), 0);
  /* Optimal string alignment, not unrestricted Damerau-Levenshtein. */
  assert_int_equal(sch_edit_distance("ca", "abc"), 3);
}

static void suggestion_threshold_grows_with_length(void **state) {
  const char *const keys[] = {"learning_rate_schedule", "lr", "steps", NULL};
  assert_string_equal(sch_suggest("lernin_rate_schedul", keys), "learning_rate_schedule");
  assert_string_equal(sch_suggest("stesp", keys), "steps");
  assert_null(sch_suggest("xy", keys));
  assert_null(sch_suggest("completely_different", keys));
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(valid_config_gets_every_default_filled_in),
    cmocka_unit_test(whole_section_with_defaults_may_be_omitted),
    cmocka_unit_test(unknown_key_suggests_closest),
    cmocka_unit_test(unknown_key_without_near_match_lists_known_keys),
    cmocka_unit_test(wrong_types_say_what_was_expected),
    cmocka_unit_test(float_field_accepts_integers),
    cmocka_unit_test(ranges_are_checked_inclusive_and_exclusive),
    cmocka_unit_test(enum_lists_choices_and_suggests),
    cmocka_unit_test(missing_required_key_is_reported_at_parent),
    cmocka_unit_test(sequence_length_and_items_are_checked),
    cmocka_unit_test(dict_values_are_checked_with_item_schema),
    cmocka_unit_test(all_problems_are_collected_in_document_order),
    cmocka_unit_test(validation_below_a_path_prefixes_messages),
    cmocka_unit_test(bad_schema_default_is_reported),
    cmocka_unit_test(default_of_wrong_type_is_reported_at_default),
    cmocka_unit_test(edit_distance_counts_transpositions_once),
    cmocka_unit_test(suggestion_threshold_grows_with_length),
};

MDH_TEST_MAIN(tests)

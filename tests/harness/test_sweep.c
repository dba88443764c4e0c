/* Sweep expansion: point order and labels, the values set in each point's config, ranges,
 * seeds, exclusions, and the errors for malformed sweep sections. Configs are YAML text. */
#include "test_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/sweep/sweep.h"

static cfg_node *parse_ok(const char *text) {
  herr e = {{0}};
  cfg_node *n = cfg_parse_string(text, "x.yaml", &e);
  if (!n) fail_msg("unexpected parse error: %s", e.msg);
  return n;
}

/* Expands `text`; fails the test on an error. */
static sweep_point *expand_ok(const char *text, size_t *n) {
  cfg_node *root = parse_ok(text);
  herr e = {{0}};
  sweep_point *pts = NULL;
  int rc = sweep_expand(root, &pts, n, &e);
  cfg_free(root);
  if (rc != 0) fail_msg("unexpected sweep error: %s", e.msg);
  assert_non_null(pts);
  return pts;
}

/* Expands `text`, expects an error and checks that its message contains every `parts`
 * string (NULL-terminated). */
static void expect_error(const char *text, const char *const *parts) {
  cfg_node *root = parse_ok(text);
  herr e = {{0}};
  sweep_point *pts = (sweep_point *)1;
  size_t n = 7;
  int rc = sweep_expand(root, &pts, &n, &e);
  cfg_free(root);
  if (rc == 0) {
    sweep_points_free(pts, n);
    fail_msg("expected a sweep error for:\n%s", text);
  }
  assert_int_equal(rc, -1);
  assert_null(pts);
  assert_int_equal(n, 0);
  for (size_t i = 0; parts[i]; i++)
    if (!strstr(e.msg, parts[i])) fail_msg("error '%s' does not contain '%s'", e.msg, parts[i]);
}

#define EXPECT_ERROR(text, ...) expect_error(text, (const char *const[]){__VA_ARGS__, NULL})

static const char *str_at(const cfg_node *root, const char *path) {
  const cfg_node *n = cfg_get(root, path);
  if (!n) fail_msg("no value at '%s'", path);
  assert_int_equal(n->kind, CFG_SCALAR);
  return n->str;
}

static void assert_labels(const sweep_point *pts, size_t n, const char *const *labels, size_t nlabels) {
  assert_int_equal(n, nlabels);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(pts[i].index, i);
    assert_string_equal(pts[i].label, labels[i]);
  }
}

/* The values of a range spec written as YAML flow text ("{from: 1, to: 2, step: 1}"). */
static cfg_node *axis_values(const char *spec_text, herr *e) {
  char doc[512];
  snprintf(doc, sizeof doc, "r: %s\n", spec_text);
  cfg_node *root = parse_ok(doc);
  cfg_node *vals = sweep_axis_values(cfg_map_get(root, "r"), "k", e);
  cfg_free(root);
  return vals;
}

static void assert_axis(const char *spec_text, cfg_type type, const char *const *expected, size_t nexp) {
  herr e = {{0}};
  cfg_node *vals = axis_values(spec_text, &e);
  if (!vals) fail_msg("unexpected range error for %s: %s", spec_text, e.msg);
  assert_int_equal(vals->kind, CFG_SEQ);
  assert_int_equal(vals->len, nexp);
  for (size_t i = 0; i < nexp; i++) {
    assert_string_equal(vals->items[i]->str, expected[i]);
    assert_int_equal(cfg_scalar_type(vals->items[i]), type);
  }
  cfg_free(vals);
}

#define ASSERT_AXIS(spec, type, ...)                                            \
  assert_axis(spec, type, (const char *const[]){__VA_ARGS__},                   \
              sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static void assert_axis_error(const char *spec_text, const char *part) {
  herr e = {{0}};
  cfg_node *vals = axis_values(spec_text, &e);
  if (vals) {
    cfg_free(vals);
    fail_msg("expected a range error for %s", spec_text);
  }
  if (!strstr(e.msg, part)) fail_msg("error '%s' does not contain '%s'", e.msg, part);
  if (!strstr(e.msg, "x.yaml:1:")) fail_msg("error '%s' does not name x.yaml:1:COL", e.msg);
}

/* ---- no sweep ---- */

static void config_without_sweep_is_one_base_point_with_its_seed(void **state) {
  size_t n;
  sweep_point *p = expand_ok("seed: 7\ntoy: {lr: 0.5}\n", &n);
  assert_int_equal(n, 1);
  assert_int_equal(p[0].index, 0);
  assert_string_equal(p[0].label, "(base)");
  assert_int_equal(p[0].seed, 7);
  assert_int_equal(p[0].assignments->kind, CFG_MAP);
  assert_int_equal(p[0].assignments->len, 0);
  assert_string_equal(str_at(p[0].config, "toy.lr"), "0.5");
  assert_string_equal(str_at(p[0].config, "seed"), "7");
  sweep_points_free(p, n);
}

static void null_or_empty_sweep_section_is_one_base_point(void **state) {
  size_t n;
  sweep_point *p = expand_ok("seed: 3\nsweep:\n", &n);
  assert_int_equal(n, 1);
  assert_string_equal(p[0].label, "(base)");
  assert_int_equal(p[0].seed, 3);
  assert_null(cfg_map_get(p[0].config, "sweep"));
  sweep_points_free(p, n);

  p = expand_ok("sweep: {}\n", &n);
  assert_int_equal(n, 1);
  assert_string_equal(p[0].label, "(base)");
  assert_int_equal(p[0].seed, 0);
  assert_null(cfg_map_get(p[0].config, "sweep"));
  sweep_points_free(p, n);
}

static void non_integer_seed_is_an_error(void **state) {
  EXPECT_ERROR("seed: abc\n", "x.yaml:1:7", "expected an integer", "abc");
}

/* ---- grid ---- */

static const char grid_3x2[] =
    "seed: 1\n"
    "toy:\n"
    "  fit: {lr: 0.5, epochs: 3}\n"
    "  data: {noise: 0.0}\n"
    "sweep:\n"
    "  grid:\n"
    "    toy.fit.lr: [0.1, 0.01, 0.001]\n"
    "    toy.data.noise: [0.2, 0.4]\n";

static void grid_of_two_keys_runs_first_key_slowest_with_exact_labels(void **state) {
  size_t n;
  sweep_point *p = expand_ok(grid_3x2, &n);
  static const char *const labels[] = {
      "toy.fit.lr=0.1 toy.data.noise=0.2",   "toy.fit.lr=0.1 toy.data.noise=0.4",
      "toy.fit.lr=0.01 toy.data.noise=0.2",  "toy.fit.lr=0.01 toy.data.noise=0.4",
      "toy.fit.lr=0.001 toy.data.noise=0.2", "toy.fit.lr=0.001 toy.data.noise=0.4",
  };
  assert_labels(p, n, labels, 6);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(p[i].seed, 1);
    assert_int_equal(p[i].assignments->len, 2);
    assert_string_equal(p[i].assignments->keys[0], "toy.fit.lr");
    assert_string_equal(p[i].assignments->keys[1], "toy.data.noise");
  }
  sweep_points_free(p, n);
}

static void grid_sets_each_points_values_in_its_config(void **state) {
  size_t n;
  sweep_point *p = expand_ok(grid_3x2, &n);
  assert_int_equal(n, 6);
  static const char *const lr[] = {"0.1", "0.1", "0.01", "0.01", "0.001", "0.001"};
  static const char *const noise[] = {"0.2", "0.4", "0.2", "0.4", "0.2", "0.4"};
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(str_at(p[i].config, "toy.fit.lr"), lr[i]);
    assert_string_equal(str_at(p[i].config, "toy.data.noise"), noise[i]);
    /* untouched keys stay as the base config has them */
    assert_string_equal(str_at(p[i].config, "toy.fit.epochs"), "3");
    assert_string_equal(str_at(p[i].config, "seed"), "1");
    assert_int_equal(cfg_scalar_type(cfg_get(p[i].config, "toy.fit.lr")), CFG_T_FLOAT);
  }
  sweep_points_free(p, n);
}

static void grid_creates_missing_intermediate_maps(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  grid:\n    a.b.c: [x, y]\n", &n);
  assert_int_equal(n, 2);
  assert_string_equal(str_at(p[0].config, "a.b.c"), "x");
  assert_string_equal(str_at(p[1].config, "a.b.c"), "y");
  assert_string_equal(p[1].label, "a.b.c=y");
  sweep_points_free(p, n);
}

static void grid_value_that_is_a_map_is_labelled_canonically(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  grid:\n    opt: [{name: adam, b: [1, 2]}, sgd]\n", &n);
  assert_int_equal(n, 2);
  assert_string_equal(p[0].label, "opt={\"b\":[1,2],\"name\":\"adam\"}");
  assert_string_equal(p[1].label, "opt=sgd");
  assert_string_equal(str_at(p[0].config, "opt.name"), "adam");
  assert_string_equal(str_at(p[0].config, "opt.b.1"), "2");
  sweep_points_free(p, n);
}

static void grid_can_set_an_existing_list_item_by_index(void **state) {
  size_t n;
  sweep_point *p = expand_ok("l: [1, 2, 3]\nsweep:\n  grid:\n    l.1: [20, 30]\n", &n);
  assert_int_equal(n, 2);
  assert_string_equal(str_at(p[0].config, "l.1"), "20");
  assert_string_equal(str_at(p[1].config, "l.1"), "30");
  assert_string_equal(str_at(p[1].config, "l.2"), "3");
  assert_int_equal(cfg_get(p[1].config, "l")->len, 3);
  sweep_points_free(p, n);
}

static void grid_with_seeds_puts_seeds_innermost_and_last_in_label(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  grid:\n    a: [1, 2]\n  seeds: [5, 6]\n", &n);
  static const char *const labels[] = {"a=1 seed=5", "a=1 seed=6", "a=2 seed=5", "a=2 seed=6"};
  assert_labels(p, n, labels, 4);
  static const long long seeds[] = {5, 6, 5, 6};
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(p[i].seed, seeds[i]);
    assert_string_equal(p[i].assignments->keys[p[i].assignments->len - 1], "seed");
  }
  assert_string_equal(str_at(p[3].config, "seed"), "6");
  assert_string_equal(str_at(p[3].config, "a"), "2");
  sweep_points_free(p, n);
}

static void point_configs_have_no_sweep_key_and_root_is_unchanged(void **state) {
  cfg_node *root = parse_ok(grid_3x2);
  herr e = {{0}};
  sweep_point *p;
  size_t n;
  assert_int_equal(sweep_expand(root, &p, &n, &e), 0);
  assert_int_equal(n, 6);
  for (size_t i = 0; i < n; i++) {
    assert_null(cfg_map_get(p[i].config, "sweep"));
    assert_non_null(cfg_map_get(p[i].config, "toy"));
  }
  assert_non_null(cfg_map_get(root, "sweep"));
  assert_string_equal(str_at(root, "toy.fit.lr"), "0.5");
  sweep_points_free(p, n);
  cfg_free(root);
}

static void large_grid_with_seeds_gives_80_points_with_distinct_labels(void **state) {
  size_t n;
  sweep_point *p = expand_ok(
      "sweep:\n"
      "  grid:\n"
      "    a: [1, 2, 3, 4]\n"
      "    b: [w, x, y, z]\n"
      "  seeds: 5\n",
      &n);
  assert_int_equal(n, 80);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(p[i].index, i);
    assert_int_equal(p[i].seed, (long long)(i % 5));
    for (size_t j = i + 1; j < n; j++)
      if (!strcmp(p[i].label, p[j].label)) fail_msg("points %zu and %zu share label '%s'", i, j, p[i].label);
  }
  assert_string_equal(p[0].label, "a=1 b=w seed=0");
  assert_string_equal(p[79].label, "a=4 b=z seed=4");
  assert_string_equal(p[27].label, "a=2 b=x seed=2"); /* 27 = 1*20 + 1*5 + 2 */
  sweep_points_free(p, n);
}

/* ---- zip ---- */

static void zip_group_moves_in_lockstep_and_crosses_with_grid(void **state) {
  size_t n;
  sweep_point *p = expand_ok(
      "sweep:\n"
      "  grid:\n"
      "    m: [x, y]\n"
      "  zip:\n"
      "    a: [1, 2, 3]\n"
      "    b: [10, 20, 30]\n",
      &n);
  static const char *const labels[] = {"m=x a=1 b=10", "m=x a=2 b=20", "m=x a=3 b=30",
                                       "m=y a=1 b=10", "m=y a=2 b=20", "m=y a=3 b=30"};
  assert_labels(p, n, labels, 6);
  assert_string_equal(str_at(p[4].config, "m"), "y");
  assert_string_equal(str_at(p[4].config, "a"), "2");
  assert_string_equal(str_at(p[4].config, "b"), "20");
  sweep_points_free(p, n);
}

static void list_of_zip_groups_are_separate_axes_later_faster(void **state) {
  size_t n;
  sweep_point *p = expand_ok(
      "sweep:\n"
      "  grid:\n"
      "    m: [x]\n"
      "  zip:\n"
      "    - {a: [1, 2], b: [3, 4]}\n"
      "    - {c: [5, 6, 7], d: [8, 9, 10]}\n",
      &n);
  static const char *const labels[] = {
      "m=x a=1 b=3 c=5 d=8", "m=x a=1 b=3 c=6 d=9", "m=x a=1 b=3 c=7 d=10",
      "m=x a=2 b=4 c=5 d=8", "m=x a=2 b=4 c=6 d=9", "m=x a=2 b=4 c=7 d=10",
  };
  assert_labels(p, n, labels, 6);
  assert_string_equal(str_at(p[5].config, "d"), "10");
  assert_string_equal(str_at(p[5].config, "a"), "2");
  sweep_points_free(p, n);
}

static void zip_length_mismatch_names_location_and_both_keys(void **state) {
  EXPECT_ERROR(
      "sweep:\n"
      "  zip:\n"
      "    lr: [1, 2, 3]\n"
      "    noise: [4, 5]\n",
      "x.yaml:4:12", "'noise' has 2 values", "'lr' has 3");
}

static void zip_entry_that_is_not_a_map_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  zip: [[1, 2]]\n", "x.yaml:2:9", "sweep.zip: expected a map");
  EXPECT_ERROR("sweep:\n  zip: 3\n", "x.yaml:2:8", "sweep.zip: expected a map (one group) or a list");
}

/* ---- ranges ---- */

static void int_range_with_step_gives_ints_including_to(void **state) {
  ASSERT_AXIS("{from: 1, to: 10, step: 3}", CFG_T_INT, "1", "4", "7", "10");
  ASSERT_AXIS("{from: 1, to: 9, step: 3}", CFG_T_INT, "1", "4", "7");
  ASSERT_AXIS("{from: 10, to: 1, step: -3}", CFG_T_INT, "10", "7", "4", "1");
  ASSERT_AXIS("{from: 5, to: 5, step: 1}", CFG_T_INT, "5");
}

static void float_range_with_step_gives_the_values_as_written(void **state) {
  ASSERT_AXIS("{from: 0.1, to: 0.4, step: 0.1}", CFG_T_FLOAT, "0.1", "0.2", "0.3", "0.4");
  ASSERT_AXIS("{from: 0, to: 0.7, step: 0.1}", CFG_T_FLOAT, "0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6",
              "0.7");
  /* a float step makes every value a float, integral ones included */
  ASSERT_AXIS("{from: 0, to: 1, step: 0.5}", CFG_T_FLOAT, "0.0", "0.5", "1.0");
}

static void range_with_num_is_linspace_of_floats(void **state) {
  ASSERT_AXIS("{from: 0, to: 1, num: 5}", CFG_T_FLOAT, "0.0", "0.25", "0.5", "0.75", "1.0");
  ASSERT_AXIS("{from: 2, to: 3, num: 1}", CFG_T_FLOAT, "2.0");
  ASSERT_AXIS("{from: 1, to: -1, num: 3}", CFG_T_FLOAT, "1.0", "0.0", "-1.0");
}

static void log_range_is_geometric(void **state) {
  ASSERT_AXIS("{from: 1e-4, to: 1e-2, num: 3, log: true}", CFG_T_FLOAT, "0.0001", "0.001", "0.01");
  ASSERT_AXIS("{from: 1, to: 1000, num: 4, log: true}", CFG_T_FLOAT, "1.0", "10.0", "100.0", "1000.0");
}

static void list_axis_is_copied_as_written(void **state) {
  herr e = {{0}};
  cfg_node *vals = axis_values("[3, '3', 0.5]", &e);
  assert_non_null(vals);
  assert_int_equal(vals->len, 3);
  assert_string_equal(vals->items[0]->str, "3");
  assert_string_equal(vals->items[1]->str, "3");
  assert_string_equal(vals->items[2]->str, "0.5");
  assert_int_equal(cfg_scalar_type(vals->items[0]), CFG_T_INT);
  assert_int_equal(cfg_scalar_type(vals->items[1]), CFG_T_STR);
  assert_int_equal(cfg_scalar_type(vals->items[2]), CFG_T_FLOAT);
  cfg_free(vals);
}

static void range_in_grid_sets_int_values(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  grid:\n    n: {from: 1, to: 10, step: 3}\n", &n);
  static const char *const labels[] = {"n=1", "n=4", "n=7", "n=10"};
  assert_labels(p, n, labels, 4);
  long long v;
  herr e;
  assert_int_equal(cfg_int_at(p[3].config, "n", &v, &e), 0);
  assert_int_equal(v, 10);
  assert_int_equal(cfg_scalar_type(cfg_get(p[1].config, "n")), CFG_T_INT);
  sweep_points_free(p, n);
}

static void bad_ranges_are_errors(void **state) {
  assert_axis_error("{from: 1, to: 10, step: 0}", "step must be non-zero");
  assert_axis_error("{from: 1, to: 10, step: -1}", "step must be non-zero and go from 'from' towards 'to'");
  assert_axis_error("{from: 10, to: 1, step: 2}", "step must be non-zero and go from 'from' towards 'to'");
  assert_axis_error("{from: 1, to: 2, step: 1, num: 2}", "exactly one of step or num");
  assert_axis_error("{from: 1, to: 2}", "exactly one of step or num");
  assert_axis_error("{from: 1, step: 1}", "a range needs from, to");
  assert_axis_error("{from: 1, to: 2, stp: 1}", "unknown range key 'stp'");
  assert_axis_error("{from: 1, to: 2, num: 0}", "num must be between 1 and 100000");
  assert_axis_error("{from: 0, to: 1, num: 3, log: true}", "a log range needs positive from and to");
  assert_axis_error("{from: 1, to: 8, step: 1, log: true}", "log applies to {from, to, num} ranges");
  assert_axis_error("{from: a, to: 2, step: 1}", "expected a number");
  assert_axis_error("[]", "the list of values is empty");
  assert_axis_error("5", "expected a list of values or a range");
  assert_axis_error("{from: 0, to: 1000000, step: 1}", "range has too many values");
}

static void range_with_non_finite_bounds_is_an_error(void **state) {
  assert_axis_error("{from: .nan, to: 1, step: 1}", "'from' and 'to' must be finite");
  assert_axis_error("{from: 0, to: .inf, num: 3}", "'from' and 'to' must be finite");
  assert_axis_error("{from: 0, to: .nan, num: 3}", "'from' and 'to' must be finite");
  /* in a grid this used to produce an empty axis (and a division by zero) */
  EXPECT_ERROR("sweep:\n  grid:\n    a: {from: .nan, to: 1, step: 1}\n", "x.yaml:3:15", "must be finite");
}

static void bad_range_in_grid_names_its_location(void **state) {
  EXPECT_ERROR("sweep:\n  grid:\n    lr: {from: 1, to: 10, step: 0}\n", "x.yaml:3:33", "sweep.lr: step must be non-zero");
}

static void too_many_points_is_an_error(void **state) {
  EXPECT_ERROR(
      "sweep:\n"
      "  grid:\n"
      "    a: {from: 1, to: 1000, step: 1}\n"
      "    b: {from: 1, to: 1000, step: 1}\n",
      "more than 100000 points");
}

/* ---- seeds ---- */

static void seeds_count_counts_up_from_base_seed(void **state) {
  size_t n;
  sweep_point *p = expand_ok("seed: 10\nsweep:\n  seeds: 3\n", &n);
  static const char *const labels[] = {"seed=10", "seed=11", "seed=12"};
  assert_labels(p, n, labels, 3);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(p[i].seed, 10 + (long long)i);
    long long v;
    herr e;
    assert_int_equal(cfg_int_at(p[i].config, "seed", &v, &e), 0);
    assert_int_equal(v, 10 + (long long)i);
  }
  sweep_points_free(p, n);
}

static void seeds_count_without_base_seed_starts_at_zero(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  seeds: 2\n", &n);
  static const char *const labels[] = {"seed=0", "seed=1"};
  assert_labels(p, n, labels, 2);
  assert_int_equal(p[1].seed, 1);
  assert_string_equal(str_at(p[1].config, "seed"), "1");
  sweep_points_free(p, n);
}

static void seeds_list_is_used_in_order(void **state) {
  size_t n;
  sweep_point *p = expand_ok("seed: 99\nsweep:\n  seeds: [3, 1, 4]\n", &n);
  static const char *const labels[] = {"seed=3", "seed=1", "seed=4"};
  assert_labels(p, n, labels, 3);
  assert_int_equal(p[0].seed, 3);
  assert_int_equal(p[1].seed, 1);
  assert_int_equal(p[2].seed, 4);
  sweep_points_free(p, n);
}

static void seeds_range_expands_like_an_axis(void **state) {
  size_t n;
  sweep_point *p = expand_ok("sweep:\n  seeds: {from: 5, to: 9, step: 2}\n", &n);
  static const char *const labels[] = {"seed=5", "seed=7", "seed=9"};
  assert_labels(p, n, labels, 3);
  assert_int_equal(p[2].seed, 9);
  sweep_points_free(p, n);
}

static void negative_or_non_integer_seeds_are_errors(void **state) {
  EXPECT_ERROR("sweep:\n  seeds: [1, -2]\n", "x.yaml:2:10", "seeds must be non-negative integers");
  EXPECT_ERROR("sweep:\n  seeds: [1, 2.5]\n", "seeds must be non-negative integers");
  EXPECT_ERROR("sweep:\n  seeds: {from: -2, to: 1, step: 1}\n", "seeds must be non-negative integers");
  EXPECT_ERROR("sweep:\n  seeds: 0\n", "x.yaml:2:10", "a count must be between 1 and 100000");
  EXPECT_ERROR("sweep:\n  seeds: -3\n", "a count must be between 1 and 100000");
  EXPECT_ERROR("sweep:\n  seeds: many\n", "expected an integer");
}

/* ---- exclude ---- */

static void exclude_removes_exactly_the_matching_points(void **state) {
  size_t n;
  sweep_point *p = expand_ok(
      "sweep:\n"
      "  grid:\n"
      "    a: [1, 2]\n"
      "    b: [x, y]\n"
      "  seeds: [0, 1]\n"
      "  exclude:\n"
      "    - {a: 2, b: y}\n"
      "    - {a: 1, seed: 1}\n",
      &n);
  static const char *const labels[] = {"a=1 b=x seed=0", "a=1 b=y seed=0", "a=2 b=x seed=0", "a=2 b=x seed=1"};
  assert_labels(p, n, labels, 4);
  assert_int_equal(p[3].seed, 1);
  assert_string_equal(str_at(p[3].config, "b"), "x");
  sweep_points_free(p, n);
}

static void exclude_compares_values_not_spelling(void **state) {
  size_t n;
  sweep_point *p = expand_ok(
      "sweep:\n"
      "  grid:\n"
      "    lr: [0.0001, 0.01]\n"
      "  exclude:\n"
      "    - {lr: 1e-4}\n",
      &n);
  static const char *const labels[] = {"lr=0.01"};
  assert_labels(p, n, labels, 1);
  sweep_points_free(p, n);
}

static void exclude_naming_an_unswept_key_is_an_error(void **state) {
  EXPECT_ERROR(
      "sweep:\n"
      "  grid:\n"
      "    a: [1, 2]\n"
      "  exclude:\n"
      "    - {a: 1, c: 3}\n",
      "x.yaml:5:17", "'c' is not a swept key");
  /* seed is only a swept key when seeds: is given */
  EXPECT_ERROR("sweep:\n  grid:\n    a: [1, 2]\n  exclude:\n    - {seed: 0}\n", "'seed' is not a swept key");
}

static void malformed_exclude_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grid: {a: [1]}\n  exclude: {a: 1}\n", "sweep.exclude: expected a list of maps");
  EXPECT_ERROR("sweep:\n  grid: {a: [1]}\n  exclude: [a]\n", "sweep.exclude: each entry is a map");
}

static void excluding_every_point_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grid:\n    a: [1, 2]\n  exclude:\n    - {a: 1}\n    - {a: 2}\n",
               "every point is excluded");
}

/* ---- malformed sweeps ---- */

static void sweeping_the_same_key_twice_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grid:\n    a: [1, 2]\n  zip:\n    a: [3, 4]\n    b: [5, 6]\n", "x.yaml:5:8",
               "'a' is swept twice");
  EXPECT_ERROR("sweep:\n  zip:\n    - {a: [1], b: [2]}\n    - {c: [3], b: [4]}\n", "'b' is swept twice");
}

static void sweeping_seed_in_grid_or_zip_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grid:\n    seed: [1, 2]\n", "x.yaml:3:11", "use 'seeds:'");
  EXPECT_ERROR("sweep:\n  zip:\n    seed: [1, 2]\n    a: [3, 4]\n", "use 'seeds:'");
}

static void sweeping_the_sweep_section_or_a_bad_path_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grid:\n    sweep.seeds: [1, 2]\n", "cannot sweep over the sweep section");
  EXPECT_ERROR("sweep:\n  grid:\n    a..b: [1, 2]\n", "'a..b' is not a dotted key path");
  EXPECT_ERROR("sweep:\n  grid:\n    .a: [1, 2]\n", "'.a' is not a dotted key path");
}

static void unknown_sweep_section_key_is_an_error(void **state) {
  EXPECT_ERROR("sweep:\n  grdi:\n    a: [1, 2]\n", "x.yaml:2:3", "unknown key 'grdi'",
               "expected grid, zip, seeds or exclude");
}

static void sweep_and_grid_of_wrong_kind_are_errors(void **state) {
  EXPECT_ERROR("sweep: [1, 2]\n", "x.yaml:1:8", "sweep: expected a map");
  EXPECT_ERROR("sweep:\n  grid: [a, b]\n", "sweep.grid: expected a map of key paths");
}

static void setting_a_path_through_a_scalar_fails_with_a_message(void **state) {
  EXPECT_ERROR("a: 5\nsweep:\n  grid:\n    a.b: [1, 2]\n", "sweep: cannot set 'a.b'", "x.yaml:1:4",
               "'a' is a scalar, not a map");
  EXPECT_ERROR("l: [1]\nsweep:\n  grid:\n    l.4: [1]\n", "sweep: cannot set 'l.4'", "index 4 does not exist");

  cfg_node *root = parse_ok("a: 5\n");
  herr e = {{0}};
  cfg_loc loc = {cfg_intern("t"), 1, 1};
  assert_int_equal(cfg_set(root, "a.b", cfg_new_scalar("1", false, loc), &e), -1);
  assert_non_null(strstr(e.msg, "cannot set 'a.b': 'a' is a scalar, not a map"));
  assert_string_equal(str_at(root, "a"), "5");
  cfg_free(root);
}

static void overlapping_key_paths_are_an_error(void **state) {
  /* the later, wider key would silently replace the earlier, narrower one */
  EXPECT_ERROR("sweep:\n  grid:\n    a.b: [1, 2]\n    a: [{b: 3}]\n", "'a.b' and 'a' overlap");
  EXPECT_ERROR("a: {b: 0}\nsweep:\n  grid:\n    a: [{b: 3}]\n  zip:\n    a.b: [1, 2]\n", "'a' and 'a.b' overlap");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(config_without_sweep_is_one_base_point_with_its_seed),
    cmocka_unit_test(null_or_empty_sweep_section_is_one_base_point),
    cmocka_unit_test(non_integer_seed_is_an_error),
    cmocka_unit_test(grid_of_two_keys_runs_first_key_slowest_with_exact_labels),
    cmocka_unit_test(grid_sets_each_points_values_in_its_config),
    cmocka_unit_test(grid_creates_missing_intermediate_maps),
    cmocka_unit_test(grid_value_that_is_a_map_is_labelled_canonically),
    cmocka_unit_test(grid_can_set_an_existing_list_item_by_index),
    cmocka_unit_test(grid_with_seeds_puts_seeds_innermost_and_last_in_label),
    cmocka_unit_test(point_configs_have_no_sweep_key_and_root_is_unchanged),
    cmocka_unit_test(large_grid_with_seeds_gives_80_points_with_distinct_labels),
    cmocka_unit_test(zip_group_moves_in_lockstep_and_crosses_with_grid),
    cmocka_unit_test(list_of_zip_groups_are_separate_axes_later_faster),
    cmocka_unit_test(zip_length_mismatch_names_location_and_both_keys),
    cmocka_unit_test(zip_entry_that_is_not_a_map_is_an_error),
    cmocka_unit_test(int_range_with_step_gives_ints_including_to),
    cmocka_unit_test(float_range_with_step_gives_the_values_as_written),
    cmocka_unit_test(range_with_num_is_linspace_of_floats),
    cmocka_unit_test(log_range_is_geometric),
    cmocka_unit_test(list_axis_is_copied_as_written),
    cmocka_unit_test(range_in_grid_sets_int_values),
    cmocka_unit_test(bad_ranges_are_errors),
    cmocka_unit_test(range_with_non_finite_bounds_is_an_error),
    cmocka_unit_test(bad_range_in_grid_names_its_location),
    cmocka_unit_test(too_many_points_is_an_error),
    cmocka_unit_test(seeds_count_counts_up_from_base_seed),
    cmocka_unit_test(seeds_count_without_base_seed_starts_at_zero),
    cmocka_unit_test(seeds_list_is_used_in_order),
    cmocka_unit_test(seeds_range_expands_like_an_axis),
    cmocka_unit_test(negative_or_non_integer_seeds_are_errors),
    cmocka_unit_test(exclude_removes_exactly_the_matching_points),
    cmocka_unit_test(exclude_compares_values_not_spelling),
    cmocka_unit_test(exclude_naming_an_unswept_key_is_an_error),
    cmocka_unit_test(malformed_exclude_is_an_error),
    cmocka_unit_test(excluding_every_point_is_an_error),
    cmocka_unit_test(sweeping_the_same_key_twice_is_an_error),
    cmocka_unit_test(sweeping_seed_in_grid_or_zip_is_an_error),
    cmocka_unit_test(sweeping_the_sweep_section_or_a_bad_path_is_an_error),
    cmocka_unit_test(unknown_sweep_section_key_is_an_error),
    cmocka_unit_test(sweep_and_grid_of_wrong_kind_are_errors),
    cmocka_unit_test(setting_a_path_through_a_scalar_fails_with_a_message),
    cmocka_unit_test(overlapping_key_paths_are_an_error),
};

MDH_TEST_MAIN(tests)

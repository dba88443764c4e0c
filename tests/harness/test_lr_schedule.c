/* harness/train/lr_schedule: A1111's piecewise rates (which rate applies at a boundary, the
 * last step, unbounded pieces), diffusers' constant / linear / cosine shapes with warm-up
 * (values worked out from optimization.py's lambdas), and errors that name the piece. */
#include "test_main.h"

#include <math.h>
#include <string.h>

#include "harness/train/lr_schedule.h"

static lr_schedule *make(const char *spec, const char *kind, long long warmup, long long total) {
  lr_schedule *s = NULL;
  herr e;
  if (lr_schedule_new(spec, kind, warmup, total, &s, &e)) fail_msg("'%s': %s", spec, e.msg);
  return s;
}

static void single_rate_is_constant_and_unbounded(void **state) {
  (void)state;
  lr_schedule *s = make("0.005", "constant", 0, 0);
  assert_float_equal(lr_schedule_at(s, 1), 0.005, 0);
  assert_float_equal(lr_schedule_at(s, 123456789), 0.005, 0);
  assert_int_equal(lr_schedule_last_step(s), -1);
  lr_schedule_free(s);
  s = make(" 1e-3 ", NULL, 0, 0); /* NULL kind is constant; spaces as Python's float() allows */
  assert_float_equal(lr_schedule_at(s, 7), 1e-3, 0);
  lr_schedule_free(s);
}

/* A1111 applies the scheduler before the step with embedding.step (0-based) and switches when
 * it is no longer below the piece's end: 1-based step 100 still uses the first rate. */
static void a1111_piece_holds_through_its_end_step(void **state) {
  (void)state;
  lr_schedule *s = make("0.005:100, 1e-3:1000, 1e-5", "constant", 0, 5000);
  assert_float_equal(lr_schedule_at(s, 1), 0.005, 0);
  assert_float_equal(lr_schedule_at(s, 100), 0.005, 0);
  assert_float_equal(lr_schedule_at(s, 101), 1e-3, 0);
  assert_float_equal(lr_schedule_at(s, 1000), 1e-3, 0);
  assert_float_equal(lr_schedule_at(s, 1001), 1e-5, 0);
  assert_float_equal(lr_schedule_at(s, 1000000), 1e-5, 0);
  assert_int_equal(lr_schedule_last_step(s), -1);
  lr_schedule_free(s);
}

static void bounded_last_piece_gives_the_last_step(void **state) {
  (void)state;
  lr_schedule *s = make("0.1:10,0.01:20,", "constant", 0, 0); /* trailing comma skipped, as A1111 */
  assert_int_equal(lr_schedule_last_step(s), 20);
  assert_float_equal(lr_schedule_at(s, 10), 0.1, 0);
  assert_float_equal(lr_schedule_at(s, 11), 0.01, 0);
  assert_float_equal(lr_schedule_at(s, 20), 0.01, 0);
  assert_float_equal(lr_schedule_at(s, 21), 0.01, 0); /* past the end: the last rate stays */
  lr_schedule_free(s);
  s = make("0.1:10, 0.02:-1", "constant", 0, 0); /* A1111's ":-1" = no end */
  assert_int_equal(lr_schedule_last_step(s), -1);
  assert_float_equal(lr_schedule_at(s, 11), 0.02, 0);
  lr_schedule_free(s);
}

static void linear_decays_to_zero_after_warmup(void **state) {
  (void)state;
  lr_schedule *s = make("1.0", "linear", 0, 10);
  assert_float_equal(lr_schedule_at(s, 1), 1.0, 1e-15); /* lambda(0) = 10/10 */
  assert_float_equal(lr_schedule_at(s, 6), 0.5, 1e-15);
  assert_float_equal(lr_schedule_at(s, 10), 0.1, 1e-15);
  assert_float_equal(lr_schedule_at(s, 11), 0.0, 0);
  assert_float_equal(lr_schedule_at(s, 50), 0.0, 0);
  lr_schedule_free(s);
  s = make("0.002", "linear", 2, 10);
  assert_float_equal(lr_schedule_at(s, 1), 0.0, 0); /* diffusers' first warm-up step has rate 0 */
  assert_float_equal(lr_schedule_at(s, 2), 0.001, 1e-18);
  assert_float_equal(lr_schedule_at(s, 3), 0.002, 1e-18);
  assert_float_equal(lr_schedule_at(s, 10), 0.002 / 8, 1e-18);
  lr_schedule_free(s);
}

static void cosine_follows_half_a_period(void **state) {
  (void)state;
  lr_schedule *s = make("1e-2", "cosine", 0, 10);
  for (long long k = 1; k <= 10; k++)
    assert_float_equal(lr_schedule_at(s, k), 1e-2 * 0.5 * (1 + cos(M_PI * (double)(k - 1) / 10)), 1e-17);
  assert_float_equal(lr_schedule_at(s, 6), 5e-3, 1e-17);
  assert_float_equal(lr_schedule_at(s, 11), 0.0, 1e-17);
  lr_schedule_free(s);
  s = make("1e-2", "cosine", 4, 12);
  assert_float_equal(lr_schedule_at(s, 3), 1e-2 * 0.5, 1e-17); /* warm-up: lambda(2) = 2/4 */
  assert_float_equal(lr_schedule_at(s, 5), 1e-2, 1e-17);
  assert_float_equal(lr_schedule_at(s, 9), 5e-3, 1e-17); /* progress (8-4)/8 = 0.5 */
  lr_schedule_free(s);
}

static void constant_warmup_ramps_then_holds(void **state) {
  (void)state;
  const char *kinds[] = {"constant", "constant_with_warmup"};
  for (int i = 0; i < 2; i++) {
    lr_schedule *s = make("0.004", kinds[i], 4, 0);
    assert_float_equal(lr_schedule_at(s, 1), 0.0, 0);
    assert_float_equal(lr_schedule_at(s, 2), 0.001, 1e-18);
    assert_float_equal(lr_schedule_at(s, 5), 0.004, 0);
    assert_float_equal(lr_schedule_at(s, 500), 0.004, 0);
    lr_schedule_free(s);
  }
}

static void expect_error(const char *spec, const char *kind, long long warmup, long long total, const char *a,
                         const char *b) {
  lr_schedule *s = (lr_schedule *)1;
  herr e;
  assert_int_equal(lr_schedule_new(spec, kind, warmup, total, &s, &e), -1);
  assert_null(s);
  if (a && !strstr(e.msg, a)) fail_msg("'%s': message '%s' lacks '%s'", spec, e.msg, a);
  if (b && !strstr(e.msg, b)) fail_msg("'%s': message '%s' lacks '%s'", spec, e.msg, b);
}

static void bad_specs_name_the_piece(void **state) {
  (void)state;
  expect_error("0.005:100, 1e-3:abc", "constant", 0, 0, "'1e-3:abc' in the learning-rate schedule",
               "expected RATE or RATE:STEP");
  expect_error("fast", "constant", 0, 0, "'fast' in the learning-rate schedule", "'fast' is not a number");
  expect_error("0.01:100, 0.005:50", "constant", 0, 0, "'0.005:50'", "step 50 does not come after step 100");
  expect_error("0.01:100, 0.005:100", "constant", 0, 0, "'0.005:100'", "must increase");
  expect_error("0.1, 0.2:10", "constant", 0, 0, "'0.2:10'", "without an end step");
  expect_error("-0.1", "constant", 0, 0, "'-0.1'", "negative");
  expect_error("0.1:0", "constant", 0, 0, "'0.1:0'", "1 or more");
  expect_error("0.1:2.5", "constant", 0, 0, "'0.1:2.5'", "whole step number");
  expect_error("", "constant", 0, 0, "is empty", NULL);
  expect_error(" , ", "constant", 0, 0, "is empty", NULL);
  expect_error("0.1:10, 0.01", "linear", 0, 100, "several pieces", "'constant'");
  expect_error("0.1:10, 0.01", "constant", 5, 100, "several pieces", "warm-up");
  expect_error("0.1", "exponential", 0, 100, "'exponential' is unknown", "constant, linear or cosine");
  expect_error("0.1", "linear", 0, 0, "needs the total number of steps", NULL);
  expect_error("0.1", "cosine", 20, 10, "longer than the 10 training steps", NULL);
  expect_error("0.1", "constant", -1, 10, "negative", NULL);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(single_rate_is_constant_and_unbounded),
      cmocka_unit_test(a1111_piece_holds_through_its_end_step),
      cmocka_unit_test(bounded_last_piece_gives_the_last_step),
      cmocka_unit_test(linear_decays_to_zero_after_warmup),
      cmocka_unit_test(cosine_follows_half_a_period),
      cmocka_unit_test(constant_warmup_ramps_then_holds),
      cmocka_unit_test(bad_specs_name_the_piece),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

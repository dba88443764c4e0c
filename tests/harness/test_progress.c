/* Progress output written into memory streams: the final line, throttling of plain log
 * output, the live line's escapes, log lines that clear it, and duration formatting. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/progress/progress.h"

typedef struct capture {
  FILE *f;
  char *buf;
  size_t len;
} capture;

static void capture_open(capture *c) {
  c->buf = NULL;
  c->len = 0;
  c->f = open_memstream(&c->buf, &c->len);
  assert_non_null(c->f);
}

/* The text written so far (valid until the next write). */
static const char *capture_text(capture *c) {
  fflush(c->f);
  return c->buf ? c->buf : "";
}

static void capture_close(capture *c) {
  fclose(c->f);
  free(c->buf);
}

static size_t count_char(const char *s, char ch) {
  size_t n = 0;
  for (; *s; s++) n += *s == ch;
  return n;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
  nanosleep(&ts, NULL);
}

/* Checks "PREFIX<rate> it/s)\n" where <rate> is a positive decimal with one digit after the
 * point, and that it is the whole text. */
static void assert_final_line(const char *text, const char *prefix) {
  size_t lp = strlen(prefix);
  if (strncmp(text, prefix, lp)) fail_msg("'%s' does not start with '%s'", text, prefix);
  char *end;
  double rate = strtod(text + lp, &end);
  assert_true(end > text + lp);
  assert_true(rate > 0);
  assert_non_null(strchr(text + lp, '.'));
  assert_string_equal(end, " it/s)\n");
}

static void plain_mode_prints_only_the_final_line_for_quick_updates(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, false);
  progress_begin(p, "toy_fit-3fa2c1d0", "fitting", 1000);
  assert_string_equal(capture_text(&c), "");
  for (uint64_t i = 1; i <= 1000; i++) progress_update(p, i);
  assert_string_equal(capture_text(&c), ""); /* under 10 s: nothing yet */
  progress_end(p);
  const char *text = capture_text(&c);
  assert_int_equal(count_char(text, '\n'), 1);
  assert_null(strchr(text, '\r'));
  assert_null(strchr(text, '\033'));
  assert_final_line(text, "[toy_fit-3fa2c1d0] fitting 1000/1000 in 0s (");
  progress_free(p);
  assert_int_equal(count_char(capture_text(&c), '\n'), 1); /* free adds nothing in plain mode */
  capture_close(&c);
}

static void final_line_without_total_shows_the_count(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, false);
  progress_begin(p, "gen", "sampling", 0);
  progress_update(p, 5);
  progress_end(p);
  assert_final_line(capture_text(&c), "[gen] sampling 5 in 0s (");
  progress_free(p);
  capture_close(&c);
}

static void end_and_update_without_begin_print_nothing(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, true);
  progress_update(p, 3);
  progress_end(p);
  assert_string_equal(capture_text(&c), "");
  /* a second end after a task is over prints nothing more */
  progress_begin(p, "a", "b", 2);
  progress_end(p);
  size_t len = strlen(capture_text(&c));
  progress_end(p);
  progress_update(p, 2);
  assert_int_equal(strlen(capture_text(&c)), len);
  progress_free(p);
  assert_int_equal(strlen(capture_text(&c)), len);
  capture_close(&c);
}

static void live_mode_redraws_one_line_and_ends_with_newline(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, true);
  progress_begin(p, "lbl", "work", 10);
  assert_string_equal(capture_text(&c), "\r\033[K[lbl] work 0/10 (  0%) 0.0 it/s ETA ?");
  progress_update(p, 1); /* within 0.1 s of the last draw: no redraw */
  assert_string_equal(capture_text(&c), "\r\033[K[lbl] work 0/10 (  0%) 0.0 it/s ETA ?");
  sleep_s(0.12);
  progress_update(p, 5);
  const char *text = capture_text(&c);
  const char *second = strstr(text + 1, "\r\033[K");
  assert_non_null(second);
  assert_true(!strncmp(second, "\r\033[K[lbl] work 5/10 ( 50%) ", 27));
  assert_non_null(strstr(second, " it/s ETA 0s"));
  assert_null(strchr(text, '\n'));
  progress_update(p, 10);
  progress_end(p);
  text = capture_text(&c);
  assert_int_equal(count_char(text, '\n'), 1);
  assert_int_equal(text[strlen(text) - 1], '\n');
  const char *last = strrchr(text, '\r');
  assert_non_null(last);
  assert_true(!strncmp(last, "\r\033[K[lbl] work 10/10 in 0s (", 28));
  progress_free(p); /* the line was finished: no extra newline */
  assert_int_equal(count_char(capture_text(&c), '\n'), 1);
  capture_close(&c);
}

static void live_mode_free_finishes_an_open_line(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, true);
  progress_begin(p, "x", "y", 4);
  progress_free(p);
  assert_string_equal(capture_text(&c), "\r\033[K[x] y 0/4 (  0%) 0.0 it/s ETA ?\n");
  capture_close(&c);
}

static void live_log_clears_the_line_then_redraws_it(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, true);
  progress_begin(p, "lbl", "work", 10);
  progress_log(p, "note %d: %s", 3, "hello");
  assert_string_equal(capture_text(&c),
                      "\r\033[K[lbl] work 0/10 (  0%) 0.0 it/s ETA ?"
                      "\r\033[Knote 3: hello\n"
                      "\r\033[K[lbl] work 0/10 (  0%) 0.0 it/s ETA ?");
  progress_end(p);
  size_t len = strlen(capture_text(&c));
  /* with no live line on screen a log line is printed as it is */
  progress_log(p, "after");
  assert_string_equal(capture_text(&c) + len, "after\n");
  progress_free(p);
  capture_close(&c);
}

static void plain_log_has_no_escapes(void **state) {
  capture c;
  capture_open(&c);
  progress *p = progress_new(c.f, false);
  progress_begin(p, "lbl", "work", 10);
  progress_log(p, "step %d", 1);
  assert_string_equal(capture_text(&c), "step 1\n");
  progress_free(p);
  capture_close(&c);
}

static void memory_stream_is_not_a_terminal(void **state) {
  capture c;
  capture_open(&c);
  assert_false(progress_is_terminal(c.f));
  capture_close(&c);
  FILE *t = tmpfile();
  assert_non_null(t);
  assert_false(progress_is_terminal(t));
  fclose(t);
}

static void format_duration_uses_seconds_minutes_and_hours(void **state) {
  char buf[32];
  assert_string_equal(progress_format_duration(5, buf, sizeof buf), "5s");
  assert_string_equal(progress_format_duration(125, buf, sizeof buf), "2m05s");
  assert_string_equal(progress_format_duration(7380, buf, sizeof buf), "2h03m");
  assert_string_equal(progress_format_duration(0, buf, sizeof buf), "0s");
  assert_string_equal(progress_format_duration(59.4, buf, sizeof buf), "59s");
  assert_string_equal(progress_format_duration(59.6, buf, sizeof buf), "1m00s");
  assert_string_equal(progress_format_duration(3599, buf, sizeof buf), "59m59s");
  assert_string_equal(progress_format_duration(3600, buf, sizeof buf), "1h00m");
  assert_string_equal(progress_format_duration(90000, buf, sizeof buf), "25h00m");
  assert_string_equal(progress_format_duration(-3, buf, sizeof buf), "0s");
  assert_string_equal(progress_format_duration(NAN, buf, sizeof buf), "0s");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(plain_mode_prints_only_the_final_line_for_quick_updates),
    cmocka_unit_test(final_line_without_total_shows_the_count),
    cmocka_unit_test(end_and_update_without_begin_print_nothing),
    cmocka_unit_test(live_mode_redraws_one_line_and_ends_with_newline),
    cmocka_unit_test(live_mode_free_finishes_an_open_line),
    cmocka_unit_test(live_log_clears_the_line_then_redraws_it),
    cmocka_unit_test(plain_log_has_no_escapes),
    cmocka_unit_test(memory_stream_is_not_a_terminal),
    cmocka_unit_test(format_duration_uses_seconds_minutes_and_hours),
};

MDH_TEST_MAIN(tests)

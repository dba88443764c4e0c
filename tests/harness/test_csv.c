/* The CSV reader: quoting, line ends, blank lines and the line numbers errors point at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/util/csv.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

static char *write_tmp(const char *text) {
  char tmpl[] = "/tmp/mdh-csv-XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return strdup(tmpl);
}

static csv_table *read_text(const char *text, char **path, herr *e) {
  *path = write_tmp(text);
  return csv_read(*path, e);
}

static void reads_quoted_fields_and_crlf(void **state) {
  char *path;
  herr e = {{0}};
  csv_table *t = read_text("\xEF\xBB\xBFid,label, score \r\n\"a,1\",1,0.5\r\n\"say \"\"hi\"\"\", 0 ,\" 2 \"\r\n", &path, &e);
  assert_non_null(t);
  assert_int_equal(t->ncols, 3);
  assert_int_equal(t->nrows, 2);
  assert_string_equal(t->header[0], "id");
  assert_string_equal(t->header[2], "score");
  assert_int_equal(csv_column(t, "score"), 2);
  assert_int_equal(csv_column(t, "nope"), -1);
  assert_string_equal(csv_cell(t, 0, 0), "a,1");
  assert_string_equal(csv_cell(t, 1, 0), "say \"hi\"");
  assert_string_equal(csv_cell(t, 1, 1), "0");
  assert_string_equal(csv_cell(t, 1, 2), " 2 "); /* quoted spaces are kept */
  char *list = csv_header_list(t);
  assert_string_equal(list, "id, label, score");
  free(list);
  csv_free(t);
  unlink(path);
  free(path);
}

static void rows_remember_their_file_lines(void **state) {
  char *path;
  herr e = {{0}};
  csv_table *t = read_text("a,b\n\n1,2\n\"multi\nline\",3\n\n4,5", &path, &e);
  assert_non_null(t);
  assert_int_equal(t->nrows, 3);
  assert_int_equal(t->line[0], 3);
  assert_int_equal(t->line[1], 4);
  assert_string_equal(csv_cell(t, 1, 0), "multi\nline");
  assert_int_equal(t->line[2], 7);
  csv_free(t);
  unlink(path);
  free(path);
}

static void malformed_files_name_the_line(void **state) {
  char *path;
  herr e = {{0}};
  assert_null(read_text("a,b\n1,2\n3\n", &path, &e));
  char want[512];
  snprintf(want, sizeof want, "%s:3: 1 field, but the header has 2", path);
  assert_string_equal(e.msg, want);
  unlink(path), free(path);
  assert_null(read_text("a,b\n1,\"open\n", &path, &e));
  snprintf(want, sizeof want, "%s:2: a quoted field is not closed", path);
  assert_string_equal(e.msg, want);
  unlink(path), free(path);
  assert_null(read_text("", &path, &e));
  snprintf(want, sizeof want, "%s: empty file (expected a header line)", path);
  assert_string_equal(e.msg, want);
  unlink(path), free(path);
  assert_null(read_text("a,,c\n", &path, &e));
  snprintf(want, sizeof want, "%s:1: column 2 of the header has no name", path);
  assert_string_equal(e.msg, want);
  unlink(path), free(path);
  assert_null(csv_read("/nonexistent/x.csv", &e));
  assert_non_null(strstr(e.msg, "/nonexistent/x.csv"));
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_quoted_fields_and_crlf),
      cmocka_unit_test(rows_remember_their_file_lines),
      cmocka_unit_test(malformed_files_name_the_line),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

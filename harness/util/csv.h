/* CSV files (RFC 4180: comma-separated, optional double quotes with "" escapes, LF or CRLF
 * line ends) read whole into a table of strings, with the file's line number of every row so
 * that errors can point at it. The first row is the header. Blank lines are skipped. */
#ifndef MDH_CSV_H
#define MDH_CSV_H

#include <stddef.h>

#include "harness/util/herr.h"

typedef struct csv_table {
  char *path;
  size_t ncols, nrows;
  char **header; /* ncols names */
  char **cells;  /* nrows * ncols, row-major */
  size_t *line;  /* the file line (1-based) of each row */
} csv_table;

/* A row with a different number of fields than the header, an unterminated quote or an
 * empty header name is an error naming the file and line. */
csv_table *csv_read(const char *path, herr *e);
void csv_free(csv_table *t);
/* Index of the column called `name`, or -1. */
long csv_column(const csv_table *t, const char *name);
const char *csv_cell(const csv_table *t, size_t row, size_t col);
/* "a, b, c" (caller frees), for "no column 'x' (columns: ...)". */
char *csv_header_list(const csv_table *t);

#endif

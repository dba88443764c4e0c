/* report_table: a table of strings filled cell by cell, written as RFC 4180 CSV (quoted when a
 * cell holds a comma, quote or line break) and shown by the document writers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_model.h"
#include "harness/util/fsutil.h"
#include "harness/util/numfmt.h"
#include "harness/util/strbuf.h"

rp_table *rp_table_new(const char *name, const char *const *cols, size_t ncols) {
  rp_table *t = calloc(1, sizeof *t);
  if (!t) abort();
  t->name = strdup(name);
  t->ncols = ncols;
  t->cols = calloc(ncols, sizeof *t->cols);
  if (!t->name || !t->cols) abort();
  for (size_t c = 0; c < ncols; c++)
    if (!(t->cols[c] = strdup(cols[c]))) abort();
  return t;
}

void rp_table_free(rp_table *t) {
  if (!t) return;
  for (size_t c = 0; c < t->ncols; c++) free(t->cols[c]);
  for (size_t i = 0; i < t->ncells; i++) free(t->cells[i]);
  free(t->cols), free(t->cells), free(t->name), free(t);
}

void rp_table_cell(rp_table *t, const char *text) {
  if (t->ncells == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->cells = realloc(t->cells, t->cap * sizeof *t->cells);
    if (!t->cells) abort();
  }
  if (!(t->cells[t->ncells++] = strdup(text ? text : ""))) abort();
  t->nrows = t->ncells / t->ncols;
}

void rp_table_cellf(rp_table *t, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  rp_table_cell(t, buf);
}

void rp_table_num(rp_table *t, double v) {
  char buf[64];
  rp_table_cell(t, isfinite(v) ? fmt_double(v, buf, sizeof buf) : "");
}

const char *rp_table_at(const rp_table *t, size_t row, size_t col) { return t->cells[row * t->ncols + col]; }

static void csv_field(strbuf *sb, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    sb_append(sb, s);
    return;
  }
  sb_append_char(sb, '"');
  for (; *s; s++) {
    if (*s == '"') sb_append_char(sb, '"');
    sb_append_char(sb, *s);
  }
  sb_append_char(sb, '"');
}

int rp_table_write_csv(const rp_table *t, const char *path, herr *e) {
  strbuf sb = STRBUF_INIT;
  for (size_t c = 0; c < t->ncols; c++) {
    if (c) sb_append_char(&sb, ',');
    csv_field(&sb, t->cols[c]);
  }
  sb_append_char(&sb, '\n');
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      if (c) sb_append_char(&sb, ',');
      csv_field(&sb, rp_table_at(t, r, c));
    }
    sb_append_char(&sb, '\n');
  }
  int rc = fs_write_atomic(path, sb_str(&sb), sb.len, e);
  sb_free(&sb);
  return rc;
}

const char *rp_fmt(double v, int digits, char *buf, size_t n) {
  if (!isfinite(v))
    snprintf(buf, n, "—");
  else
    snprintf(buf, n, "%.*f", digits, v);
  return buf;
}

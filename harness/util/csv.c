/* csv: a small RFC 4180 reader; fields are unquoted and trimmed of surrounding spaces. */
#include "harness/util/csv.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

typedef struct row {
  char **fields;
  size_t n, cap;
} row;

static void row_push(row *r, char *field) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 8;
    r->fields = realloc(r->fields, r->cap * sizeof *r->fields);
    if (!r->fields) abort();
  }
  r->fields[r->n++] = field;
}

static void row_free(row *r) {
  for (size_t i = 0; i < r->n; i++) free(r->fields[i]);
  free(r->fields);
  memset(r, 0, sizeof *r);
}

static char *trimmed(strbuf *sb, bool quoted) {
  char *s = sb_take(sb);
  if (quoted) return s;
  size_t a = 0, b = strlen(s);
  while (a < b && isspace((unsigned char)s[a])) a++;
  while (b > a && isspace((unsigned char)s[b - 1])) b--;
  memmove(s, s + a, b - a);
  s[b - a] = '\0';
  return s;
}

/* Reads one record starting at *p (which may span lines inside quotes); advances *p and
 * *lineno and sets *start to the line the record begins on. Returns 1 for a record, 0 at
 * the end, -1 on error. */
static int next_record(const char **p, size_t *lineno, size_t *start, row *r, const char *path, herr *e) {
  const char *s = *p;
  while (*s == '\r' || *s == '\n') { /* blank lines */
    if (*s == '\n') (*lineno)++;
    s++;
  }
  if (!*s) {
    *p = s;
    return 0;
  }
  size_t start_line = *lineno;
  *start = start_line;
  strbuf field = STRBUF_INIT;
  bool quoted = false, was_quoted = false;
  for (;;) {
    char c = *s;
    if (quoted) {
      if (!c) {
        sb_free(&field);
        return herr_set(e, "%s:%zu: a quoted field is not closed", path, start_line);
      }
      if (c == '"' && s[1] == '"') {
        sb_append_char(&field, '"');
        s += 2;
        continue;
      }
      if (c == '"') {
        quoted = false;
        s++;
        continue;
      }
      if (c == '\n') (*lineno)++;
      sb_append_char(&field, c);
      s++;
      continue;
    }
    if (c == '"' && !was_quoted && strspn(sb_str(&field), " \t") == field.len) {
      sb_free(&field);
      quoted = was_quoted = true;
      s++;
      continue;
    }
    if (c == ',' || c == '\n' || c == '\r' || !c) {
      row_push(r, trimmed(&field, was_quoted));
      was_quoted = false;
      if (c == ',') {
        s++;
        continue;
      }
      if (c == '\r') s++;
      if (*s == '\n') {
        s++;
        (*lineno)++;
      }
      *p = s;
      return 1;
    }
    sb_append_char(&field, c);
    s++;
  }
}

csv_table *csv_read(const char *path, herr *e) {
  size_t len;
  char *text = fs_read_file(path, &len, e);
  if (!text) return NULL;
  if (strlen(text) != len) {
    herr_set(e, "%s: contains a NUL byte; not a text CSV file", path);
    free(text);
    return NULL;
  }
  csv_table *t = calloc(1, sizeof *t);
  if (!t) abort();
  t->path = strdup(path);
  const char *p = text;
  if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* a byte-order mark from spreadsheets */
  size_t lineno = 1, line = 1, cap = 0;
  row r = {0};
  int rc = next_record(&p, &lineno, &line, &r, path, e);
  if (rc <= 0) {
    if (rc == 0) herr_set(e, "%s: empty file (expected a header line)", path);
    goto fail;
  }
  t->ncols = r.n;
  t->header = r.fields;
  r = (row){0};
  for (size_t c = 0; c < t->ncols; c++)
    if (!t->header[c][0]) {
      herr_set(e, "%s:%zu: column %zu of the header has no name", path, line, c + 1);
      goto fail;
    }
  for (;;) {
    rc = next_record(&p, &lineno, &line, &r, path, e);
    if (rc < 0) goto fail;
    if (rc == 0) break;
    if (r.n != t->ncols) {
      herr_set(e, "%s:%zu: %zu field%s, but the header has %zu", path, line, r.n, r.n == 1 ? "" : "s", t->ncols);
      row_free(&r);
      goto fail;
    }
    if (t->nrows == cap) {
      cap = cap ? 2 * cap : 256;
      t->cells = realloc(t->cells, cap * t->ncols * sizeof *t->cells);
      t->line = realloc(t->line, cap * sizeof *t->line);
      if (!t->cells || !t->line) abort();
    }
    memcpy(t->cells + t->nrows * t->ncols, r.fields, t->ncols * sizeof *r.fields);
    t->line[t->nrows++] = line;
    free(r.fields);
    r = (row){0};
  }
  free(text);
  return t;
fail:
  row_free(&r);
  free(text);
  csv_free(t);
  return NULL;
}

void csv_free(csv_table *t) {
  if (!t) return;
  for (size_t i = 0; t->header && i < t->ncols; i++) free(t->header[i]);
  for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
  free(t->header);
  free(t->cells);
  free(t->line);
  free(t->path);
  free(t);
}

long csv_column(const csv_table *t, const char *name) {
  for (size_t c = 0; c < t->ncols; c++)
    if (!strcmp(t->header[c], name)) return (long)c;
  return -1;
}

const char *csv_cell(const csv_table *t, size_t row, size_t col) { return t->cells[row * t->ncols + col]; }

char *csv_header_list(const csv_table *t) {
  strbuf sb = STRBUF_INIT;
  for (size_t c = 0; c < t->ncols; c++) sb_appendf(&sb, "%s%s", c ? ", " : "", t->header[c]);
  return sb_take(&sb);
}

/* dataset: the manifest in memory, its checks, and manifest.csv read and written (RFC 4180
 * through harness/util/csv.h; every field validated with file:line and column in errors). */
#include "harness/data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/csv.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char *const ds_columns[] = {"case_id", "label", "status", "reason", "image",
                                         "mask",    "slice", "split",  "embed",  "source"};
enum { DS_NCOLS = sizeof ds_columns / sizeof ds_columns[0] };

static char *dup_or_empty(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort();
  return d;
}

static int id_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

/* Problems with one case, as text for the caller to place (NULL when fine). */
static const char *case_problem(const ds_case *c, const char **column) {
  *column = "case_id";
  if (!c->case_id || !c->case_id[0]) return "is empty; every case needs an id";
  for (const char *p = c->case_id; *p; p++)
    if (!id_char_ok(*p)) return "may only hold letters, digits, '_', '-' and '.' (it names files)";
  if (!strcmp(c->case_id, ".") || !strcmp(c->case_id, "..")) return "may not be '.' or '..'";
  *column = "label";
  if (c->label < -1 || c->label > 1) return "must be 0, 1 or empty (unknown)";
  *column = "reason";
  if (!c->ok && (!c->reason || !c->reason[0])) return "is empty; a skipped case must say why";
  if (c->ok && c->reason && c->reason[0]) return "must be empty for a case with status ok";
  *column = "image";
  if (c->ok && (!c->image || !c->image[0])) return "is empty; a case with status ok needs an image";
  *column = "slice";
  if (c->slice < -1) return "must be a slice index >= 0, or -1 for none";
  *column = "split";
  if (c->split[0] && strcmp(c->split, "train") && strcmp(c->split, "val") && strcmp(c->split, "test"))
    return "must be train, val, test or empty";
  if (c->split[0] && (!c->ok || c->label < 0)) return "is set, but only ok cases with a known label can be in a split";
  *column = "embed";
  if (c->embed != 0 && c->embed != 1) return "must be 0 or 1";
  if (c->embed && (!c->ok || c->label < 0))
    return "is 1, but only ok cases with a known label can be in the embedding subset";
  return NULL;
}

int ds_manifest_init(ds_manifest *m, const char *dir, herr *e) {
  memset(m, 0, sizeof *m);
  if (!dir || !dir[0]) return herr_set(e, "dataset: no directory given");
  m->dir = dup_or_empty(dir);
  return 0;
}

static long find_id(const ds_manifest *m, const char *id) {
  for (size_t i = 0; i < m->n; i++)
    if (!strcmp(m->cases[i].case_id, id)) return (long)i;
  return -1;
}

/* Appends without the duplicate check (the reader does it with a sorted index). */
static void push_case(ds_manifest *m, const ds_case *c) {
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->cases = realloc(m->cases, m->cap * sizeof *m->cases);
    if (!m->cases) abort();
  }
  ds_case *d = &m->cases[m->n++];
  *d = *c;
  d->case_id = dup_or_empty(c->case_id);
  d->reason = dup_or_empty(c->reason);
  d->image = dup_or_empty(c->image);
  d->mask = dup_or_empty(c->mask);
  d->source = dup_or_empty(c->source);
  d->split[sizeof d->split - 1] = '\0';
}

int ds_manifest_add(ds_manifest *m, const ds_case *c, herr *e) {
  const char *col;
  const char *why = case_problem(c, &col);
  if (why) return herr_set(e, "dataset case '%s': %s %s", c->case_id ? c->case_id : "", col, why);
  if (find_id(m, c->case_id) >= 0) return herr_set(e, "dataset case '%s': case_id appears twice", c->case_id);
  push_case(m, c);
  return 0;
}

void ds_manifest_free(ds_manifest *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n; i++) {
    ds_case *c = &m->cases[i];
    free(c->case_id);
    free(c->reason);
    free(c->image);
    free(c->mask);
    free(c->source);
  }
  free(m->cases);
  free(m->dir);
  memset(m, 0, sizeof *m);
}

char *ds_case_path(const ds_manifest *m, const char *rel) {
  if (rel[0] == '/') return dup_or_empty(rel);
  return fs_join(m->dir, rel);
}

/* A field as RFC 4180 wants it; quoted when the reader would otherwise split or trim it. */
static void csv_field(strbuf *sb, const char *s) {
  size_t n = strlen(s);
  int quote = n && (strpbrk(s, ",\"\r\n") || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
  if (!quote) {
    sb_append(sb, s);
    return;
  }
  sb_append_char(sb, '"');
  for (const char *p = s; *p; p++) {
    if (*p == '"') sb_append_char(sb, '"');
    sb_append_char(sb, *p);
  }
  sb_append_char(sb, '"');
}

int ds_manifest_write(const ds_manifest *m, herr *e) {
  strbuf sb = STRBUF_INIT;
  sb_append(&sb, DS_MANIFEST_HEADER "\n");
  for (size_t i = 0; i < m->n; i++) {
    const ds_case *c = &m->cases[i];
    char num[32];
    csv_field(&sb, c->case_id);
    sb_append(&sb, c->label < 0 ? ",," : c->label ? ",1," : ",0,");
    sb_append(&sb, c->ok ? "ok," : "skipped,");
    csv_field(&sb, c->reason);
    sb_append_char(&sb, ',');
    csv_field(&sb, c->image);
    sb_append_char(&sb, ',');
    csv_field(&sb, c->mask);
    snprintf(num, sizeof num, ",%d,", c->slice);
    sb_append(&sb, num);
    sb_append(&sb, c->split);
    sb_append(&sb, c->embed ? ",1," : ",0,");
    csv_field(&sb, c->source);
    sb_append_char(&sb, '\n');
  }
  char *path = fs_join(m->dir, "manifest.csv");
  int rc = fs_mkdir_p(m->dir, e);
  if (!rc) rc = fs_write_atomic(path, sb.data, sb.len, e);
  free(path);
  sb_free(&sb);
  return rc;
}

static int parse_int_cell(const char *s, long lo, long hi, int *out) {
  if (!s[0]) return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

typedef struct id_ref {
  const char *id;
  size_t row;
} id_ref;

static int cmp_id_ref(const void *a, const void *b) {
  const id_ref *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* One row into *c (pointing into the table's cells); errors name file:line and column. */
static int parse_row(const csv_table *t, size_t r, const long *col, ds_case *c, herr *e) {
  const char *v[DS_NCOLS];
  for (size_t k = 0; k < DS_NCOLS; k++) v[k] = csv_cell(t, r, (size_t)col[k]);
  size_t line = t->line[r];
  memset(c, 0, sizeof *c);
  c->case_id = (char *)v[0];
  if (!v[1][0])
    c->label = -1;
  else if (!strcmp(v[1], "0") || !strcmp(v[1], "1"))
    c->label = v[1][0] - '0';
  else
    return herr_set(e, "%s:%zu: column 'label': expected 0, 1 or empty (unknown), got '%s'", t->path, line, v[1]);
  if (!strcmp(v[2], "ok"))
    c->ok = 1;
  else if (!strcmp(v[2], "skipped"))
    c->ok = 0;
  else
    return herr_set(e, "%s:%zu: column 'status': expected ok or skipped, got '%s'", t->path, line, v[2]);
  c->reason = (char *)v[3];
  c->image = (char *)v[4];
  c->mask = (char *)v[5];
  if (parse_int_cell(v[6], -1, INT_MAX, &c->slice))
    return herr_set(e, "%s:%zu: column 'slice': expected a slice index >= 0 or -1 (none), got '%s'", t->path, line,
                    v[6]);
  if (strlen(v[7]) >= sizeof c->split)
    return herr_set(e, "%s:%zu: column 'split': expected train, val, test or empty, got '%s'", t->path, line, v[7]);
  strcpy(c->split, v[7]);
  if (parse_int_cell(v[8], 0, 1, &c->embed))
    return herr_set(e, "%s:%zu: column 'embed': expected 0 or 1, got '%s'", t->path, line, v[8]);
  c->source = (char *)v[9];
  const char *which;
  const char *why = case_problem(c, &which);
  if (why) {
    size_t k = 0;
    while (strcmp(ds_columns[k], which)) k++;
    return herr_set(e, "%s:%zu: column '%s': '%s' %s", t->path, line, which, v[k], why);
  }
  return 0;
}

int ds_manifest_read(const char *dir, ds_manifest *out, herr *e) {
  memset(out, 0, sizeof *out);
  char *path = fs_join(dir, "manifest.csv");
  csv_table *t = csv_read(path, e);
  free(path);
  if (!t) return -1;
  long col[DS_NCOLS];
  for (size_t k = 0; k < DS_NCOLS; k++) {
    col[k] = csv_column(t, ds_columns[k]);
    if (col[k] < 0) {
      char *have = csv_header_list(t);
      herr_set(e, "%s:1: no column '%s' (columns: %s; expected %s)", t->path, ds_columns[k], have,
               DS_MANIFEST_HEADER);
      free(have);
      csv_free(t);
      return -1;
    }
  }
  ds_manifest_init(out, dir, e);
  id_ref *ids = malloc((t->nrows ? t->nrows : 1) * sizeof *ids);
  if (!ids) abort();
  int rc = 0;
  for (size_t r = 0; r < t->nrows && !rc; r++) {
    ds_case c;
    rc = parse_row(t, r, col, &c, e);
    if (!rc) {
      push_case(out, &c);
      ids[r] = (id_ref){csv_cell(t, r, (size_t)col[0]), r};
    }
  }
  if (!rc && t->nrows > 1) {
    qsort(ids, t->nrows, sizeof *ids, cmp_id_ref);
    for (size_t i = 1; i < t->nrows && !rc; i++)
      if (!strcmp(ids[i].id, ids[i - 1].id))
        rc = herr_set(e, "%s:%zu: column 'case_id': '%s' already appears on line %zu", t->path,
                      t->line[ids[i].row], ids[i].id, t->line[ids[i - 1].row]);
  }
  free(ids);
  csv_free(t);
  if (rc) ds_manifest_free(out);
  return rc;
}

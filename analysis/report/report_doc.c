/* report_doc: the block list the section builders fill and the writers read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_doc.h"

static rd_block *push(rp_doc *d, rd_kind kind) {
  if (d->n == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 64;
    d->b = realloc(d->b, d->cap * sizeof *d->b);
    if (!d->b) abort();
  }
  rd_block *b = &d->b[d->n++];
  memset(b, 0, sizeof *b);
  b->kind = kind;
  return b;
}

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

static char *vfmt(const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) abort();
  return s;
}

void rd_heading(rp_doc *d, int level, const char *anchor, const char *fmt, ...) {
  rd_block *b = push(d, RD_HEADING);
  b->level = level;
  b->anchor = dup_or_null(anchor);
  va_list ap;
  va_start(ap, fmt);
  b->text = vfmt(fmt, ap);
  va_end(ap);
}

/* A block of formatted text (a paragraph or a note). */
static void text_block(rp_doc *d, rd_kind kind, const char *fmt, va_list ap) { push(d, kind)->text = vfmt(fmt, ap); }

void rd_para(rp_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_block(d, RD_PARA, fmt, ap);
  va_end(ap);
}

void rd_note(rp_doc *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_block(d, RD_NOTE, fmt, ap);
  va_end(ap);
}

void rd_table(rp_doc *d, rp_table *t, const char *csv_path) {
  rd_block *b = push(d, RD_TABLE);
  b->table = t;
  b->path = dup_or_null(csv_path);
}

void rd_figure(rp_doc *d, const char *svg, const char *redraw, const char *caption) {
  rd_block *b = push(d, RD_FIGURE);
  b->path = dup_or_null(svg);
  b->extra = dup_or_null(redraw);
  b->text = dup_or_null(caption);
}

void rd_image(rp_doc *d, const char *png, const char *caption) {
  rd_block *b = push(d, RD_IMAGE);
  b->path = dup_or_null(png);
  b->text = dup_or_null(caption);
}

void rd_fold(rp_doc *d, bool begin, bool open, const char *summary) {
  rd_block *b = push(d, begin ? RD_FOLD_BEGIN : RD_FOLD_END);
  b->level = open;
  b->text = dup_or_null(summary);
}

void rd_free(rp_doc *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->b[i].text), free(d->b[i].anchor), free(d->b[i].path), free(d->b[i].extra);
    rp_table_free(d->b[i].table);
  }
  free(d->b);
  free(d->title);
  memset(d, 0, sizeof *d);
}

/* report_html: the report as one self-contained HTML file — inline CSS, no scripts, no
 * external URLs; figures, grids and CSVs are linked by paths relative to the report folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_doc.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;"
    "margin:2em auto;padding:0 1em;color:#1b1f24;line-height:1.45}\n"
    "h1{font-size:1.6em;border-bottom:2px solid #d0d7de;padding-bottom:.3em}\n"
    "h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #d0d7de}\n"
    "h3{font-size:1.1em;margin-top:1.5em}\n"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.9em}\n"
    "th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#f3f5f7}\n"
    "tr:nth-child(even) td{background:#fafbfc}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".note{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em;border-radius:4px}\n"
    ".csv{font-size:.85em;margin-top:-.3em}\n"
    "figure{margin:1em 0}\n"
    "figure img{max-width:100%;border:1px solid #eaeef2}\n"
    "figcaption{font-size:.9em;color:#57606a}\n"
    "details{margin:.5em 0}\n"
    "summary{cursor:pointer;font-weight:600}\n"
    "nav ul{columns:2}\n";

static void esc(strbuf *sb, const char *s) {
  for (; s && *s; s++) switch (*s) {
      case '&': sb_append(sb, "&amp;"); break;
      case '<': sb_append(sb, "&lt;"); break;
      case '>': sb_append(sb, "&gt;"); break;
      case '"': sb_append(sb, "&quot;"); break;
      default: sb_append_char(sb, *s);
    }
}

/* Cells that are numbers (or intervals of them) are right-aligned. */
static bool numeric_cell(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!strchr("0123456789.-+e ±–", *s) && (unsigned char)*s < 0x80) return false;
  return true;
}

static void table(strbuf *sb, const rd_block *b) {
  const rp_table *t = b->table;
  sb_append(sb, "<table>\n<tr>");
  for (size_t c = 0; c < t->ncols; c++) {
    sb_append(sb, "<th>");
    esc(sb, t->cols[c]);
    sb_append(sb, "</th>");
  }
  sb_append(sb, "</tr>\n");
  for (size_t r = 0; r < t->nrows; r++) {
    sb_append(sb, "<tr>");
    for (size_t c = 0; c < t->ncols; c++) {
      const char *v = rp_table_at(t, r, c);
      sb_append(sb, numeric_cell(v) ? "<td class=\"num\">" : "<td>");
      esc(sb, v);
      sb_append(sb, "</td>");
    }
    sb_append(sb, "</tr>\n");
  }
  sb_append(sb, "</table>\n");
  if (b->path) {
    sb_append(sb, "<p class=\"csv\"><a href=\"");
    esc(sb, b->path);
    sb_append(sb, "\">");
    esc(sb, b->path);
    sb_append(sb, "</a></p>\n");
  }
}

/* "figures/a.gp, figures/a.dat" as links. */
static void links(strbuf *sb, const char *list) {
  char *copy = strdup(list), *save = NULL;
  if (!copy) abort();
  bool first = true;
  for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save), first = false) {
    if (!first) sb_append(sb, ", ");
    sb_append(sb, "<a href=\"");
    esc(sb, tok);
    sb_append(sb, "\">");
    esc(sb, strrchr(tok, '/') ? strrchr(tok, '/') + 1 : tok);
    sb_append(sb, "</a>");
  }
  free(copy);
}

int rp_write_html(const rp_doc *d, const char *path, herr *e) {
  strbuf sb = STRBUF_INIT;
  sb_append(&sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
  esc(&sb, d->title);
  sb_appendf(&sb, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", css);
  esc(&sb, d->title);
  sb_append(&sb, "</h1>\n<nav><ul>\n");
  for (size_t i = 0; i < d->n; i++) {
    const rd_block *b = &d->b[i];
    if (b->kind != RD_HEADING || b->level != 2 || !b->anchor) continue;
    sb_append(&sb, "<li><a href=\"#");
    esc(&sb, b->anchor);
    sb_append(&sb, "\">");
    esc(&sb, b->text);
    sb_append(&sb, "</a></li>\n");
  }
  sb_append(&sb, "</ul></nav>\n");
  for (size_t i = 0; i < d->n; i++) {
    const rd_block *b = &d->b[i];
    switch (b->kind) {
      case RD_HEADING:
        sb_appendf(&sb, "<h%d", b->level);
        if (b->anchor) {
          sb_append(&sb, " id=\"");
          esc(&sb, b->anchor);
          sb_append(&sb, "\"");
        }
        sb_append(&sb, ">");
        esc(&sb, b->text);
        sb_appendf(&sb, "</h%d>\n", b->level);
        break;
      case RD_PARA:
        sb_append(&sb, "<p>");
        esc(&sb, b->text);
        sb_append(&sb, "</p>\n");
        break;
      case RD_NOTE:
        sb_append(&sb, "<p class=\"note\">");
        esc(&sb, b->text);
        sb_append(&sb, "</p>\n");
        break;
      case RD_TABLE: table(&sb, b); break;
      case RD_FIGURE:
      case RD_IMAGE:
        sb_append(&sb, "<figure><img src=\"");
        esc(&sb, b->path);
        sb_append(&sb, "\" alt=\"");
        esc(&sb, b->text);
        sb_append(&sb, "\"><figcaption>");
        esc(&sb, b->text);
        if (b->extra) {
          sb_append(&sb, " Redraw with gnuplot: ");
          links(&sb, b->extra);
        }
        sb_append(&sb, "</figcaption></figure>\n");
        break;
      case RD_FOLD_BEGIN:
        sb_append(&sb, b->level ? "<details open><summary>" : "<details><summary>");
        esc(&sb, b->text);
        sb_append(&sb, "</summary>\n");
        break;
      case RD_FOLD_END: sb_append(&sb, "</details>\n"); break;
    }
  }
  sb_append(&sb, "</body>\n</html>\n");
  int rc = fs_write_atomic(path, sb_str(&sb), sb.len, e);
  sb_free(&sb);
  return rc;
}

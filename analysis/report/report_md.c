/* report_md: the report as Markdown (CommonMark with pipe tables), the same blocks as the HTML;
 * figures, grids and CSVs are linked by paths relative to the report folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_doc.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

/* Escapes what would otherwise start markup; underscores inside words are left alone
 * (CommonMark does not emphasise them), so arm names stay readable in the raw file. */
static void esc(strbuf *sb, const char *s, bool cell) {
  for (; s && *s; s++) {
    if (*s == '\n' || *s == '\r') {
      sb_append_char(sb, ' ');
      continue;
    }
    if (strchr("\\*[]<>`", *s) || (cell && *s == '|')) sb_append_char(sb, '\\');
    sb_append_char(sb, *s);
  }
}

static void table(strbuf *sb, const rd_block *b) {
  const rp_table *t = b->table;
  sb_append(sb, "|");
  for (size_t c = 0; c < t->ncols; c++) {
    sb_append_char(sb, ' ');
    esc(sb, t->cols[c], true);
    sb_append(sb, " |");
  }
  sb_append(sb, "\n|");
  for (size_t c = 0; c < t->ncols; c++) sb_append(sb, "---|");
  sb_append_char(sb, '\n');
  for (size_t r = 0; r < t->nrows; r++) {
    sb_append(sb, "|");
    for (size_t c = 0; c < t->ncols; c++) {
      sb_append_char(sb, ' ');
      esc(sb, rp_table_at(t, r, c), true);
      sb_append(sb, " |");
    }
    sb_append_char(sb, '\n');
  }
  if (b->path) sb_appendf(sb, "\nCSV: [%s](%s)\n", b->path, b->path);
  sb_append_char(sb, '\n');
}

int rp_write_md(const rp_doc *d, const char *path, herr *e) {
  strbuf sb = STRBUF_INIT;
  sb_append(&sb, "# ");
  esc(&sb, d->title, false);
  sb_append(&sb, "\n\n");
  for (size_t i = 0; i < d->n; i++) {
    const rd_block *b = &d->b[i];
    switch (b->kind) {
      case RD_HEADING:
        for (int l = 0; l < b->level; l++) sb_append_char(&sb, '#');
        sb_append_char(&sb, ' ');
        esc(&sb, b->text, false);
        sb_append(&sb, "\n\n");
        break;
      case RD_PARA:
        esc(&sb, b->text, false);
        sb_append(&sb, "\n\n");
        break;
      case RD_NOTE:
        sb_append(&sb, "> **Note:** ");
        esc(&sb, b->text, false);
        sb_append(&sb, "\n\n");
        break;
      case RD_TABLE: table(&sb, b); break;
      case RD_FIGURE:
      case RD_IMAGE:
        sb_append(&sb, "![");
        esc(&sb, b->text, false);
        sb_appendf(&sb, "](%s)\n\n*", b->path);
        esc(&sb, b->text, false);
        sb_append(&sb, "*");
        if (b->extra) {
          sb_append(&sb, " Redraw with gnuplot:");
          char *copy = strdup(b->extra), *save = NULL;
          if (!copy) abort();
          for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
            sb_appendf(&sb, " [%s](%s)", strrchr(tok, '/') ? strrchr(tok, '/') + 1 : tok, tok);
          free(copy);
        }
        sb_append(&sb, "\n\n");
        break;
      case RD_FOLD_BEGIN:
        sb_append(&sb, "**");
        esc(&sb, b->text, false);
        sb_append(&sb, "**\n\n");
        break;
      case RD_FOLD_END: break;
    }
  }
  int rc = fs_write_atomic(path, sb_str(&sb), sb.len, e);
  sb_free(&sb);
  return rc;
}

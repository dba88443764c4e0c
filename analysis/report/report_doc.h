/* The report as a list of blocks (headings, paragraphs, tables with their CSV, figures, image
 * grids) built once by the section builders and written by the HTML and Markdown writers, so
 * both documents always say the same. Internal to analysis/report/. */
#ifndef MDH_REPORT_DOC_H
#define MDH_REPORT_DOC_H

#include "analysis/report/report.h"
#include "analysis/report/report_model.h"
#include "harness/util/strbuf.h"

typedef enum rd_kind {
  RD_HEADING,  /* level 1..3 */
  RD_PARA,
  RD_NOTE,     /* a warning the reader must not miss (incomplete stages, no gain) */
  RD_TABLE,    /* table + link to its CSV */
  RD_FIGURE,   /* an SVG with its caption and the files that redraw it */
  RD_IMAGE,    /* a PNG with its caption */
  RD_FOLD_BEGIN, /* collapsible part (HTML <details>); text is its summary line */
  RD_FOLD_END
} rd_kind;

typedef struct rd_block {
  rd_kind kind;
  int level; /* headings: 1..3; folds: 1 open, 0 folded */
  char *text;      /* heading, paragraph, caption or fold summary */
  char *anchor;    /* headings: id to link to (may be NULL) */
  rp_table *table; /* RD_TABLE, owned */
  char *path;      /* RD_TABLE: its CSV; RD_FIGURE/RD_IMAGE: the file; relative to the report */
  char *extra;     /* RD_FIGURE: "figures/x.gp, figures/x.dat" */
} rd_block;

typedef struct rp_doc {
  char *title;
  rd_block *b;
  size_t n, cap;
} rp_doc;

void rd_heading(rp_doc *d, int level, const char *anchor, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void rd_para(rp_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rd_note(rp_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the table; csv_path is where its CSV was written (NULL: none). */
void rd_table(rp_doc *d, rp_table *t, const char *csv_path);
void rd_figure(rp_doc *d, const char *svg, const char *redraw, const char *caption);
void rd_image(rp_doc *d, const char *png, const char *caption);
/* A collapsible part; `open` shows it unfolded (HTML). */
void rd_fold(rp_doc *d, bool begin, bool open, const char *summary);
void rd_free(rp_doc *d);

/* What the section builders share while the report is written. */
typedef struct rp_ctx {
  const rp_results *res;
  const report_opts *opts;
  const char *dir; /* the (temporary) report folder being written */
  rp_doc doc;
  report_summary *sum;
  char **scripts; /* gnuplot scripts to run, relative to dir/figures */
  size_t nscripts;
} rp_ctx;

/* Writes tables/<t->name>.csv into the report and returns its relative path (static buffer). */
const char *rp_ctx_write_csv(rp_ctx *c, const rp_table *t, herr *e);

/* Section builders (report_sections.c, report_figures.c, report_grid.c). */
int rp_section_overview(rp_ctx *c, herr *e);
int rp_section_results(rp_ctx *c, herr *e);
int rp_section_sweeps(rp_ctx *c, herr *e);
int rp_section_curves(rp_ctx *c, herr *e);
int rp_section_grids(rp_ctx *c, herr *e);
int rp_section_provenance(rp_ctx *c, herr *e);

/* gnuplot (report_gnuplot.c). */
/* The program to run: `given` when set (must be executable), else gnuplot on PATH; the error
 * says to install gnuplot-nox or to pass --no-figures. */
char *rp_gnuplot_find(const char *given, herr *e);
/* Appends s as a gnuplot single-quoted string ('' for a quote; control characters dropped). */
void rp_gp_quote(strbuf *sb, const char *s);
/* Runs gnuplot on the scripts in folder dir (fork/exec, no shell); its messages go to
 * dir/gnuplot.log and are quoted in the error when it fails. */
int rp_gnuplot_run(const char *gnuplot, const char *dir, char *const *scripts, size_t n, herr *e);

/* Writers (report_html.c, report_md.c). */
int rp_write_html(const rp_doc *d, const char *path, herr *e);
int rp_write_md(const rp_doc *d, const char *path, herr *e);

#endif

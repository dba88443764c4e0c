/* report: turns a results directory written by `harness run` into a report a researcher can
 * read and cite — the paper-style AUC table per point next to the paper's published values,
 * paired arm comparisons, sweep plots, ROC and training curves (SVG through gnuplot), grids of
 * generated against real images (PNG), and the provenance of every stage — as a self-contained
 * index.html and/or report.md, with every table also as CSV. */
#ifndef MDH_REPORT_H
#define MDH_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/util/herr.h"

/* The file that marks a folder as written by report_render: only such a folder (or an empty
 * one) is ever replaced, so a mistyped --out never removes a user's files. */
#define REPORT_MARKER ".mdh-report"

typedef struct report_opts {
  const char *results_dir;
  const char *out_dir;  /* NULL: RESULTS_DIR/report */
  bool html, markdown;  /* which documents to write (at least one) */
  bool figures;         /* false: no gnuplot, no SVG figures (tables and image grids only) */
  const char *gnuplot;  /* the gnuplot program; NULL: "gnuplot" found on PATH */
  size_t grid_images;   /* generated images per grid; 0: 8 */
} report_opts;

typedef struct report_summary {
  size_t points, stages, complete_stages, figures, grids, tables;
} report_summary;

/* Writes the report into a temporary folder beside the output folder and renames it into
 * place at the end, so a killed report leaves the previous one (or none), never a partial one.
 * A folder that is not a results directory, missing gnuplot (with figures on) or a refused
 * output folder is an error naming the path. Incomplete stages are reported, not errors. */
int report_render(const report_opts *o, report_summary *sum, herr *e);

#endif

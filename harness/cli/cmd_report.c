/* `harness report`: renders a results directory as index.html and/or report.md with tables
 * (also as CSV), gnuplot figures and image grids (analysis/report/). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report.h"
#include "harness/cli/cli.h"

static const char report_usage[] =
    "usage: harness report RESULTS_DIR [--format html|md|both] [--out DIR] [options]\n"
    "\n"
    "Writes a report of a run: per point the paper-style table (arm, #real, #synthetic, AUC mean\n"
    "± sd over runs, DeLong and bootstrap 95% intervals) beside the paper's published values,\n"
    "the paired comparisons between arms and whether synthetic data helped, AUC against every\n"
    "numeric swept key, ROC curves, textual-inversion and classifier training curves, grids of\n"
    "generated images next to real ones, and the provenance of every stage. Every table is also\n"
    "a CSV in tables/; every figure is an SVG with the gnuplot script and data that redraw it.\n"
    "Incomplete or failed stages are shown as such. The report is written to a temporary folder\n"
    "and renamed into place at the end; only a folder written by an earlier report is replaced.\n"
    "\n"
    "options:\n"
    "  --format F             html, md or both (default both): index.html, report.md\n"
    "  --out DIR              the report folder (default RESULTS_DIR/report)\n"
    "  --no-figures           no gnuplot figures (tables and image grids only)\n"
    "  --gnuplot PROG         the gnuplot program (default: gnuplot on PATH; Debian: gnuplot-nox)\n"
    "  --grid-images N        generated images per grid (default 8)\n"
    "  -h, --help             this text\n";

int cmd_report(int argc, char **argv) {
  enum { O_FORMAT = 256, O_OUT, O_NOFIG, O_GNUPLOT, O_GRID };
  static const struct option opts[] = {{"format", required_argument, NULL, O_FORMAT},
                                       {"out", required_argument, NULL, O_OUT},
                                       {"no-figures", no_argument, NULL, O_NOFIG},
                                       {"gnuplot", required_argument, NULL, O_GNUPLOT},
                                       {"grid-images", required_argument, NULL, O_GRID},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  report_opts o = {.html = true, .markdown = true, .figures = true};
  optind = 1;
  opterr = 0;
  int opt, n;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case O_FORMAT:
        if (!strcmp(optarg, "html"))
          o.html = true, o.markdown = false;
        else if (!strcmp(optarg, "md"))
          o.html = false, o.markdown = true;
        else if (!strcmp(optarg, "both"))
          o.html = o.markdown = true;
        else {
          fprintf(stderr, "harness report: --format expects html, md or both, got '%s'\n", optarg);
          return EXIT_USAGE;
        }
        break;
      case O_OUT: o.out_dir = optarg; break;
      case O_NOFIG: o.figures = false; break;
      case O_GNUPLOT: o.gnuplot = optarg; break;
      case O_GRID:
        if (cli_parse_int("report", "--grid-images", optarg, 1, 64, &n)) return EXIT_USAGE;
        o.grid_images = (size_t)n;
        break;
      case 'h': fputs(report_usage, stdout); return EXIT_OK;
      case ':':
        fprintf(stderr, "harness report: option '%s' needs a value\n\n%s", argv[optind - 1], report_usage);
        return EXIT_USAGE;
      default:
        fprintf(stderr, "harness report: unknown option '%s'\n\n%s", argv[optind - 1], report_usage);
        return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "harness report: expected one RESULTS_DIR%s\n\n%s", optind < argc ? "" : " (none given)",
            report_usage);
    return EXIT_USAGE;
  }
  o.results_dir = argv[optind];
  herr e = {{0}};
  report_summary s;
  if (report_render(&o, &s, &e)) {
    fprintf(stderr, "harness report: %s\n", e.msg);
    return EXIT_ERROR;
  }
  char *out = NULL;
  if (o.out_dir)
    out = strdup(o.out_dir);
  else if (asprintf(&out, "%s/report", o.results_dir) < 0)
    out = NULL;
  printf("harness report: %s%s%s in %s: %zu point(s), %zu of %zu stages complete, %zu figure(s), %zu image "
         "grid(s), %zu CSV table(s)\n",
         o.html ? "index.html" : "", o.html && o.markdown ? " and " : "", o.markdown ? "report.md" : "", out ? out : o.results_dir, s.points, s.complete_stages, s.stages, s.figures, s.grids, s.tables);
  free(out);
  return EXIT_OK;
}

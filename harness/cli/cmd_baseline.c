/* `harness baseline`: writes the slim copy of a results directory that `harness regress`
 * compares against (analysis/regress/baseline_copy.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "analysis/regress/regress.h"
#include "harness/cli/cli.h"

static const char baseline_usage[] =
    "usage: harness baseline RESULTS_DIR --out DIR [--force]\n"
    "\n"
    "Writes a slim copy of a results directory to serve as a `harness regress --baseline`: the sweep\n"
    "index (index.h5) and, of every complete evaluate and classify stage, its stage.h5, spec.yaml and\n"
    "text tables (test_predictions.csv; summary.md, summary.csv, runs.csv, comparisons.csv). Model\n"
    "checkpoints, images and the other stages are left out, so the copy is small enough to keep in\n"
    "the repository; the classify stages' checkpoint references then point at nothing. The copy is\n"
    "written into a temporary folder next to DIR and renamed into place.\n"
    "\n"
    "options:\n"
    "  --out DIR     where the copy goes (refused if it exists, unless --force)\n"
    "  --force       replace an existing DIR\n"
    "  -h, --help    this text\n"
    "\n"
    "exit status: 0 written; 2 bad usage; 3 the source is not a results directory, has no complete\n"
    "evaluate stage, DIR exists, or an I/O error.\n";

static void human_size(size_t bytes, char *buf, size_t n) {
  if (bytes >= 10u << 20)
    snprintf(buf, n, "%.1f MiB", (double)bytes / (1 << 20));
  else if (bytes >= 10u << 10)
    snprintf(buf, n, "%.1f KiB", (double)bytes / (1 << 10));
  else
    snprintf(buf, n, "%zu bytes", bytes);
}

int cmd_baseline(int argc, char **argv) {
  enum { O_OUT = 256, O_FORCE };
  static const struct option opts[] = {{"out", required_argument, NULL, O_OUT},
                                       {"force", no_argument, NULL, O_FORCE},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *out = NULL;
  bool force = false;
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case O_OUT: out = optarg; break;
      case O_FORCE: force = true; break;
      case 'h': fputs(baseline_usage, stdout); return EXIT_OK;
      case ':':
        fprintf(stderr, "harness baseline: option '%s' needs a value\n\n%s", argv[optind - 1], baseline_usage);
        return EXIT_USAGE;
      default:
        fprintf(stderr, "harness baseline: unknown option '%s'\n\n%s", argv[optind - 1], baseline_usage);
        return EXIT_USAGE;
    }
  }
  if (optind != argc - 1 || !out) {
    fprintf(stderr, "harness baseline: expected one RESULTS_DIR and --out DIR\n\n%s", baseline_usage);
    return EXIT_USAGE;
  }
  herr e = {{0}};
  regress_copy_stats st;
  if (regress_baseline_copy(argv[optind], out, force, &st, &e)) {
    fprintf(stderr, "harness baseline: %s\n", e.msg);
    return EXIT_ERROR;
  }
  char size[32];
  human_size(st.bytes, size, sizeof size);
  printf("harness baseline: %s -> %s: %zu evaluate and %zu classify stages, %zu files, %s written\n", argv[optind],
         out, st.evaluate_stages, st.classify_stages, st.files, size);
  return EXIT_OK;
}

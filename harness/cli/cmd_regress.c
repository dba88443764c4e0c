/* `harness regress`: compares the test AUCs of a results directory with a baseline's and fails
 * (exit 1) on a significant drop beyond a tolerance; the nightly CI job gates on it. The rule
 * lives in analysis/regress/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/regress.h"
#include "harness/cli/cli.h"

static const char regress_usage[] =
    "usage: harness regress --baseline DIR --current DIR [--tolerance T] [--alpha A] [--json] [--all]\n"
    "\n"
    "Compares two results directories (`harness run` output, or a `harness baseline` copy) point by\n"
    "point: points are matched by their label (swept values and seed), and for every arm of a\n"
    "point's evaluate stage the mean test AUC over the runs is compared, diff = current - baseline.\n"
    "When both sides' classify runs scored the same test cases (same case ids and labels in\n"
    "test_predictions.csv), each run is compared with the paired DeLong test and\n"
    "se = sqrt(sum of the runs' variances) / R; otherwise unpaired, from each run's DeLong se.\n"
    "An arm is a REGRESSION when\n"
    "    diff < -T   and   diff + z(1-A) * se < 0\n"
    "i.e. worse by more than the tolerance and significantly so (one-sided, level 1-A); the table's\n"
    "CI is the two-sided (1-2A) interval, whose upper end is that bound. 'improved' is the mirror\n"
    "image; an arm or metric on one side only, or NaN, is 'not comparable' (never gating). The\n"
    "other evaluate metrics that differ (auc_sd, compare/*/diff_mean, counts) are listed for\n"
    "information, as are differing sweep configs and harness commits.\n"
    "\n"
    "options:\n"
    "  --baseline DIR     the reference results (e.g. the stored nightly baseline)\n"
    "  --current DIR      the results to check\n"
    "  --tolerance T      AUC drop never called a regression (default 0.02)\n"
    "  --alpha A          one-sided significance level, 0 < A < 0.5 (default 0.05)\n"
    "  --json             the report as JSON (every differing metric, numbers exact, NaN as null)\n"
    "  --all              list every differing evaluate metric, per-run values and intervals too\n"
    "  -h, --help         this text\n"
    "\n"
    "exit status: 0 no regression; 1 at least one regression; 2 bad usage; 3 the two cannot be\n"
    "compared (a directory missing or not a results directory, no common point with an evaluate\n"
    "stage, or a common point whose evaluate stage is not complete on a side).\n";

typedef struct regress_args {
  const char *baseline, *current;
  regress_opts o;
  bool json;
} regress_args;

/* 0 ok, 1 help shown, -1 error shown. */
static int parse_args(int argc, char **argv, regress_args *a) {
  enum { O_BASE = 256, O_CUR, O_TOL, O_ALPHA, O_JSON, O_ALL };
  static const struct option opts[] = {
      {"baseline", required_argument, NULL, O_BASE}, {"current", required_argument, NULL, O_CUR},
      {"tolerance", required_argument, NULL, O_TOL}, {"alpha", required_argument, NULL, O_ALPHA},
      {"json", no_argument, NULL, O_JSON},           {"all", no_argument, NULL, O_ALL},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
  *a = (regress_args){.o = {.tolerance = REGRESS_DEFAULT_TOLERANCE, .alpha = REGRESS_DEFAULT_ALPHA}};
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case O_BASE: a->baseline = optarg; break;
      case O_CUR: a->current = optarg; break;
      case O_TOL:
        if (cli_parse_double("regress", "--tolerance", optarg, 0, 1, &a->o.tolerance)) return -1;
        break;
      case O_ALPHA:
        if (cli_parse_double("regress", "--alpha", optarg, 0, 0.5, &a->o.alpha)) return -1;
        if (a->o.alpha <= 0 || a->o.alpha >= 0.5) {
          fprintf(stderr, "harness regress: --alpha must be strictly between 0 and 0.5, got '%s'\n", optarg);
          return -1;
        }
        break;
      case O_JSON: a->json = true; break;
      case O_ALL: a->o.all = true; break;
      case 'h': fputs(regress_usage, stdout); return 1;
      case ':':
        fprintf(stderr, "harness regress: option '%s' needs a value\n\n%s", argv[optind - 1], regress_usage);
        return -1;
      default:
        fprintf(stderr, "harness regress: unknown option '%s'\n\n%s", argv[optind - 1], regress_usage);
        return -1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "harness regress: unexpected argument '%s' (the directories go with --baseline and --current)\n\n%s",
            argv[optind], regress_usage);
    return -1;
  }
  if (!a->baseline || !a->current) {
    fprintf(stderr, "harness regress: --baseline and --current are both required\n\n%s", regress_usage);
    return -1;
  }
  return 0;
}

int cmd_regress(int argc, char **argv) {
  regress_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc > 0 ? EXIT_OK : EXIT_USAGE;
  herr e = {{0}};
  regress_report *r;
  if (regress_compare(a.baseline, a.current, &a.o, &r, &e)) {
    fprintf(stderr, "harness regress: %s\n", e.msg);
    return REGRESS_EXIT_INCOMPARABLE;
  }
  if (a.json) {
    char *text = regress_report_json(r);
    puts(text);
    free(text);
  } else {
    regress_print_text(stdout, r);
  }
  int status = regress_exit_status(r);
  regress_report_free(r);
  return status;
}

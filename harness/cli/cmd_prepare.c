/* `harness prepare SOURCE`: makes a dataset directory (harness/data/dataset.h) from PI-CAI
 * (cmd_prepare_picai.c) or from the phantom simulator (here). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/data/phantom.h"
#include "harness/util/numfmt.h"
#include "harness/util/strbuf.h"

static const char prepare_usage[] =
    "usage: harness prepare SOURCE [options]\n"
    "\n"
    "Writes a dataset directory: manifest.csv (one row per case: id, label, status, image,\n"
    "mask, split, ...), dataset.json (what made it) and the images as 8-bit RGB PNGs\n"
    "(T2W, ADC, HBV as R, G, B). harness/data/README.md documents the format.\n"
    "\n"
    "sources:\n"
    "  phantom   a simulated set (no data needed): harness prepare phantom --help\n"
    "  picai     PI-CAI cases to 2D slices:        harness prepare picai --help\n";

/* Only used when cmd_prepare_picai.c is not part of the build. */
__attribute__((weak)) int cmd_prepare_picai(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "harness prepare picai: not built into this harness\n");
  return EXIT_ERROR;
}

static char *phantom_usage(void) {
  phantom_params d;
  phantom_params_default(&d);
  strbuf sb = STRBUF_INIT;
  sb_append(&sb,
            "usage: harness prepare phantom --n N --seed S --out DIR [options]\n"
            "\n"
            "Simulates N cases mimicking the PI-CAI T2W/ADC/HBV composite; positives carry a focal\n"
            "lesion whose mask goes to masks/. Case i depends only on (S, i): a set of 10 is the\n"
            "first 10 of a set of 100. Splits are left unassigned (the data stage assigns them).\n"
            "\n"
            "options:\n"
            "  --n N                  number of cases (1 .. 10000000)\n"
            "  --seed S               seed (whole number >= 0)\n"
            "  --out DIR              dataset directory (created; an old set there is overwritten)\n"
            "  --quiet                no progress output\n"
            "  -h, --help             this text\n"
            "\n"
            "difficulty and appearance (default, [range]; harness/data/README.md explains them):\n");
  for (const phantom_param_desc *p = phantom_param_table; p->name; p++) {
    char opt[64], v[32], lo[32], hi[32];
    snprintf(opt, sizeof opt, "%s", p->name);
    for (char *c = opt; *c; c++)
      if (*c == '_') *c = '-';
    sb_appendf(&sb, "  --%-22s %s (%s, [%s, %s])\n", opt, p->doc, fmt_double(phantom_param_get(&d, p), v, sizeof v),
               fmt_double(p->min, lo, sizeof lo), fmt_double(p->max, hi, sizeof hi));
  }
  return sb_take(&sb);
}

static void on_progress(void *user, size_t done, size_t total) {
  (void)total;
  progress_update(user, (uint64_t)done);
}

static int prepare_phantom(int argc, char **argv) {
  enum { O_N = 256, O_SEED, O_OUT, O_QUIET, O_PARAM };
  size_t nparams = 0;
  while (phantom_param_table[nparams].name) nparams++;
  struct option *opts = calloc(nparams + 6, sizeof *opts);
  char (*names)[64] = calloc(nparams + 1, sizeof *names);
  if (!opts || !names) abort();
  opts[0] = (struct option){"n", required_argument, NULL, O_N};
  opts[1] = (struct option){"seed", required_argument, NULL, O_SEED};
  opts[2] = (struct option){"out", required_argument, NULL, O_OUT};
  opts[3] = (struct option){"quiet", no_argument, NULL, O_QUIET};
  opts[4] = (struct option){"help", no_argument, NULL, 'h'};
  for (size_t i = 0; i < nparams; i++) {
    snprintf(names[i], sizeof names[i], "%s", phantom_param_table[i].name);
    for (char *c = names[i]; *c; c++)
      if (*c == '_') *c = '-';
    opts[5 + i] = (struct option){names[i], required_argument, NULL, O_PARAM + (int)i};
  }
  char *usage = phantom_usage();
  phantom_params p;
  phantom_params_default(&p);
  const char *out = NULL;
  int have_n = 0, have_seed = 0, quiet = 0, rc = EXIT_USAGE, n = 0;
  uint64_t seed = 0;
  herr e = {{0}};
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (opt == O_N) {
      if (cli_parse_int("prepare phantom", "--n", optarg, 1, 10000000, &n)) goto done;
      have_n = 1;
    } else if (opt == O_SEED) {
      if (cli_parse_seed("prepare phantom", "--seed", optarg, &seed)) goto done;
      have_seed = 1;
    } else if (opt == O_OUT) {
      out = optarg;
    } else if (opt == O_QUIET) {
      quiet = 1;
    } else if (opt >= O_PARAM && opt < O_PARAM + (int)nparams) {
      if (phantom_param_set(&p, phantom_param_table[opt - O_PARAM].name, optarg, &e)) {
        fprintf(stderr, "harness prepare phantom: --%s: %s\n", names[opt - O_PARAM], e.msg);
        goto done;
      }
    } else if (opt == 'h') {
      fputs(usage, stdout);
      rc = EXIT_OK;
      goto done;
    } else if (opt == ':') {
      fprintf(stderr, "harness prepare phantom: option '%s' needs a value\n\n%s", argv[optind - 1], usage);
      goto done;
    } else {
      fprintf(stderr, "harness prepare phantom: unknown option '%s'\n\n%s", argv[optind - 1], usage);
      goto done;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "harness prepare phantom: unexpected argument '%s'\n\n%s", argv[optind], usage);
    goto done;
  }
  if (!have_n || !have_seed || !out || !out[0]) {
    fprintf(stderr, "harness prepare phantom: --n, --seed and --out are required\n\n%s", usage);
    goto done;
  }
  if (phantom_params_check(&p, &e)) {
    fprintf(stderr, "harness prepare phantom: %s\n", e.msg);
    goto done;
  }
  progress *bar = quiet ? NULL : progress_new(stderr, progress_is_terminal(stderr));
  if (bar) progress_begin(bar, "phantom", "rendering cases", (uint64_t)n);
  phantom_hooks hooks = {.progress = bar ? on_progress : NULL, .user = bar};
  int w = phantom_write_dataset(out, &p, (size_t)n, seed, &hooks, &e);
  if (bar) {
    progress_end(bar);
    progress_free(bar);
  }
  if (w) {
    fprintf(stderr, "harness prepare phantom: %s\n", e.msg);
    rc = EXIT_ERROR;
    goto done;
  }
  if (!quiet) fprintf(stderr, "harness prepare phantom: wrote %d cases to %s\n", n, out);
  rc = EXIT_OK;
done:
  free(usage);
  free(opts);
  free(names);
  return rc;
}

int cmd_prepare(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "harness prepare: no SOURCE given\n\n%s", prepare_usage);
    return EXIT_USAGE;
  }
  const char *src = argv[1];
  if (!strcmp(src, "-h") || !strcmp(src, "--help")) {
    fputs(prepare_usage, stdout);
    return EXIT_OK;
  }
  /* The source's own parser sees argv[0] = SOURCE, as a command sees its name. */
  if (!strcmp(src, "phantom")) return prepare_phantom(argc - 1, argv + 1);
  if (!strcmp(src, "picai")) return cmd_prepare_picai(argc - 1, argv + 1);
  fprintf(stderr, "harness prepare: unknown source '%s' (expected phantom or picai)\n\n%s", src, prepare_usage);
  return EXIT_USAGE;
}

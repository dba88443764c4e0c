/* cli_common: config loading, planning with readable problem lists, runtime set-up. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/runner/stage.h"
#include "harness/cli/cli.h"
#include "mdh_shim.h"

cfg_node *cli_load_config(const char *path, char *const *overrides, const int *argns, int noverrides) {
  herr e = {{0}};
  cfg_node *root = cfg_load(path, NULL, &e);
  if (!root) {
    fprintf(stderr, "harness: %s\n", e.msg);
    return NULL;
  }
  if (root->kind != CFG_MAP) {
    char loc[512];
    fprintf(stderr, "harness: %s: a config is a map of keys to values\n", cfg_loc_str(root->loc, loc, sizeof loc));
    cfg_free(root);
    return NULL;
  }
  for (int i = 0; i < noverrides; i++) {
    if (cfg_override(root, overrides[i], (unsigned)argns[i], &e)) {
      fprintf(stderr, "harness: %s\n", e.msg);
      cfg_free(root);
      return NULL;
    }
  }
  if (!cfg_map_get(root, "name")) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    cfg_loc loc = {cfg_intern(path), 0, 0};
    cfg_map_set(root, "name", loc, cfg_new_scalar(stem, true, loc));
  }
  return root;
}

plan *cli_plan(const cfg_node *root) {
  herr e = {{0}};
  sch_report rep = {0};
  plan *p = NULL;
  if (plan_build(root, stage_kinds(), &p, &rep, &e)) {
    for (size_t i = 0; i < rep.len; i++) fprintf(stderr, "%s\n", rep.msgs[i]);
    fprintf(stderr, "harness: %s\n", e.msg);
    sch_report_free(&rep);
    return NULL;
  }
  sch_report_free(&rep);
  return p;
}

char *cli_results_dir(const cli_common *c, const cfg_node *root) {
  if (c->results) return strdup(c->results);
  const cfg_node *rd = cfg_map_get(root, "results_dir");
  if (rd && rd->kind == CFG_SCALAR && rd->str[0]) return strdup(rd->str);
  const cfg_node *name = cfg_map_get(root, "name");
  char buf[1024];
  snprintf(buf, sizeof buf, "results/%s", name && name->kind == CFG_SCALAR ? name->str : "experiment");
  return strdup(buf);
}

int cli_runtime_init(const cli_common *c, const char *config_device, char *device, size_t device_len, int *threads) {
  shim_err err;
  shim_runtime_opts opts = {.threads = c->threads};
  if (shim_runtime_init(&opts, threads, &err) != SHIM_OK) {
    fprintf(stderr, "harness: --threads: %s\n", err.msg);
    return -1;
  }
  const char *want = c->device ? c->device : config_device ? config_device : "auto";
  if (shim_resolve_device(want, device, device_len, &err) != SHIM_OK) {
    fprintf(stderr, "harness: %s\n", err.msg);
    return -1;
  }
  return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !(v >= lo && v <= hi)) { /* NaN fails the range test too */
    fprintf(stderr, "harness %s: %s expects a number in [%g, %g], got '%s'\n", cmd, opt, lo, hi, text);
    return -1;
  }
  *out = v;
  return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) {
    fprintf(stderr, "harness %s: %s expects a whole number in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, text);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int cli_parse_seed(const char *cmd, const char *opt, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  /* strtoull accepts "-1" and wraps it: a seed is never negative. */
  if (errno || end == text || *end || text[0] == '-') {
    fprintf(stderr, "harness %s: %s expects a whole number >= 0, got '%s'\n", cmd, opt, text);
    return -1;
  }
  *out = v;
  return 0;
}

enum { OPT_RESULTS = 256, OPT_KEEP_GOING, OPT_THREADS, OPT_DEVICE, OPT_QUIET };

static const struct option long_opts[] = {
    {"results", required_argument, NULL, OPT_RESULTS}, {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
    {"threads", required_argument, NULL, OPT_THREADS}, {"device", required_argument, NULL, OPT_DEVICE},
    {"quiet", no_argument, NULL, OPT_QUIET},           {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Parses the options shared by the subcommands; returns -1 on error, 1 after --help. */
static int cli_parse_common(int argc, char **argv, cli_common *c, const char *usage) {
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+:h", long_opts, NULL)) != -1) {
    switch (opt) {
      case OPT_RESULTS: c->results = optarg; break;
      case OPT_KEEP_GOING: c->keep_going = true; break;
      case OPT_THREADS: {
        char *end;
        long t = strtol(optarg, &end, 10);
        if (*end || t < 0 || t > 1024) {
          fprintf(stderr, "harness: --threads expects a number between 0 and 1024, got '%s'\n", optarg);
          return -1;
        }
        c->threads = (int)t;
        break;
      }
      case OPT_DEVICE: c->device = optarg; break;
      case OPT_QUIET: c->quiet = true; break;
      case 'h': fputs(usage, stdout); return 1;
      case ':':
        fprintf(stderr, "harness: option '%s' needs a value\n\n%s", argv[optind - 1], usage);
        return -1;
      default:
        fprintf(stderr, "harness: unknown option '%s'\n\n%s", argv[optind - 1], usage);
        return -1;
    }
  }
  return 0;
}

/* Options may follow positional arguments: move them in front for getopt's "+" mode. */
static void cli_split_args(int argc, char **argv, char **opts, int *nopts, char **pos, int *npos, int *pos_argn) {
  *nopts = *npos = 0;
  opts[(*nopts)++] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-' && argv[i][1]) {
      opts[(*nopts)++] = argv[i];
      bool takes_value = !strcmp(argv[i], "--results") || !strcmp(argv[i], "--threads") || !strcmp(argv[i], "--device");
      if (takes_value && i + 1 < argc) opts[(*nopts)++] = argv[++i];
    } else {
      pos_argn[*npos] = i + 1; /* argv[0] here is the subcommand, itself argument 1 */
      pos[(*npos)++] = argv[i];
    }
  }
  opts[*nopts] = NULL;
}


int cli_args_parse(int argc, char **argv, const char *usage, bool view_flags, cli_args *a) {
  memset(a, 0, sizeof *a);
  char **raw = calloc((size_t)argc + 1, sizeof *raw), **opts = calloc((size_t)argc + 1, sizeof *opts);
  a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
  a->pos_argn = calloc((size_t)argc + 1, sizeof *a->pos_argn);
  if (!raw || !opts || !a->pos || !a->pos_argn) abort();
  int nraw = 0, nopts = 0;
  cli_split_args(argc, argv, raw, &nraw, a->pos, &a->npos, a->pos_argn);
  for (int i = 0; i < nraw; i++) {
    if (view_flags && !strcmp(raw[i], "--write")) a->write = true;
    else if (view_flags && !strcmp(raw[i], "--stages-only")) a->stages_only = true;
    else if (view_flags && !strcmp(raw[i], "--points-only")) a->points_only = true;
    else opts[nopts++] = raw[i];
  }
  int rc = cli_parse_common(nopts, opts, &a->c, usage);
  free(raw);
  free(opts);
  return rc;
}

void cli_args_free(cli_args *a) {
  free(a->pos);
  free(a->pos_argn);
}

const char *cli_model_dtype(const char *device, const char *dtype, shim_exec *exec) {
  /* fp16 is the norm on CUDA; the CPU has no fast half-precision kernels in libtorch 1.13. */
  const char *dt = dtype ? dtype : !strncmp(device, "cuda", 4) ? "fp16" : "fp32";
  *exec = (shim_exec){.device = device,
                      .dtype = !strcmp(dt, "fp16") ? SHIM_F16 : !strcmp(dt, "bf16") ? SHIM_BF16 : SHIM_F32};
  return dt;
}

/* `harness stats`: AUC with DeLong and bootstrap intervals for score columns of a CSV file,
 * the paired comparison of two scores, and mean ± sd across several, as text or JSON. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/auc.h"
#include "analysis/bootstrap.h"
#include "harness/util/clock.h"
#include "harness/cli/cli.h"
#include "harness/util/csv.h"
#include "harness/util/numfmt.h"

static const char stats_usage[] =
    "usage: harness stats FILE.csv --label COL --score COL [--score COL2 ...] [options]\n"
    "\n"
    "AUC of each score column with its DeLong and bootstrap intervals. With two scores, also\n"
    "the paired comparison (DeLong z test and paired bootstrap of the difference); with two or\n"
    "more, the mean and standard deviation of their AUCs (e.g. repeated trainings). Labels are\n"
    "0/1 (1 = positive); a higher score means more likely positive. Formulas follow R's pROC.\n"
    "\n"
    "options:\n"
    "  --label COL            the 0/1 label column\n"
    "  --score COL            a score column (repeat for several)\n"
    "  --method M             delong, bootstrap or both (default both)\n"
    "  --boot-n N             bootstrap replicates (default 10000)\n"
    "  --seed S               bootstrap seed (default 1); replicate r uses stream (S, r)\n"
    "  --level L              confidence level (default 0.95)\n"
    "  --stratified           resample positives and negatives separately (default, as pROC)\n"
    "  --unstratified         resample all cases together\n"
    "  --format F             text or json (json: every number round-trips exactly)\n"
    "  --threads N            bootstrap threads (default: one per core)\n"
    "  -h, --help             this text\n";

typedef struct stats_args {
  const char *file, *label, *method, *format;
  const char **scores;
  size_t nscores;
  size_t boot_n;
  uint64_t seed;
  double level;
  bool stratified;
  int threads;
} stats_args;

/* 0 ok, 1 help shown, -1 error shown. */
static int parse_args(int argc, char **argv, stats_args *a) {
  enum { O_LABEL = 256, O_SCORE, O_METHOD, O_BOOTN, O_SEED, O_LEVEL, O_STRAT, O_UNSTRAT, O_FORMAT, O_THREADS };
  static const struct option opts[] = {
      {"label", required_argument, NULL, O_LABEL},    {"score", required_argument, NULL, O_SCORE},
      {"method", required_argument, NULL, O_METHOD},  {"boot-n", required_argument, NULL, O_BOOTN},
      {"seed", required_argument, NULL, O_SEED},      {"level", required_argument, NULL, O_LEVEL},
      {"stratified", no_argument, NULL, O_STRAT},     {"unstratified", no_argument, NULL, O_UNSTRAT},
      {"format", required_argument, NULL, O_FORMAT},  {"threads", required_argument, NULL, O_THREADS},
      {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0}};
  *a = (stats_args){.method = "both", .format = "text", .boot_n = 10000, .seed = 1, .level = 0.95,
                    .stratified = true};
  a->scores = calloc((size_t)argc + 1, sizeof *a->scores);
  if (!a->scores) abort();
  optind = 1;
  opterr = 0;
  int opt;
  double v;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
      case O_LABEL: a->label = optarg; break;
      case O_SCORE: a->scores[a->nscores++] = optarg; break;
      case O_METHOD:
        if (strcmp(optarg, "delong") && strcmp(optarg, "bootstrap") && strcmp(optarg, "both")) {
          fprintf(stderr, "harness stats: --method expects delong, bootstrap or both, got '%s'\n", optarg);
          return -1;
        }
        a->method = optarg;
        break;
      case O_BOOTN:
        if (cli_parse_double("stats", "--boot-n", optarg, 1, 1e8, &v) || v != floor(v)) {
          if (v != floor(v)) fprintf(stderr, "harness stats: --boot-n expects a whole number, got '%s'\n", optarg);
          return -1;
        }
        a->boot_n = (size_t)v;
        break;
      case O_SEED: if (cli_parse_seed("stats", "--seed", optarg, &a->seed)) return -1; break;
      case O_LEVEL:
        if (cli_parse_double("stats", "--level", optarg, 0, 1, &v)) return -1;
        if (v <= 0 || v >= 1) {
          fprintf(stderr, "harness stats: --level must be strictly between 0 and 1, got '%s'\n", optarg);
          return -1;
        }
        a->level = v;
        break;
      case O_STRAT: a->stratified = true; break;
      case O_UNSTRAT: a->stratified = false; break;
      case O_FORMAT:
        if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
          fprintf(stderr, "harness stats: --format expects text or json, got '%s'\n", optarg);
          return -1;
        }
        a->format = optarg;
        break;
      case O_THREADS:
        if (cli_parse_double("stats", "--threads", optarg, 0, 1024, &v)) return -1;
        a->threads = (int)v;
        break;
      case 'h': fputs(stats_usage, stdout); return 1;
      case ':': fprintf(stderr, "harness stats: option '%s' needs a value\n\n%s", argv[optind - 1], stats_usage); return -1;
      default: fprintf(stderr, "harness stats: unknown option '%s'\n\n%s", argv[optind - 1], stats_usage); return -1;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "harness stats: expected one CSV file%s\n\n%s", optind < argc ? "" : " (none given)", stats_usage);
    return -1;
  }
  a->file = argv[optind];
  if (!a->label || a->nscores == 0) {
    fprintf(stderr, "harness stats: --label and at least one --score are required\n\n%s", stats_usage);
    return -1;
  }
  return 0;
}

/* Column values, checked cell by cell so that an error names the file line and column. */
static int *read_labels(const csv_table *t, long col, herr *e) {
  int *l = malloc((t->nrows + 1) * sizeof *l);
  if (!l) abort();
  for (size_t r = 0; r < t->nrows; r++) {
    const char *c = csv_cell(t, r, (size_t)col);
    if (!strcmp(c, "0") || !strcmp(c, "1")) {
      l[r] = c[0] - '0';
      continue;
    }
    herr_set(e, "%s:%zu: column '%s': label '%s' is not 0 or 1", t->path, t->line[r], t->header[col], c);
    free(l);
    return NULL;
  }
  return l;
}

static double *read_scores(const csv_table *t, long col, herr *e) {
  double *s = malloc((t->nrows + 1) * sizeof *s);
  if (!s) abort();
  for (size_t r = 0; r < t->nrows; r++) {
    const char *c = csv_cell(t, r, (size_t)col);
    char *end;
    errno = 0;
    s[r] = strtod(c, &end);
    if (!*c || *end || errno == ERANGE || !isfinite(s[r])) {
      herr_set(e, "%s:%zu: column '%s': '%s' is not a finite number", t->path, t->line[r], t->header[col], c);
      free(s);
      return NULL;
    }
  }
  return s;
}

static long find_column(const csv_table *t, const char *name, herr *e) {
  long c = csv_column(t, name);
  if (c < 0) {
    char *cols = csv_header_list(t);
    herr_set(e, "%s: no column '%s' (columns: %s)", t->path, name, cols);
    free(cols);
  }
  return c;
}

typedef struct score_result {
  const char *column;
  double auc;
  auc_delong delong;
  boot_ci boot;
} score_result;

static cJSON *num(double v) {
  if (!isfinite(v)) return cJSON_CreateNull();
  char buf[64];
  return cJSON_CreateRaw(fmt_double(v, buf, sizeof buf));
}

static cJSON *pair(double a, double b) {
  cJSON *arr = cJSON_CreateArray();
  cJSON_AddItemToArray(arr, num(a));
  cJSON_AddItemToArray(arr, num(b));
  return arr;
}

static void print_json(const stats_args *a, const csv_table *t, size_t n_pos, const score_result *res, bool do_delong,
                       bool do_boot, const auc_delong_paired *pd, const boot_paired *pb, double mean, double sd,
                       double compute_s) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "file", a->file);
  cJSON_AddItemToObject(root, "n", num((double)t->nrows));
  cJSON_AddItemToObject(root, "n_pos", num((double)n_pos));
  cJSON_AddItemToObject(root, "n_neg", num((double)(t->nrows - n_pos)));
  cJSON_AddItemToObject(root, "level", num(a->level));
  cJSON *scores = cJSON_AddArrayToObject(root, "scores");
  for (size_t i = 0; i < a->nscores; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "column", res[i].column);
    cJSON_AddItemToObject(s, "auc", num(res[i].auc));
    if (do_delong) {
      cJSON *d = cJSON_AddObjectToObject(s, "delong");
      cJSON_AddItemToObject(d, "var", num(res[i].delong.var));
      cJSON_AddItemToObject(d, "se", num(res[i].delong.se));
      cJSON_AddItemToObject(d, "ci", pair(res[i].delong.ci_lo, res[i].delong.ci_hi));
    }
    if (do_boot) {
      cJSON *b = cJSON_AddObjectToObject(s, "bootstrap");
      cJSON_AddItemToObject(b, "n", num((double)a->boot_n));
      cJSON_AddItemToObject(b, "valid", num((double)res[i].boot.n_valid));
      cJSON_AddBoolToObject(b, "stratified", a->stratified);
      cJSON_AddItemToObject(b, "seed", num((double)a->seed));
      cJSON_AddItemToObject(b, "median", num(res[i].boot.median));
      cJSON_AddItemToObject(b, "sd", num(res[i].boot.sd));
      cJSON_AddItemToObject(b, "percentile", pair(res[i].boot.pct_lo, res[i].boot.pct_hi));
      cJSON_AddItemToObject(b, "bca", pair(res[i].boot.bca_lo, res[i].boot.bca_hi));
    }
    cJSON_AddItemToArray(scores, s);
  }
  if (a->nscores >= 2) {
    cJSON *x = cJSON_AddObjectToObject(root, "across");
    cJSON_AddItemToObject(x, "k", num((double)a->nscores));
    cJSON_AddItemToObject(x, "mean", num(mean));
    cJSON_AddItemToObject(x, "sd", num(sd));
  }
  if (a->nscores == 2) {
    cJSON *p = cJSON_AddObjectToObject(root, "paired");
    cJSON *cols = cJSON_AddArrayToObject(p, "columns");
    cJSON_AddItemToArray(cols, cJSON_CreateString(a->scores[0]));
    cJSON_AddItemToArray(cols, cJSON_CreateString(a->scores[1]));
    cJSON_AddItemToObject(p, "diff", num(res[0].auc - res[1].auc));
    if (do_delong) {
      cJSON *d = cJSON_AddObjectToObject(p, "delong");
      cJSON_AddItemToObject(d, "z", num(pd->z));
      cJSON_AddItemToObject(d, "p", num(pd->p));
      cJSON_AddItemToObject(d, "se", num(pd->se_diff));
      cJSON_AddItemToObject(d, "ci", pair(pd->ci_lo, pd->ci_hi));
    }
    if (do_boot) {
      cJSON *b = cJSON_AddObjectToObject(p, "bootstrap");
      cJSON_AddItemToObject(b, "z", num(pb->z));
      cJSON_AddItemToObject(b, "p", num(pb->p));
      cJSON_AddItemToObject(b, "sd", num(pb->sd_diff));
      cJSON_AddItemToObject(b, "percentile", pair(pb->pct_lo, pb->pct_hi));
    }
  }
  cJSON_AddItemToObject(root, "compute_seconds", num(compute_s));
  char *text = cJSON_Print(root);
  puts(text);
  free(text);
  cJSON_Delete(root);
}

static void print_text(const stats_args *a, const csv_table *t, size_t n_pos, const score_result *res, bool do_delong,
                       bool do_boot, const auc_delong_paired *pd, const boot_paired *pb, double mean, double sd,
                       double compute_s) {
  int pct = (int)lround(a->level * 100);
  printf("%s: %zu cases (%zu positive, %zu negative), labels from '%s'\n\n", a->file, t->nrows, n_pos,
         t->nrows - n_pos, a->label);
  /* Interval cells are "0.6809 – 0.7614": 15 characters on screen (the dash is one). */
  char head[3][32];
  snprintf(head[0], sizeof head[0], "DeLong %d%% CI", pct);
  snprintf(head[1], sizeof head[1], "bootstrap %d%% CI", pct);
  snprintf(head[2], sizeof head[2], "BCa %d%% CI", pct);
  printf("%-16s %-6s", "score", "AUC");
  if (do_delong) printf("   %-15s", head[0]);
  if (do_boot) printf("   %-15s   %-15s", head[1], head[2]);
  putchar('\n');
  for (size_t i = 0; i < a->nscores; i++) {
    printf("%-16s %.4f", res[i].column, res[i].auc);
    if (do_delong) printf("   %.4f – %.4f", res[i].delong.ci_lo, res[i].delong.ci_hi);
    if (do_boot)
      printf("   %.4f – %.4f   %.4f – %.4f", res[i].boot.pct_lo, res[i].boot.pct_hi, res[i].boot.bca_lo,
             res[i].boot.bca_hi);
    putchar('\n');
  }
  if (do_boot) {
    printf("\nbootstrap: %zu %s replicates, seed %llu", a->boot_n, a->stratified ? "stratified" : "unstratified",
           (unsigned long long)a->seed);
    if (res[0].boot.n_skipped) printf(" (%zu drew a single class and were dropped)", res[0].boot.n_skipped);
    putchar('\n');
  }
  if (a->nscores >= 2) printf("\nacross the %zu scores: AUC %.4f ± %.4f (mean ± sd)\n", a->nscores, mean, sd);
  if (a->nscores == 2) {
    printf("\npaired comparison %s − %s (same cases): difference %.4f\n", a->scores[0], a->scores[1],
           res[0].auc - res[1].auc);
    if (do_delong)
      printf("  DeLong:    z = %.3f, p = %.4g, %d%% CI %.4f – %.4f\n", pd->z, pd->p, pct, pd->ci_lo, pd->ci_hi);
    if (do_boot)
      printf("  bootstrap: z = %.3f, p = %.4g, %d%% CI (percentile) %.4f – %.4f\n", pb->z, pb->p, pct, pb->pct_lo,
             pb->pct_hi);
  }
  printf("\ncomputed in %.3f s with %ld threads\n", compute_s,
         a->threads > 0 ? (long)a->threads : sysconf(_SC_NPROCESSORS_ONLN));
}

int cmd_stats(int argc, char **argv) {
  stats_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) {
    free(a.scores);
    return rc > 0 ? EXIT_OK : EXIT_USAGE;
  }
  herr e = {{0}};
  int status = EXIT_USAGE;
  int *labels = NULL;
  double **scores = calloc(a.nscores, sizeof *scores);
  score_result *res = calloc(a.nscores, sizeof *res);
  double *aucs = calloc(a.nscores, sizeof *aucs);
  if (!scores || !res || !aucs) abort();
  csv_table *t = csv_read(a.file, &e);
  long lc = t ? find_column(t, a.label, &e) : -1;
  if (lc >= 0) labels = read_labels(t, lc, &e);
  bool ok = labels != NULL;
  for (size_t i = 0; ok && i < a.nscores; i++) {
    long sc = find_column(t, a.scores[i], &e);
    ok = sc >= 0 && (scores[i] = read_scores(t, sc, &e)) != NULL;
  }
  bool do_delong = strcmp(a.method, "bootstrap") != 0, do_boot = strcmp(a.method, "delong") != 0;
  /* The computation alone is timed (not process start-up or the CSV read), so that scripts and
   * bench/stats_vs_proc.sh can compare it with pROC's system.time(). */
  double t0 = clock_now_s();
  boot_opts bo = {.n_boot = a.boot_n, .seed = a.seed, .level = a.level, .stratified = a.stratified,
                  .threads = a.threads};
  size_t n_pos = 0;
  for (size_t i = 0; ok && i < a.nscores; i++) {
    res[i].column = a.scores[i];
    ok = auc_compute(scores[i], labels, t->nrows, &res[i].auc, &e) == 0;
    if (ok && do_delong) ok = auc_delong_ci(scores[i], labels, t->nrows, a.level, &res[i].delong, &e) == 0;
    if (ok && do_boot) ok = auc_bootstrap_ci(scores[i], labels, t->nrows, &bo, &res[i].boot, &e) == 0;
    if (!ok) herr_prefix(&e, "%s: column '%s'", a.file, a.scores[i]);
    aucs[i] = res[i].auc;
  }
  auc_delong_paired pd = {0};
  boot_paired pb = {0};
  if (ok && a.nscores == 2) {
    if (do_delong) ok = auc_delong_paired_test(scores[0], scores[1], labels, t->nrows, a.level, &pd, &e) == 0;
    if (ok && do_boot) ok = auc_bootstrap_paired(scores[0], scores[1], labels, t->nrows, &bo, &pb, &e) == 0;
  }
  double compute_s = clock_now_s() - t0;
  if (ok) {
    for (size_t r = 0; r < t->nrows; r++) n_pos += labels[r] == 1;
    double mean, sd;
    auc_mean_sd(aucs, a.nscores, &mean, &sd);
    if (!strcmp(a.format, "json"))
      print_json(&a, t, n_pos, res, do_delong, do_boot, &pd, &pb, mean, sd, compute_s);
    else
      print_text(&a, t, n_pos, res, do_delong, do_boot, &pd, &pb, mean, sd, compute_s);
    status = EXIT_OK;
  } else {
    fprintf(stderr, "harness stats: %s\n", e.msg);
  }
  for (size_t i = 0; i < a.nscores; i++) free(scores[i]);
  free(scores);
  free(res);
  free(aucs);
  free(labels);
  csv_free(t);
  free(a.scores);
  return status;
}

/* Shared pieces of the subcommands: option parsing conventions, config loading with
 * overrides, the results directory, runtime set-up, and exit codes. */
#ifndef MDH_CLI_H
#define MDH_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "harness/config/schema.h"
#include "harness/progress/progress.h"
#include "harness/runner/plan.h"
#include "mdh_shim.h"

/* Exit codes, documented in `harness --help`. */
enum {
  EXIT_OK = 0,
  EXIT_STAGE_FAILED = 1, /* some stage failed, was blocked or not reached */
  EXIT_USAGE = 2,        /* bad command line or configuration */
  EXIT_ERROR = 3,        /* I/O or internal error */
  EXIT_INTERRUPTED = 130
};

typedef struct cli_common {
  int threads;          /* --threads, 0 = one per core */
  const char *device;   /* --device, NULL = the config's */
  const char *results;  /* --results */
  bool keep_going;
  bool quiet;
} cli_common;

/* A subcommand's command line: the shared options, the positional arguments with their
 * positions on the whole command line, and the view flags of plan/status. */
typedef struct cli_args {
  cli_common c;
  char **pos;
  int *pos_argn;
  int npos;
  bool write, stages_only, points_only; /* accepted only when view_flags is set */
} cli_args;

/* Parses argv (options may come anywhere). Returns 0, 1 after printing `usage` for --help, or
 * -1 after printing the error. Free with cli_args_free in every case. */
int cli_args_parse(int argc, char **argv, const char *usage, bool view_flags, cli_args *a);
void cli_args_free(cli_args *a);

/* Loads CFG and applies KEY=VALUE overrides; argns[i] is override i's position on the whole
 * command line (`harness run c.yaml x=1`: x=1 is argument 3), used in error locations. Sets
 * `name` to the file's stem when the config has none. Prints the error and returns NULL. */
cfg_node *cli_load_config(const char *path, char *const *overrides, const int *argns, int noverrides);
/* Plans the loaded config; prints every configuration problem (one per line) and returns
 * NULL on failure. */
plan *cli_plan(const cfg_node *root);
/* --results, else the config's results_dir, else results/<name> (caller frees). */
char *cli_results_dir(const cli_common *c, const cfg_node *root);
/* Sets threads (libtorch, OpenBLAS) and resolves the device; prints the error and returns
 * -1 on failure. */
int cli_runtime_init(const cli_common *c, const char *config_device, char *device, size_t device_len,
                     int *threads);

/* Option values of the subcommands with their own options (stats, generate). Each prints
 * "harness CMD: OPT expects …, got 'TEXT'" and returns -1 when the text is not a value in range. */
int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out);
int cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, int *out);
int cli_parse_seed(const char *cmd, const char *opt, const char *text, uint64_t *out);

/* The execution of a model on a resolved device: dtype "fp32" | "fp16" | "bf16", NULL for the
 * default (fp16 on CUDA, fp32 on the CPU). Returns the dtype name in effect. */
const char *cli_model_dtype(const char *device, const char *dtype, shim_exec *exec);

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_run_stage(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_embedding(int argc, char **argv);
int cmd_train_embedding(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
/* `harness prepare picai ...` (argv[0] = "picai"); cmd_prepare_picai.c. */
int cmd_prepare_picai(int argc, char **argv);

int cmd_predict(int argc, char **argv);
/* `harness report RESULTS_DIR`; cmd_report.c. */
int cmd_report(int argc, char **argv);
/* `harness regress` and `harness baseline` (cmd_regress.c, cmd_baseline.c; analysis/regress/). */
int cmd_regress(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
#endif

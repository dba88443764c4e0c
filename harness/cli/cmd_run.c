/* `harness run` and `harness run-stage`: execute a sweep, or one stage from its identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/runner/runner.h"
#include "mdh_shim.h"

static const char run_usage[] =
    "usage: harness run CONFIG [KEY.PATH=VALUE ...] [options]\n"
    "\n"
    "Runs every point of CONFIG's sweep: each stage once (shared stages are deduplicated by\n"
    "identity), upstream first, skipping stages that are already complete. Interrupted runs\n"
    "resume where they stopped. Overrides are YAML values: lr=0.1 'models=[linear]' name=x;\n"
    "KEY~ deletes a key.\n"
    "\n"
    "options:\n"
    "  --results DIR   results directory (default: the config's results_dir, else results/<name>)\n"
    "  --keep-going    after a failure, go on with the stages that do not depend on it\n"
    "  --threads N     CPU threads for libtorch (default: one per core)\n"
    "  --device D      auto, cpu, cuda or cuda:N (default: the config's device, else auto)\n"
    "  --quiet         no progress output\n"
    "  -h, --help      this text\n"
    "\n"
    "exit status: 0 all complete, 1 a stage failed (or was blocked), 2 bad config or usage,\n"
    "3 other error, 130 interrupted\n";

static const char run_stage_usage[] =
    "usage: harness run-stage RESULTS_DIR STAGE_ID [--threads N] [--device D] [--quiet]\n"
    "\n"
    "Runs one stage from its spec (RESULTS_DIR/stages/STAGE_ID/spec.yaml, written by `harness\n"
    "run` or `harness plan --write`), in this process, on the device the config named (or\n"
    "--device). Its upstream stages must be complete; if another process is running it, waits.\n"
    "For cluster schedulers: every stage can run as its own job.\n";

static void print_summary(const runner_summary *s, const char *results_dir) {
  fprintf(stderr, "harness: %zu stage%s: %zu ran, %zu already complete", s->total, s->total == 1 ? "" : "s", s->ran,
          s->already);
  if (s->failed) fprintf(stderr, ", %zu failed", s->failed);
  if (s->blocked) fprintf(stderr, ", %zu blocked by a failure", s->blocked);
  if (s->not_reached) fprintf(stderr, ", %zu not run", s->not_reached);
  fprintf(stderr, "; results in %s\n", results_dir);
}

int cmd_run(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, run_usage, false, &a);
  if (rc || a.npos < 1) {
    if (!rc) fprintf(stderr, "harness run: which config?\n\n%s", run_usage);
    cli_args_free(&a);
    return rc > 0 ? EXIT_OK : EXIT_USAGE;
  }
  const cli_common c = a.c;
  char **pos = a.pos;
  int *pos_argn = a.pos_argn, npos = a.npos;
  int status = EXIT_USAGE;
  cfg_node *root = cli_load_config(pos[0], pos + 1, pos_argn + 1, npos - 1);
  plan *p = root ? cli_plan(root) : NULL;
  char *results_dir = p ? cli_results_dir(&c, root) : NULL;
  char device[64];
  int threads = 0;
  const cfg_node *dev = root ? cfg_map_get(root, "device") : NULL;
  if (p && cli_runtime_init(&c, dev ? dev->str : NULL, device, sizeof device, &threads) == 0) {
    herr e = {{0}};
    runner_install_signals();
    progress *prog = c.quiet ? NULL : progress_new(stderr, progress_is_terminal(stderr));
    runner_opts ro = {.threads = threads, .device = device, .libtorch_version = shim_libtorch_version(),
                      .progress = prog, .keep_going = c.keep_going};
    if (!c.quiet)
      fprintf(stderr, "harness: %s: %zu point%s, %zu stage%s, %d thread%s on %s\n", p->name, p->npoints,
              p->npoints == 1 ? "" : "s", p->nstages, p->nstages == 1 ? "" : "s", threads, threads == 1 ? "" : "s",
              device);
    runner_summary sum = {0};
    sch_report missing = {0};
    if (plan_preflight(p, results_dir, &missing)) {
      char *text = sch_report_text(&missing);
      fprintf(stderr, "harness: %s: nothing was run, because:\n%s\n", p->name, text);
      free(text);
      status = EXIT_USAGE;
    } else if (runner_prepare(p, results_dir, &e)) {
      fprintf(stderr, "harness: %s\n", e.msg);
      status = EXIT_ERROR;
    } else {
      int r = runner_run(p, results_dir, stage_kinds(), &ro, &sum, &e);
      print_summary(&sum, results_dir);
      if (r < 0) fprintf(stderr, "harness: %s\n", e.msg);
      status = sum.interrupted ? EXIT_INTERRUPTED : r < 0 ? EXIT_ERROR : r > 0 ? EXIT_STAGE_FAILED : EXIT_OK;
    }
    sch_report_free(&missing);
    progress_free(prog);
  }
  free(results_dir);
  plan_free(p);
  cfg_free(root);
  cli_args_free(&a);
  return status;
}

int cmd_run_stage(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, run_stage_usage, false, &a);
  const cli_common c = a.c;
  char **pos = a.pos;
  int npos = a.npos;
  int status = rc > 0 ? EXIT_OK : EXIT_USAGE;
  if (rc == 0 && npos != 2) fprintf(stderr, "harness run-stage: expected RESULTS_DIR and STAGE_ID\n\n%s", run_stage_usage);
  if (rc == 0 && npos == 2) {
    herr e = {{0}};
    cfg_node *spec = stage_dir_read_spec(pos[0], pos[1], &e);
    char device[64];
    int threads = 0;
    if (!spec) {
      fprintf(stderr, "harness: %s\n", e.msg);
      status = EXIT_USAGE;
    } else if (cli_runtime_init(&c, cfg_get(spec, "runtime.device") ? cfg_get(spec, "runtime.device")->str : NULL,
                                device, sizeof device, &threads) == 0) {
      runner_install_signals();
      progress *prog = c.quiet ? NULL : progress_new(stderr, progress_is_terminal(stderr));
      runner_opts ro = {.threads = threads, .device = device, .libtorch_version = shim_libtorch_version(),
                        .progress = prog};
      exec_result r = stage_execute(pos[0], pos[1], spec, stage_kinds(), &ro, true, &e);
      progress_free(prog);
      switch (r) {
        case EXEC_RAN: status = EXIT_OK; fprintf(stderr, "harness: %s complete\n", pos[1]); break;
        case EXEC_ALREADY: status = EXIT_OK; fprintf(stderr, "harness: %s was already complete\n", pos[1]); break;
        case EXEC_FAILED: status = EXIT_STAGE_FAILED; fprintf(stderr, "harness: %s failed: %s\n", pos[1], e.msg); break;
        case EXEC_INTERRUPTED: status = EXIT_INTERRUPTED; break;
        default: status = EXIT_ERROR; fprintf(stderr, "harness: %s\n", e.msg); break;
      }
    } else {
      status = EXIT_ERROR;
    }
    cfg_free(spec);
  }
  cli_args_free(&a);
  return status;
}

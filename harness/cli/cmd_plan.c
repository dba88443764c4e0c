/* `harness plan`, `harness validate` and `harness status`: look without running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/cli/graph_view.h"
#include "harness/runner/runner.h"

static const char plan_usage[] =
    "usage: harness plan CONFIG [KEY.PATH=VALUE ...] [--results DIR] [--write] [--stages-only]\n"
    "\n"
    "Prints the points of CONFIG's sweep and the graph of unique stages (shared stages once),\n"
    "marking each as complete, pending (would run), running (locked by a process), failed or\n"
    "blocked, from the files in the results directory. Runs nothing. --write also writes each\n"
    "stage's spec.yaml and the sweep index, so that stages can be run one by one with\n"
    "`harness run-stage` (e.g. as cluster jobs).\n";

static const char validate_usage[] =
    "usage: harness validate CONFIG [KEY.PATH=VALUE ...]\n"
    "\n"
    "Checks CONFIG (with its parts, environment variables, overrides and every sweep point)\n"
    "against the schemas of the harness and of the stages it runs. Prints every problem as\n"
    "FILE:LINE:COL: key.path: what is wrong; runs nothing. Exit status 0 valid, 2 invalid.\n";

static const char status_usage[] =
    "usage: harness status RESULTS_DIR [--stages-only | --points-only]\n"
    "\n"
    "Shows each point's and each stage's state in a results directory written by `harness run`\n"
    "(states come from the stage folders, so the view is live while a run goes on).\n";

int cmd_plan(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, plan_usage, true, &a);
  if (rc || a.npos < 1) {
    if (!rc) fprintf(stderr, "harness plan: which config?\n\n%s", plan_usage);
    cli_args_free(&a);
    return rc > 0 ? EXIT_OK : EXIT_USAGE;
  }
  int status = EXIT_USAGE;
  cfg_node *root = cli_load_config(a.pos[0], a.pos + 1, a.pos_argn + 1, a.npos - 1);
  plan *p = root ? cli_plan(root) : NULL;
  if (p) {
    char *results_dir = cli_results_dir(&a.c, root);
    status = EXIT_OK;
    herr e = {{0}};
    if (a.write && runner_prepare(p, results_dir, &e)) {
      fprintf(stderr, "harness: %s\n", e.msg);
      status = EXIT_ERROR;
    }
    graph_view *v = graph_view_from_plan(p, results_dir);
    graph_view_print(v, stdout, !a.stages_only, !a.points_only);
    graph_view_free(v);
    free(results_dir);
  }
  plan_free(p);
  cfg_free(root);
  cli_args_free(&a);
  return status;
}

int cmd_validate(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, validate_usage, false, &a);
  if (rc || a.npos < 1) {
    if (!rc) fprintf(stderr, "harness validate: which config?\n\n%s", validate_usage);
    cli_args_free(&a);
    return rc > 0 ? EXIT_OK : EXIT_USAGE;
  }
  cfg_node *root = cli_load_config(a.pos[0], a.pos + 1, a.pos_argn + 1, a.npos - 1);
  plan *p = root ? cli_plan(root) : NULL;
  if (p)
    printf("%s: valid (%zu point%s, %zu unique stage%s)\n", a.pos[0], p->npoints, p->npoints == 1 ? "" : "s",
           p->nstages, p->nstages == 1 ? "" : "s");
  int status = p ? EXIT_OK : EXIT_USAGE;
  plan_free(p);
  cfg_free(root);
  cli_args_free(&a);
  return status;
}

int cmd_status(int argc, char **argv) {
  cli_args a;
  int rc = cli_args_parse(argc, argv, status_usage, true, &a);
  if (rc || a.npos != 1) {
    if (!rc) fprintf(stderr, "harness status: expected one RESULTS_DIR\n\n%s", status_usage);
    cli_args_free(&a);
    return rc > 0 ? EXIT_OK : EXIT_USAGE;
  }
  herr e = {{0}};
  int status = EXIT_USAGE;
  index_data *d = index_read(a.pos[0], &e);
  graph_view *v = d ? graph_view_from_index(d, a.pos[0], &e) : NULL;
  if (v) {
    graph_view_print(v, stdout, !a.stages_only, !a.points_only);
    status = EXIT_OK;
  } else {
    fprintf(stderr, "harness: %s\n", e.msg);
  }
  graph_view_free(v);
  index_free(d);
  cli_args_free(&a);
  return status;
}

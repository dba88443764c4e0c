/* The runner: executes a plan's stages upstream-first, skipping complete ones, waiting for
 * stages that another process is running, recording failures, and (with keep_going) going on
 * with everything that does not depend on a failed stage. */
#ifndef MDH_RUNNER_H
#define MDH_RUNNER_H

#include <stddef.h>

#include "harness/runner/execute.h"
#include "harness/runner/plan.h"
#include "harness/runner/stage_dir.h"

typedef struct runner_summary {
  size_t total;
  size_t already;     /* complete before this run (or finished by another process) */
  size_t ran;         /* run and completed by this process */
  size_t failed;
  size_t blocked;     /* not run because an upstream stage failed */
  size_t not_reached; /* not run because the run stopped (first failure, interrupt) */
  bool interrupted;
} runner_summary;

/* Creates the results directory, writes every stage's spec.yaml and the sweep index. Nothing
 * is run. */
int runner_prepare(const plan *p, const char *results_dir, herr *e);

/* Runs the plan (after runner_prepare). Returns 0 when every stage is complete, 1 when some
 * failed or were blocked or not reached, -1 on an error that stopped the runner (e says why). */
int runner_run(const plan *p, const char *results_dir, const stage_kind *const *kinds,
               const runner_opts *opts, runner_summary *sum, herr *e);

/* States of all stages of a plan as the files say (BLOCKED derived from upstream FAILED). */
stage_state *runner_states(const plan *p, const char *results_dir);

#endif

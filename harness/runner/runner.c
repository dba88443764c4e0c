/* runner: repeated passes over the topologically ordered stages until each is decided. */
#include "harness/runner/runner.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness/runner/index.h"
#include "harness/util/fsutil.h"

stage_state *runner_states(const plan *p, const char *results_dir) {
  stage_state *st = calloc(p->nstages + 1, sizeof *st);
  if (!st) abort();
  for (size_t i = 0; i < p->nstages; i++) {
    st[i] = stage_dir_state(results_dir, p->stages[i].id);
    if (st[i] == STAGE_PENDING)
      for (size_t d = 0; d < p->stages[i].ndeps; d++) {
        stage_state ds = st[p->stages[i].deps[d]];
        if (ds == STAGE_FAILED || ds == STAGE_BLOCKED) st[i] = STAGE_BLOCKED;
      }
  }
  return st;
}

int runner_prepare(const plan *p, const char *results_dir, herr *e) {
  if (fs_mkdir_p(results_dir, e)) return -1;
  for (size_t i = 0; i < p->nstages; i++)
    if (stage_dir_write_spec(results_dir, p->stages[i].id, p->stages[i].spec, e)) return -1;
  return index_write(p, results_dir, e);
}

typedef enum { TODO, DONE, FAILED, BLOCKED, BUSY } run_state;

int runner_run(const plan *p, const char *results_dir, const stage_kind *const *kinds,
               const runner_opts *opts, runner_summary *sum, herr *e) {
  *sum = (runner_summary){.total = p->nstages};
  run_state *st = calloc(p->nstages + 1, sizeof *st);
  if (!st) abort();
  for (size_t i = 0; i < p->nstages; i++)
    if (stage_dir_complete(results_dir, p->stages[i].id)) {
      st[i] = DONE;
      sum->already++;
    }
  int rc = 0;
  bool stop = false;
  for (;;) {
    bool progressed = false;
    long first_busy = -1;
    size_t todo = 0;
    for (size_t i = 0; i < p->nstages && !stop; i++) {
      if (st[i] != TODO && st[i] != BUSY) continue;
      const plan_stage *s = &p->stages[i];
      bool ready = true;
      for (size_t d = 0; d < s->ndeps; d++) {
        run_state ds = st[s->deps[d]];
        if (ds == FAILED || ds == BLOCKED) {
          st[i] = BLOCKED;
          sum->blocked++;
          progressed = true;
          break;
        }
        if (ds != DONE) ready = false;
      }
      if (st[i] == BLOCKED) continue;
      todo++;
      if (!ready) continue;
      herr err = {{0}};
      exec_result r = stage_execute(results_dir, s->id, s->spec, kinds, opts, false, &err);
      switch (r) {
        case EXEC_RAN: st[i] = DONE; sum->ran++; progressed = true; break;
        case EXEC_ALREADY: st[i] = DONE; sum->already++; progressed = true; break;
        case EXEC_BUSY:
          if (st[i] != BUSY && opts->progress)
            progress_log(opts->progress, "[%s] running in another process; continuing with other stages", s->id);
          st[i] = BUSY;
          if (first_busy < 0) first_busy = (long)i;
          break;
        case EXEC_FAILED:
          st[i] = FAILED;
          sum->failed++;
          progressed = true;
          fprintf(stderr, "harness: stage %s%s%s failed: %s\n", s->id, *s->variant ? " " : "", s->variant, err.msg);
          if (!opts->keep_going) stop = true;
          break;
        case EXEC_INTERRUPTED:
          sum->interrupted = true;
          stop = true;
          break;
        case EXEC_ERROR:
          *e = err;
          rc = -1;
          stop = true;
          break;
      }
      if (runner_interrupted) {
        sum->interrupted = true;
        stop = true;
      }
    }
    if (stop || todo == 0) break;
    if (!progressed && first_busy >= 0) {
      /* Everything left waits on stages another process holds: wait for the first of them. */
      const plan_stage *s = &p->stages[first_busy];
      if (opts->progress) progress_log(opts->progress, "[%s] waiting for the other process to finish it", s->id);
      herr err = {{0}};
      exec_result r = stage_execute(results_dir, s->id, s->spec, kinds, opts, true, &err);
      if (r == EXEC_RAN || r == EXEC_ALREADY) {
        st[first_busy] = DONE;
        if (r == EXEC_RAN) sum->ran++; else sum->already++;
      } else if (r == EXEC_FAILED) {
        st[first_busy] = FAILED;
        sum->failed++;
        fprintf(stderr, "harness: stage %s failed: %s\n", s->id, err.msg);
        if (!opts->keep_going) break;
      } else if (r == EXEC_INTERRUPTED) {
        sum->interrupted = true;
        break;
      } else {
        *e = err;
        rc = -1;
        break;
      }
    } else if (!progressed) {
      break; /* cannot happen with a topological order; guards against a loop */
    }
  }
  for (size_t i = 0; i < p->nstages; i++)
    if (st[i] == TODO || st[i] == BUSY) sum->not_reached++;
  free(st);
  herr ierr;
  if (index_write(p, results_dir, &ierr) != 0 && rc == 0) {
    *e = ierr;
    rc = -1;
  }
  if (rc == 0 && (sum->failed || sum->blocked || sum->not_reached)) rc = 1;
  return rc;
}

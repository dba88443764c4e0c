/* Runs one stage from its spec, in this process, with the completion protocol: lock, skip if
 * complete, clear stale attempts, write into work.<pid>/, then move artifacts/ and finally
 * stage.h5 into place. A killed attempt leaves nothing that looks complete. */
#ifndef MDH_EXECUTE_H
#define MDH_EXECUTE_H

#include <signal.h>
#include <stdbool.h>

#include "harness/config/cfg.h"
#include "harness/progress/progress.h"
#include "harness/runner/stage.h"

/* How the process runs stages (not part of any identity; recorded as provenance). */
typedef struct runner_opts {
  int threads;
  const char *device;            /* resolved, e.g. "cpu" */
  const char *libtorch_version;
  progress *progress;            /* may be NULL: no progress output */
  bool keep_going;               /* runner: continue with independent stages after a failure */
} runner_opts;

typedef enum exec_result {
  EXEC_RAN,          /* ran and completed */
  EXEC_ALREADY,      /* was complete already (maybe finished by another process meanwhile) */
  EXEC_BUSY,         /* another process holds the lock (only without waiting) */
  EXEC_FAILED,       /* ran and failed; failed.json records why (e has the message) */
  EXEC_INTERRUPTED,  /* stopped by a signal; nothing recorded, the stage stays pending */
  EXEC_ERROR         /* could not run it (bad spec, upstream incomplete, I/O); e says why */
} exec_result;

/* Set by SIGINT/SIGTERM (see runner_install_signals); stages poll it via stage_cancelled. */
extern volatile sig_atomic_t runner_interrupted;
/* First Ctrl-C asks running work to stop cleanly; a second one kills the process. */
void runner_install_signals(void);

exec_result stage_execute(const char *results_dir, const char *id, const cfg_node *spec,
                          const stage_kind *const *kinds, const runner_opts *opts, bool wait, herr *e);

#endif

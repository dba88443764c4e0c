/* A stage's directory, RESULTS/stages/<id>/, holds all of its state in files so that any
 * process (a second `harness run`, a cluster job running `harness run-stage`) can pick it up:
 *   spec.yaml    its identity inputs (kind, version, variant, point seed, upstream ids, config)
 *   stage.h5     present if and only if the stage completed (renamed into place last)
 *   artifacts/   large outputs, moved into place just before stage.h5
 *   failed.json  the last failure's message, removed when a later attempt succeeds
 *   lock         locked (an OFD lock) by the process running it; the kernel drops it when that dies
 *   work.<pid>/  an attempt in progress; a later attempt removes stale ones
 *   resume/      checkpoints a long stage keeps across attempts (stage_resume_dir); removed on completion */
#ifndef MDH_STAGE_DIR_H
#define MDH_STAGE_DIR_H

#include <signal.h>
#include <stdbool.h>

#include "harness/config/cfg.h"
#include "harness/util/herr.h"

typedef enum stage_state {
  STAGE_PENDING,
  STAGE_RUNNING,  /* another process holds its lock */
  STAGE_COMPLETE,
  STAGE_FAILED,
  STAGE_BLOCKED   /* an upstream stage failed (derived, never stored) */
} stage_state;

const char *stage_state_name(stage_state s);

/* RESULTS/stages/<id> (caller frees). */
char *stage_dir_path(const char *results_dir, const char *id);
/* A file inside the stage directory (caller frees). */
char *stage_file_path(const char *results_dir, const char *id, const char *name);

/* Reads the state from the files; probes the lock without taking it. */
stage_state stage_dir_state(const char *results_dir, const char *id);
bool stage_dir_complete(const char *results_dir, const char *id);

/* Writes spec.yaml unless an identical one is there (atomically). A spec.yaml that differs
 * means a hash collision or tampering and is an error. */
int stage_dir_write_spec(const char *results_dir, const char *id, const cfg_node *spec, herr *e);
/* Reads spec.yaml and checks that it still hashes to `id`. */
cfg_node *stage_dir_read_spec(const char *results_dir, const char *id, herr *e);

/* Takes the stage's lock without waiting: 1 taken (*fd set), 0 held by another process,
 * -1 error. */
int stage_lock_try(const char *results_dir, const char *id, int *fd, herr *e);
/* Waits for the lock: 1 taken, 0 when *stop became non-zero (a signal) while waiting, -1. */
int stage_lock_wait(const char *results_dir, const char *id, volatile sig_atomic_t *stop, int *fd, herr *e);
void stage_lock_release(int fd);

/* failed.json: {"error": ..., "time": ..., "host": ..., "pid": ...}. */
int stage_dir_record_failure(const char *results_dir, const char *id, const char *message, herr *e);
/* The recorded error message or NULL (caller frees). */
char *stage_dir_failure(const char *results_dir, const char *id);

/* Appends "TIME host pid EVENT id [detail]" to RESULTS/events.log (one write per line, so
 * concurrent processes do not interleave). Best effort: failures are ignored. */
void run_event(const char *results_dir, const char *event, const char *id, const char *detail);

/* "2026-11-25T10:46:03Z" for now, into buf[32]. */
const char *utc_timestamp(char buf[32]);

#endif

/* execute: one attempt at one stage, and the stage_ctx API the attempt's code sees. */
#include "harness/runner/execute.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/runner/plan.h"
#include "harness/runner/stage_dir.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"
#include "version.h"

volatile sig_atomic_t runner_interrupted = 0;

static void on_signal(int sig) {
  runner_interrupted = 1;
  signal(sig, SIG_DFL); /* a second signal ends the process at once */
}

void runner_install_signals(void) {
  /* No SA_RESTART: a process waiting for a stage's lock must wake up and stop, not resume
   * the wait (Slurm sends SIGTERM at the time limit and SIGKILL soon after). */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

struct stage_ctx {
  const char *results_dir;
  const char *id;
  const char *variant;
  uint64_t seed;
  const runner_opts *opts;
  const cfg_node *config;
  store_writer *store;
  char *artifact_dir;
  char *resume_dir;
  char label[PLAN_ID_MAX + 64];
  size_t ndeps;
  const char **roles;
  char **dep_dirs;
  store_reader **readers;
};

const cfg_node *stage_config(const stage_ctx *c) { return c->config; }
const char *stage_id(const stage_ctx *c) { return c->id; }
const char *stage_variant(const stage_ctx *c) { return c->variant; }
uint64_t stage_seed(const stage_ctx *c) { return c->seed; }
int stage_threads(const stage_ctx *c) { return c->opts->threads; }
const char *stage_device(const stage_ctx *c) { return c->opts->device ? c->opts->device : "cpu"; }
store_writer *stage_store(stage_ctx *c) { return c->store; }
const char *stage_artifact_dir(stage_ctx *c) { return c->artifact_dir; }
const char *stage_resume_dir(stage_ctx *c) { return c->resume_dir; }
bool stage_cancelled(const stage_ctx *c) { return runner_interrupted != 0; }

static long dep_index(const stage_ctx *c, const char *role, herr *e) {
  for (size_t i = 0; i < c->ndeps; i++)
    if (!strcmp(c->roles[i], role)) return (long)i;
  herr_set(e, "stage %s has no upstream stage in role '%s'", c->id, role);
  return -1;
}

const char *stage_dep_dir(const stage_ctx *c, const char *role, herr *e) {
  long i = dep_index(c, role, e);
  return i < 0 ? NULL : c->dep_dirs[i];
}

store_reader *stage_dep_store(stage_ctx *c, const char *role, herr *e) {
  long i = dep_index(c, role, e);
  if (i < 0) return NULL;
  if (!c->readers[i]) {
    char *path = fs_join(c->dep_dirs[i], "stage.h5");
    c->readers[i] = store_open(path, e);
    free(path);
  }
  return c->readers[i];
}

void stage_progress_begin(stage_ctx *c, const char *what, uint64_t total) {
  if (c->opts->progress) progress_begin(c->opts->progress, c->label, what, total);
}
void stage_progress_update(stage_ctx *c, uint64_t done) {
  if (c->opts->progress) progress_update(c->opts->progress, done);
}
void stage_progress_end(stage_ctx *c) {
  if (c->opts->progress) progress_end(c->opts->progress);
}

void stage_log(stage_ctx *c, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Without a progress reporter the run is quiet: the results hold what matters. */
  if (c->opts->progress) progress_log(c->opts->progress, "[%s] %s", c->label, msg);
}

/* Removes what earlier, killed attempts left: work.* folders and artifacts/ without stage.h5.
 * Only called with the lock held, so no live attempt is touched. */
static int clear_stale(const char *dir, herr *e) {
  DIR *d = opendir(dir);
  if (!d) return herr_errno(e, "cannot list %s", dir);
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d))) {
    if (strncmp(de->d_name, "work.", 5) != 0 && strcmp(de->d_name, "artifacts") != 0) continue;
    char *p = fs_join(dir, de->d_name);
    rc = fs_remove_tree(p, e);
    free(p);
  }
  closedir(d);
  return rc;
}

static void ctx_release(stage_ctx *c) {
  for (size_t i = 0; i < c->ndeps; i++) {
    if (c->readers && c->readers[i]) store_reader_close(c->readers[i]);
    if (c->dep_dirs) free(c->dep_dirs[i]);
  }
  free(c->readers);
  free(c->dep_dirs);
  free(c->roles);
  free(c->artifact_dir);
  free(c->resume_dir);
}

/* A failed attempt leaves its message in events.log and failed.json (best effort: the
 * message in e is what the caller reports either way). */
static exec_result record_failure(const char *results_dir, const char *id, const herr *e) {
  run_event(results_dir, "failed", id, e->msg);
  stage_dir_record_failure(results_dir, id, e->msg, NULL);
  return EXEC_FAILED;
}

/* The attempt itself, with the lock held and the stage known to be incomplete. */
static exec_result attempt(const char *results_dir, const char *id, const cfg_node *spec, const stage_kind *kind,
                           const runner_opts *opts, herr *e) {
  char *dir = stage_dir_path(results_dir, id);
  if (clear_stale(dir, e)) {
    free(dir);
    return EXEC_ERROR;
  }
  stage_ctx c = {.results_dir = results_dir, .id = id, .opts = opts};
  const cfg_node *variant = cfg_map_get(spec, "variant");
  c.variant = variant && variant->kind == CFG_SCALAR ? variant->str : "";
  plan_identity(spec, kind->name, (char[PLAN_ID_MAX]){0}, &c.seed);
  /* The stage sees its identity keys plus its runtime keys, nothing else. */
  cfg_node *visible = cfg_clone(cfg_map_get(spec, "config"));
  const cfg_node *runtime = cfg_map_get(spec, "runtime");
  if (runtime) cfg_merge(visible, cfg_clone(runtime));
  c.config = visible;
  snprintf(c.label, sizeof c.label, "%.*s%s%s", (int)(strlen(kind->name) + 9), id, *c.variant ? " " : "", c.variant);

  const cfg_node *deps = cfg_map_get(spec, "deps");
  c.ndeps = deps ? deps->len : 0;
  c.roles = calloc(c.ndeps + 1, sizeof *c.roles);
  c.dep_dirs = calloc(c.ndeps + 1, sizeof *c.dep_dirs);
  c.readers = calloc(c.ndeps + 1, sizeof *c.readers);
  if (!c.roles || !c.dep_dirs || !c.readers) abort();
  exec_result res = EXEC_ERROR;
  for (size_t i = 0; i < c.ndeps; i++) {
    c.roles[i] = deps->keys[i];
    c.dep_dirs[i] = stage_dir_path(results_dir, deps->items[i]->str);
    if (!stage_dir_complete(results_dir, deps->items[i]->str)) {
      herr_set(e, "stage %s needs %s (%s), which is not complete", id, deps->items[i]->str, deps->keys[i]);
      goto out;
    }
  }

  strbuf work = STRBUF_INIT;
  sb_appendf(&work, "%s/work.%ld", dir, (long)getpid());
  char *work_dir = sb_take(&work);
  c.artifact_dir = fs_join(work_dir, "artifacts");
  c.resume_dir = fs_join(dir, "resume");
  char *h5_tmp = fs_join(work_dir, "stage.h5");
  if (fs_mkdir_p(c.artifact_dir, e)) goto cleanup;

  char start[32], end[32], host[256] = "";
  gethostname(host, sizeof host - 1);
  utc_timestamp(start);
  store_provenance prov = {.harness_version = MDH_VERSION, .git_commit = MDH_GIT_COMMIT,
                           .libtorch_version = opts->libtorch_version ? opts->libtorch_version : "",
                           .device = stage_device(&c), .host = host, .start_time = start, .end_time = "",
                           .seed = c.seed, .threads = opts->threads};
  c.store = store_create(h5_tmp, id, kind->name, c.variant, e);
  if (!c.store) goto cleanup;
  char *spec_yaml = cfg_to_yaml(spec);
  int rc = store_put_config(c.store, spec_yaml, e);
  free(spec_yaml);
  if (rc == 0) rc = store_put_provenance(c.store, &prov, e);
  run_event(results_dir, "start", id, NULL);
  if (rc == 0) rc = kind->run(&c, e);
  if (rc == 0 && runner_interrupted) rc = herr_set(e, "interrupted");
  if (rc == 0) {
    prov.end_time = utc_timestamp(end);
    rc = store_put_provenance(c.store, &prov, e);
  }
  if (rc != 0) {
    store_abort(c.store);
    c.store = NULL;
    if (runner_interrupted) {
      res = EXEC_INTERRUPTED;
      run_event(results_dir, "interrupted", id, NULL);
    } else {
      res = record_failure(results_dir, id, e);
    }
    goto cleanup;
  }
  rc = store_close(c.store, e);
  c.store = NULL;
  /* Commit: durable data first, then artifacts/, then stage.h5 — the completion mark. */
  char *final_art = fs_join(dir, "artifacts");
  char *final_h5 = fs_join(dir, "stage.h5");
  char *failed = fs_join(dir, "failed.json");
  if (rc == 0) rc = fs_fsync_path(h5_tmp, e);
  if (rc == 0) rc = fs_fsync_tree(c.artifact_dir, e);
  if (rc == 0) rc = fs_rename_durable(c.artifact_dir, final_art, e);
  if (rc == 0) rc = fs_rename_durable(h5_tmp, final_h5, e);
  if (rc == 0) unlink(failed);
  if (rc == 0) fs_remove_tree(c.resume_dir, NULL); /* the checkpoints served their purpose */
  free(final_art);
  free(final_h5);
  free(failed);
  if (rc == 0) {
    res = EXEC_RAN;
    run_event(results_dir, "complete", id, NULL);
  } else {
    res = record_failure(results_dir, id, e);
  }
cleanup:
  if (c.store) store_abort(c.store);
  fs_remove_tree(work_dir, NULL);
  free(work_dir);
  free(h5_tmp);
out:
  ctx_release(&c);
  cfg_free(visible);
  free(dir);
  return res;
}

exec_result stage_execute(const char *results_dir, const char *id, const cfg_node *spec,
                          const stage_kind *const *kinds, const runner_opts *opts, bool wait, herr *e) {
  const cfg_node *kind_node = cfg_map_get(spec, "kind");
  const stage_kind *kind = kind_node && kind_node->kind == CFG_SCALAR ? stage_kind_lookup(kinds, kind_node->str) : NULL;
  if (!kind) {
    herr_set(e, "stage %s: unknown stage kind '%s'", id, kind_node && kind_node->str ? kind_node->str : "");
    return EXEC_ERROR;
  }
  const cfg_node *config = cfg_map_get(spec, "config");
  if (!config || config->kind != CFG_MAP) {
    herr_set(e, "stage %s: its spec has no 'config' map", id);
    return EXEC_ERROR;
  }
  int fd = -1;
  int got = wait ? stage_lock_wait(results_dir, id, &runner_interrupted, &fd, e)
                 : stage_lock_try(results_dir, id, &fd, e);
  if (got < 0) return EXEC_ERROR;
  if (got == 0) return wait ? EXEC_INTERRUPTED : EXEC_BUSY;
  exec_result res;
  if (stage_dir_complete(results_dir, id)) /* finished while we waited, or by an earlier run */
    res = EXEC_ALREADY;
  else if (runner_interrupted)
    res = EXEC_INTERRUPTED;
  else
    res = attempt(results_dir, id, spec, kind, opts, e);
  stage_lock_release(fd);
  return res;
}

/* The contract between the stage runner and the stage kinds (one file per kind in
 * experiments/): what a kind declares (its config schema, the keys and upstream stages its
 * identity depends on) and what a running stage may use (its config, seed, output store,
 * upstream results, progress, cancellation). */
#ifndef MDH_STAGE_H
#define MDH_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/config/cfg.h"
#include "harness/config/schema.h"
#include "harness/store/store.h"
#include "harness/util/herr.h"

typedef struct stage_ctx stage_ctx;

/* One upstream stage an instance needs: the kind, its variant ("" for none) and the role
 * under which the running stage finds it (stage_dep_*). */
typedef struct stage_dep {
  const char *role;
  const char *kind;
  char *variant; /* owned by the list; freed by stage_deps_free */
} stage_dep;

typedef struct stage_kind {
  const char *name;    /* "toy_fit": also the stage id's prefix */
  int version;         /* part of the identity: bump when the same inputs give new results */
  const char *summary; /* one line for `harness help stages` */
  /* Top-level config section this kind reads, and its schema; several kinds may share a
   * section (they then declare the same schema object). */
  const char *section;
  const sch_node *schema;
  /* Dotted key paths (prefixes) of the point's config that the identity includes; a running
   * stage sees only these keys, so an undeclared dependency cannot slip in. NULL-terminated.
   * "{variant}" inside a path is replaced by the instance's variant. */
  const char *const *keys;
  /* Keys the stage reads that do not change its results (logging cadence, test fixtures):
   * visible to it, stored in spec.yaml under `runtime:`, left out of the identity. */
  const char *const *runtime_keys;
  /* Whether the point's seed is part of the identity (false for deterministic preparation
   * that repeated runs should share). */
  bool seeded;
  /* Variants this kind has for a point (e.g. one per class or arm). NULL: one instance with
   * variant "". On success *out holds *n malloc'd strings in a malloc'd array. */
  int (*variants)(const cfg_node *point, char ***out, size_t *n, herr *e);
  /* Upstream stages of one instance. NULL: none. */
  int (*deps)(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e);
  /* Checks, before a run does any work, that what the stage needs from outside the results
   * exists (a model folder, a prepared dataset, an embedding file), given the stage's declared
   * config (`spec.config`). NULL: nothing to check. Returns 0, or -1 with e saying what is
   * missing and how to provide it. */
  int (*preflight)(const cfg_node *config, const char *variant, herr *e);
  /* Does the work. Writes results through stage_store(ctx); returns 0 or -1 with e set. */
  int (*run)(stage_ctx *ctx, herr *e);
} stage_kind;

/* ---- registry (experiments/stage_registry.c; the runner is handed the table) ---- */
/* All kinds, NULL-terminated. */
const stage_kind *const *stage_kinds(void);
const stage_kind *stage_kind_find(const char *name);
/* The kind called `name` in a NULL-terminated table (the runner is handed its table). */
const stage_kind *stage_kind_lookup(const stage_kind *const *kinds, const char *name);
/* NULL-terminated list of kind names (static storage) for messages and suggestions. */
const char *const *stage_kind_names(void);
void stage_deps_free(stage_dep *deps, size_t n);

/* ---- what a running stage can use ---- */
const cfg_node *stage_config(const stage_ctx *ctx);  /* only the declared keys, full paths */
const char *stage_id(const stage_ctx *ctx);
const char *stage_variant(const stage_ctx *ctx);
uint64_t stage_seed(const stage_ctx *ctx);
int stage_threads(const stage_ctx *ctx);
const char *stage_device(const stage_ctx *ctx);
store_writer *stage_store(stage_ctx *ctx);
/* A directory for large outputs (images, checkpoints); it becomes the stage's artifacts/
 * folder when the stage completes, and is discarded if it does not. */
const char *stage_artifact_dir(stage_ctx *ctx);
/* A directory that survives a failed or killed attempt (RESULTS/stages/<id>/resume, not created
 * until the stage makes it): long stages keep checkpoints there and resume from them; the runner
 * removes it once the stage completes. Its contents are valid for this identity only. */
const char *stage_resume_dir(stage_ctx *ctx);
/* The completed upstream stage registered under `role`: its results (owned by ctx, closed
 * after run) and its directory (for its artifacts/). */
store_reader *stage_dep_store(stage_ctx *ctx, const char *role, herr *e);
const char *stage_dep_dir(const stage_ctx *ctx, const char *role, herr *e);
/* Progress on the terminal (a live line) or as log lines. */
void stage_progress_begin(stage_ctx *ctx, const char *what, uint64_t total);
void stage_progress_update(stage_ctx *ctx, uint64_t done);
void stage_progress_end(stage_ctx *ctx);
/* Set by Ctrl-C / SIGTERM: a long stage checks it and returns an error promptly. */
bool stage_cancelled(const stage_ctx *ctx);
/* A line in the run's log (stderr), prefixed with the stage; silent under --quiet. */
void stage_log(stage_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

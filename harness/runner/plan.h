/* Planning: a loaded config becomes sweep points, each point a graph of stage instances.
 * A stage's identity is the hash of a canonical spec (kind, version, variant, the point seed
 * when the kind is seeded, upstream identities, and exactly the config keys it declares), so
 * points that need the same stage share one instance. */
#ifndef MDH_PLAN_H
#define MDH_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "harness/config/schema.h"
#include "harness/runner/stage.h"
#include "harness/sweep/sweep.h"

#define PLAN_ID_MAX 96

typedef struct plan_stage {
  char id[PLAN_ID_MAX];  /* "<kind>-<16 hex digits>" */
  const stage_kind *kind;
  char *variant;
  cfg_node *spec;        /* what the identity hashes; written to the stage's spec.yaml */
  uint64_t seed;         /* derived from the identity (and so from the point seed) */
  size_t ndeps;
  size_t *deps;          /* indices into plan.stages (always smaller: topological order) */
  char **dep_roles;
  size_t npoints;
  size_t *points;        /* the points that use this stage */
} plan_stage;

typedef struct plan {
  char *name;
  char *config_yaml;     /* the resolved config as loaded (with its sweep section) */
  sweep_point *points;
  size_t npoints;
  size_t **point_stages; /* per point: its stages, upstream first */
  size_t *point_nstages;
  plan_stage *stages;    /* unique stages, upstream before downstream */
  size_t nstages;
} plan;

/* Top-level keys every config has (name, seed, results_dir, stages, sweep, device). */
const sch_node *plan_harness_fields(void);

/* Expands the sweep of `root`, validates every point (problems go to rep, deduplicated; the
 * call then fails with "N problem(s)"), and builds the graph from `kinds`. */
int plan_build(const cfg_node *root, const stage_kind *const *kinds, plan **out, sch_report *rep, herr *e);
void plan_free(plan *p);

/* Identity of a spec: "<kind>-" + the first 16 hex digits of SHA-256(canonical(spec without
 * its `runtime:` part)); the seed is the next 64 bits of the digest with the top bit cleared. */
void plan_identity(const cfg_node *spec, const char *kind, char id[PLAN_ID_MAX], uint64_t *seed);

/* Runs every planned stage kind's preflight check on the stages that are not complete in
 * results_dir; each distinct problem is added to rep. Returns the number of problems. */
size_t plan_preflight(const plan *p, const char *results_dir, sch_report *rep);

/* Index of a stage by id, or -1. */
long plan_find_stage(const plan *p, const char *id);

#endif

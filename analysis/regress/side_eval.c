/* What one side's evaluate stage of a point recorded: every numeric metric, and per arm the
 * runs' AUC and DeLong se with the test predictions of the classify stage behind each run
 * (found through the evaluate stage's dependency "<arm>-r<k>" in the sweep index). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/side.h"
#include "harness/store/store.h"
#include "harness/util/fsutil.h"

static int cmp_name(const void *key, const void *elem) { return strcmp(key, *(char *const *)elem); }

double side_metric(const side_eval *v, const char *name) {
  char **hit = bsearch(name, v->names, v->nmetrics, sizeof *v->names, cmp_name);
  return hit ? v->values[hit - v->names] : NAN;
}

const side_arm *side_find_arm(const side_eval *v, const char *name) {
  for (size_t a = 0; a < v->narms; a++)
    if (!strcmp(v->arms[a].name, name)) return &v->arms[a];
  return NULL;
}

/* The stage id in `role` of stage `id`, from the index's "role=id role=id" (caller frees). */
static char *dep_of(const regress_side *s, const char *id, const char *role) {
  for (size_t i = 0; i < s->ix->nstages; i++) {
    if (strcmp(s->ix->stage_ids[i], id)) continue;
    size_t rl = strlen(role);
    for (const char *p = s->ix->stage_deps[i]; *p;) {
      while (*p == ' ') p++;
      size_t len = strcspn(p, " ");
      if (len > rl + 1 && !strncmp(p, role, rl) && p[rl] == '=') return strndup(p + rl + 1, len - rl - 1);
      p += len;
    }
  }
  return NULL;
}

static void add_commit(side_eval *v, store_reader *r) {
  char *c = store_get_provenance(r, "git_commit", NULL);
  if (!c) return;
  for (size_t i = 0; i < v->ncommits; i++)
    if (!strcmp(v->commits[i], c)) {
      free(c);
      return;
    }
  char **grown = realloc(v->commits, (v->ncommits + 1) * sizeof *grown);
  if (!grown) abort();
  v->commits = grown;
  v->commits[v->ncommits++] = c;
}

/* Reads run k's predictions through its classify stage; on any problem the run stays without
 * (the comparison falls back to unpaired and says the predictions are missing). */
static void load_predictions(const regress_side *s, const char *eval_id, side_eval *v, side_arm *arm, size_t k) {
  char role[160];
  snprintf(role, sizeof role, "%s-r%zu", arm->name, k);
  char *cid = dep_of(s, eval_id, role);
  if (!cid) return;
  char *h5 = side_stage_path(s, cid, "stage.h5");
  store_reader *r = store_open(h5, NULL);
  char *rel = r ? store_get_artifact(r, "test_predictions", NULL) : NULL;
  if (r) add_commit(v, r);
  if (rel) {
    char *dir = fs_dirname(h5), *path = fs_join(dir, rel);
    if (regress_preds_read(path, &arm->preds[k], NULL) == 0) arm->runs[k].preds = &arm->preds[k];
    free(dir);
    free(path);
  }
  free(rel);
  if (r) store_reader_close(r);
  free(h5);
  free(cid);
}

/* Arms are the names X of metrics X/auc_mean (X a single segment other than "compare"); their
 * runs are X/r0/auc, X/r1/auc, ... up to the first one missing. */
static void find_arms(const regress_side *s, const char *eval_id, side_eval *v) {
  for (size_t i = 0; i < v->nmetrics; i++) {
    const char *n = v->names[i], *slash = strchr(n, '/');
    if (!slash || strcmp(slash, "/auc_mean") || !strncmp(n, "compare/", 8)) continue;
    side_arm *grown = realloc(v->arms, (v->narms + 1) * sizeof *grown);
    if (!grown) abort();
    v->arms = grown;
    side_arm *arm = &v->arms[v->narms++];
    *arm = (side_arm){.name = strndup(n, (size_t)(slash - n))};
    if (!arm->name) abort();
    char name[200];
    for (;;) {
      snprintf(name, sizeof name, "%s/r%zu/auc", arm->name, arm->nruns);
      if (!bsearch(name, v->names, v->nmetrics, sizeof *v->names, cmp_name)) break;
      arm->nruns++;
    }
    arm->runs = calloc(arm->nruns + 1, sizeof *arm->runs);
    arm->preds = calloc(arm->nruns + 1, sizeof *arm->preds);
    if (!arm->runs || !arm->preds) abort();
    for (size_t k = 0; k < arm->nruns; k++) {
      snprintf(name, sizeof name, "%s/r%zu/auc", arm->name, k);
      arm->runs[k].auc = side_metric(v, name);
      snprintf(name, sizeof name, "%s/r%zu/delong_se", arm->name, k);
      arm->runs[k].se = side_metric(v, name);
      load_predictions(s, eval_id, v, arm, k);
    }
  }
}

int side_eval_load(const regress_side *s, const char *eval_id, side_eval *out, herr *e) {
  *out = (side_eval){0};
  char *h5 = side_stage_path(s, eval_id, "stage.h5");
  if (!fs_exists(h5)) {
    herr_set(e, "%s: %s: the evaluate stage did not complete (no stage.h5)", s->what, h5);
    free(h5);
    return -1;
  }
  store_reader *r = store_open(h5, e);
  int rc = r ? 0 : herr_prefix(e, "%s: ", s->what);
  if (!rc && store_list_metrics(r, &out->names, &out->nmetrics, e)) rc = herr_prefix(e, "%s: ", s->what);
  if (!rc) {
    out->values = calloc(out->nmetrics + 1, sizeof *out->values);
    if (!out->values) abort();
    for (size_t i = 0; i < out->nmetrics && !rc; i++)
      if (store_get_metric(r, out->names[i], &out->values[i], e)) rc = herr_prefix(e, "%s: ", s->what);
  }
  if (!rc) {
    add_commit(out, r);
    find_arms(s, eval_id, out);
    if (out->narms == 0) rc = herr_set(e, "%s: %s: no <arm>/auc_mean metrics (not an evaluate stage's results)", s->what, h5);
  }
  if (r) store_reader_close(r);
  free(h5);
  if (rc) side_eval_free(out);
  return rc;
}

void side_eval_free(side_eval *v) {
  for (size_t i = 0; v->names && i < v->nmetrics; i++) free(v->names[i]);
  free(v->names);
  free(v->values);
  for (size_t a = 0; a < v->narms; a++) {
    for (size_t k = 0; k < v->arms[a].nruns; k++) regress_preds_free(&v->arms[a].preds[k]);
    free(v->arms[a].preds);
    free(v->arms[a].runs);
    free(v->arms[a].name);
  }
  free(v->arms);
  for (size_t i = 0; i < v->ncommits; i++) free(v->commits[i]);
  free(v->commits);
  *v = (side_eval){0};
}

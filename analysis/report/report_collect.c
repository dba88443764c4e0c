/* report_collect: reads a results directory into the report's model — the index for points
 * and stages, each stage folder for its live state and failure, each complete stage file for
 * provenance and metrics, and spec.yaml where a stage has not run (the arm sizes it will use). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_model.h"
#include "harness/config/cfg.h"
#include "harness/runner/index.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

const char *const rp_prov_keys[RP_NPROV] = {"harness_version", "git_commit", "device", "threads",
                                            "host",            "start_time", "end_time"};

static char *xstrdup(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort();
  return d;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) abort();
  return p;
}

char *rp_stage_dir(const rp_results *r, size_t stage) { return stage_dir_path(r->dir, r->stages[stage].id); }

store_reader *rp_open_stage(const rp_results *r, size_t stage, herr *e) {
  if (r->stages[stage].state != STAGE_COMPLETE) {
    herr_set(e, "stage %s is not complete", r->stages[stage].id);
    return NULL;
  }
  char *path = stage_file_path(r->dir, r->stages[stage].id, "stage.h5");
  store_reader *s = store_open(path, e);
  free(path);
  return s;
}

const char *rp_state_text(const rp_stage *s, char *buf, size_t n) {
  if (s->state == STAGE_FAILED && s->error)
    snprintf(buf, n, "failed: %s", s->error);
  else if (s->state == STAGE_BLOCKED)
    snprintf(buf, n, "blocked (an upstream stage failed)");
  else
    snprintf(buf, n, "%s", stage_state_name(s->state));
  return buf;
}

rp_composition rp_arm_composition(const rp_arm *a) {
  if (!isfinite(a->n_real) || !isfinite(a->n_synthetic)) return RP_COMP_UNKNOWN;
  if (a->n_real > 0 && a->n_synthetic <= 0) return RP_COMP_REAL;
  if (a->n_real > 0) return RP_COMP_REAL_SYNTHETIC;
  if (a->n_synthetic > 0) return RP_COMP_SYNTHETIC;
  return RP_COMP_UNKNOWN;
}

const char *rp_composition_name(rp_composition c) {
  switch (c) {
    case RP_COMP_REAL: return "real only";
    case RP_COMP_REAL_SYNTHETIC: return "real + synthetic";
    case RP_COMP_SYNTHETIC: return "synthetic only";
    case RP_COMP_UNKNOWN: break;
  }
  return "unknown";
}

long rp_real_arm(const rp_point *p) {
  for (size_t a = 0; a < p->narms; a++)
    if (rp_arm_composition(&p->arms[a]) == RP_COMP_REAL) return (long)a;
  return -1;
}

static double metric(store_reader *s, const char *name) {
  double v = NAN;
  if (!s || store_get_metric(s, name, &v, NULL)) return NAN;
  return v;
}

static double metricf(store_reader *s, const char *fmt, const char *a, const char *b) {
  char name[512];
  snprintf(name, sizeof name, fmt, a, b);
  return metric(s, name);
}

/* A number from a stage's spec.yaml (what it was planned with), NAN when absent. */
static double spec_number(const rp_results *r, size_t stage, const char *path) {
  cfg_node *spec = stage_dir_read_spec(r->dir, r->stages[stage].id, NULL);
  double v = NAN;
  const cfg_node *n = spec ? cfg_get(spec, path) : NULL;
  if (n && cfg_as_double(n, &v, NULL)) v = NAN;
  cfg_free(spec);
  return v;
}

static long stage_index(const index_data *ix, const char *id) {
  for (size_t i = 0; i < ix->nstages; i++)
    if (!strcmp(ix->stage_ids[i], id)) return (long)i;
  return -1;
}

static void read_stage(rp_results *r, size_t i) {
  rp_stage *s = &r->stages[i];
  s->state = stage_dir_state(r->dir, s->id);
  if (s->state == STAGE_FAILED) s->error = stage_dir_failure(r->dir, s->id);
  if (s->state != STAGE_COMPLETE) return;
  store_reader *st = rp_open_stage(r, i, NULL);
  if (!st) { /* stage.h5 present but unreadable: show it as failed rather than as numbers */
    s->state = STAGE_FAILED;
    s->error = xstrdup("stage.h5 is not a complete, readable stage file");
    return;
  }
  for (size_t k = 0; k < RP_NPROV; k++) s->prov[k] = store_get_provenance(st, rp_prov_keys[k], NULL);
  store_reader_close(st);
}

/* Stages upstream of a failed one are reported as blocked (the runner would not start them).
 * Index order is topological, so one pass suffices. */
static void mark_blocked(rp_results *r, const index_data *ix) {
  for (size_t i = 0; i < r->nstages; i++) {
    rp_stage *s = &r->stages[i];
    if (s->state != STAGE_PENDING) continue;
    char *deps = xstrdup(s->deps), *save = NULL;
    for (char *tok = strtok_r(deps, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      char *eq = strchr(tok, '=');
      long d = stage_index(ix, eq ? eq + 1 : tok);
      if (d >= 0 && (r->stages[d].state == STAGE_FAILED || r->stages[d].state == STAGE_BLOCKED))
        s->state = STAGE_BLOCKED;
    }
    free(deps);
  }
}

static int parse_assignments(rp_point *p, const char *json, herr *e) {
  cJSON *root = cJSON_Parse(json ? json : "{}");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return herr_set(e, "index.h5: point %zu: assignments '%s' are not a JSON object", p->index, json ? json : "");
  }
  size_t n = (size_t)cJSON_GetArraySize(root), k = 0;
  p->keys = xcalloc(n, sizeof *p->keys);
  p->values = xcalloc(n, sizeof *p->values);
  p->num = xcalloc(n, sizeof *p->num);
  for (cJSON *it = root->child; it; it = it->next, k++) {
    p->keys[k] = xstrdup(it->string);
    char *text = cJSON_PrintUnformatted(it);
    p->values[k] = xstrdup(text);
    free(text);
    p->num[k] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
  }
  p->nkeys = k;
  cJSON_Delete(root);
  return 0;
}

/* "<arm>-r<k>": the arm name and the run number; -1 when the variant has another form. */
static long split_variant(const char *variant, char *arm, size_t n) {
  const char *dash = strrchr(variant, '-');
  if (!dash || dash[1] != 'r' || !dash[2]) return -1;
  char *end;
  long k = strtol(dash + 2, &end, 10);
  if (*end || k < 0) return -1;
  snprintf(arm, n, "%.*s", (int)(dash - variant), variant);
  return k;
}

static rp_arm *find_or_add_arm(rp_point *p, const char *name) {
  for (size_t a = 0; a < p->narms; a++)
    if (!strcmp(p->arms[a].name, name)) return &p->arms[a];
  p->arms = realloc(p->arms, (p->narms + 1) * sizeof *p->arms);
  if (!p->arms) abort();
  rp_arm *a = &p->arms[p->narms++];
  *a = (rp_arm){.name = xstrdup(name), .n_real = NAN, .n_synthetic = NAN, .auc_mean = NAN, .auc_sd = NAN,
                .dl_lo = NAN, .dl_hi = NAN, .boot_lo = NAN, .boot_hi = NAN};
  return a;
}

static void add_run(const rp_results *r, rp_point *p, size_t stage) {
  char arm[256];
  long k = split_variant(r->stages[stage].variant, arm, sizeof arm);
  if (k < 0) return;
  rp_arm *a = find_or_add_arm(p, arm);
  a->runs = realloc(a->runs, (a->nruns + 1) * sizeof *a->runs);
  if (!a->runs) abort();
  rp_run *run = &a->runs[a->nruns++];
  *run = (rp_run){.k = k, .stage = stage, .test_auc = NAN, .best_val_auc = NAN, .auc = NAN, .dl_lo = NAN,
                  .dl_hi = NAN, .boot_lo = NAN, .boot_hi = NAN};
  store_reader *s = rp_open_stage(r, stage, NULL);
  if (s) {
    run->test_auc = metric(s, "test_auc");
    run->best_val_auc = metric(s, "best_val_auc");
    if (!isfinite(a->n_real)) a->n_real = metric(s, "n_real");
    if (!isfinite(a->n_synthetic)) a->n_synthetic = metric(s, "n_synthetic");
    store_reader_close(s);
  }
}

/* Arm sizes of arms no stage has reported yet: what the classify stage's spec asks for. */
static void arm_sizes_from_spec(const rp_results *r, rp_arm *a) {
  if (!a->nruns || (isfinite(a->n_real) && isfinite(a->n_synthetic))) return;
  char path[400];
  snprintf(path, sizeof path, "config.classify.arms.%s.real", a->name);
  if (!isfinite(a->n_real)) a->n_real = spec_number(r, a->runs[0].stage, path);
  snprintf(path, sizeof path, "config.classify.arms.%s.synthetic", a->name);
  if (!isfinite(a->n_synthetic)) a->n_synthetic = spec_number(r, a->runs[0].stage, path);
}

static void read_evaluate(const rp_results *r, rp_point *p) {
  store_reader *s = p->evaluate >= 0 ? rp_open_stage(r, (size_t)p->evaluate, NULL) : NULL;
  if (!s) return;
  for (size_t i = 0; i < p->narms; i++) {
    rp_arm *a = &p->arms[i];
    a->auc_mean = metricf(s, "%s/auc_mean%s", a->name, "");
    a->evaluated = isfinite(a->auc_mean);
    if (!a->evaluated) continue;
    a->auc_sd = metricf(s, "%s/auc_sd%s", a->name, "");
    a->dl_lo = metricf(s, "%s/delong_lo_mean%s", a->name, "");
    a->dl_hi = metricf(s, "%s/delong_hi_mean%s", a->name, "");
    a->boot_lo = metricf(s, "%s/boot_lo_mean%s", a->name, "");
    a->boot_hi = metricf(s, "%s/boot_hi_mean%s", a->name, "");
    double nr = metricf(s, "%s/n_real%s", a->name, ""), ns = metricf(s, "%s/n_synthetic%s", a->name, "");
    if (isfinite(nr)) a->n_real = nr;
    if (isfinite(ns)) a->n_synthetic = ns;
    for (size_t k = 0; k < a->nruns; k++) {
      rp_run *run = &a->runs[k];
      char pre[300];
      snprintf(pre, sizeof pre, "%s/r%ld", a->name, run->k);
      run->auc = metricf(s, "%s/%s", pre, "auc");
      run->dl_lo = metricf(s, "%s/%s", pre, "delong_lo");
      run->dl_hi = metricf(s, "%s/%s", pre, "delong_hi");
      run->boot_lo = metricf(s, "%s/%s", pre, "boot_lo");
      run->boot_hi = metricf(s, "%s/%s", pre, "boot_hi");
    }
  }
  /* compare/<a>_vs_<b> holds a − b for arms in config order; look both ways round. */
  p->cmps = xcalloc(p->narms * p->narms, sizeof *p->cmps);
  for (size_t a = 0; a < p->narms; a++)
    for (size_t b = a + 1; b < p->narms; b++) {
      const char *A = p->arms[a].name, *B = p->arms[b].name;
      double sign = 1, mean = metricf(s, "compare/%s_vs_%s/diff_mean", A, B);
      if (!isfinite(mean)) {
        sign = -1;
        const char *t = A;
        A = B, B = t;
        mean = metricf(s, "compare/%s_vs_%s/diff_mean", A, B);
      }
      if (!isfinite(mean)) continue;
      rp_compare *c = &p->cmps[p->ncmps++];
      *c = (rp_compare){.a = a, .b = b, .diff_mean = sign * mean, .diff_sd = metricf(s, "compare/%s_vs_%s/diff_sd", A, B)};
      for (size_t k = 0; k < p->arms[a].nruns; k++) {
        char name[600];
        snprintf(name, sizeof name, "compare/%s_vs_%s/r%ld/p", A, B, p->arms[a].runs[k].k);
        double pv = metric(s, name);
        if (!isfinite(pv)) continue;
        if (!c->nruns || pv > c->p_max) c->p_max = pv;
        c->nruns++;
      }
      if (!c->nruns) c->p_max = NAN;
    }
  store_reader_close(s);
}

static void add_index(size_t **v, size_t *n, size_t i) {
  *v = realloc(*v, (*n + 1) * sizeof **v);
  if (!*v) abort();
  (*v)[(*n)++] = i;
}

static int read_point(rp_results *r, const index_data *ix, size_t pi, herr *e) {
  rp_point *p = &r->points[pi];
  p->index = pi;
  p->label = xstrdup(ix->point_labels[pi]);
  p->seed = ix->point_seeds[pi];
  p->data = p->evaluate = -1;
  p->embed_cases = p->ci_level = NAN;
  if (parse_assignments(p, ix->point_assignments ? ix->point_assignments[pi] : "{}", e)) return -1;
  char *ids = xstrdup(ix->point_stages[pi]), *save = NULL;
  p->stages = xcalloc(ix->nstages, sizeof *p->stages);
  for (char *tok = strtok_r(ids, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    long s = stage_index(ix, tok);
    if (s < 0) {
      free(ids);
      return herr_set(e, "%s/index.h5: point %zu uses stage %s, which is not in /stages/id", r->dir, pi, tok);
    }
    p->stages[p->nstages++] = (size_t)s;
    const char *kind = r->stages[s].kind;
    if (!strcmp(kind, "data")) p->data = s;
    if (!strcmp(kind, "evaluate")) p->evaluate = s;
    if (!strcmp(kind, "embed")) add_index(&p->embeds, &p->nembeds, (size_t)s);
    if (!strcmp(kind, "generate")) add_index(&p->generates, &p->ngenerates, (size_t)s);
  }
  free(ids);
  /* Arms and runs in the evaluate stage's order (the config's), else in stage order. */
  if (p->evaluate >= 0) {
    char *deps = xstrdup(r->stages[p->evaluate].deps);
    for (char *tok = strtok_r(deps, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      char *eq = strchr(tok, '=');
      long s = stage_index(ix, eq ? eq + 1 : tok);
      if (s >= 0 && !strcmp(r->stages[s].kind, "classify")) add_run(r, p, (size_t)s);
    }
    free(deps);
  }
  if (!p->narms)
    for (size_t i = 0; i < p->nstages; i++)
      if (!strcmp(r->stages[p->stages[i]].kind, "classify")) add_run(r, p, p->stages[i]);
  for (size_t a = 0; a < p->narms; a++) arm_sizes_from_spec(r, &p->arms[a]);
  if (p->nembeds) p->embed_cases = spec_number(r, p->embeds[0], "config.diffusion.embed.train.cases");
  if (p->evaluate >= 0) p->ci_level = 1 - spec_number(r, (size_t)p->evaluate, "config.evaluate.alpha");
  read_evaluate(r, p);
  return 0;
}

rp_results *rp_collect(const char *results_dir, herr *e) {
  if (!fs_is_dir(results_dir)) {
    herr_set(e, "%s: %s", results_dir, fs_exists(results_dir) ? "not a directory" : "no such directory");
    return NULL;
  }
  char *ixpath = fs_join(results_dir, "index.h5");
  bool has_index = fs_exists(ixpath);
  free(ixpath);
  if (!has_index) {
    herr_set(e, "%s: not a results directory (no index.h5; `harness run CONFIG --results DIR` writes one)",
             results_dir);
    return NULL;
  }
  index_data *ix = index_read(results_dir, e);
  if (!ix) {
    herr_prefix(e, "%s: not a readable results directory: ", results_dir);
    return NULL;
  }
  rp_results *r = xcalloc(1, sizeof *r);
  r->dir = xstrdup(results_dir);
  r->name = xstrdup(ix->name);
  r->nstages = ix->nstages;
  r->stages = xcalloc(ix->nstages, sizeof *r->stages);
  for (size_t i = 0; i < ix->nstages; i++) {
    rp_stage *s = &r->stages[i];
    s->id = xstrdup(ix->stage_ids[i]);
    s->kind = xstrdup(ix->stage_kinds[i]);
    s->variant = xstrdup(ix->stage_variants[i]);
    s->deps = xstrdup(ix->stage_deps[i]);
    read_stage(r, i);
  }
  mark_blocked(r, ix);
  r->npoints = ix->npoints;
  r->points = xcalloc(ix->npoints, sizeof *r->points);
  int rc = 0;
  for (size_t i = 0; i < ix->npoints && !rc; i++) rc = read_point(r, ix, i, e);
  index_free(ix);
  if (rc) {
    rp_results_free(r);
    return NULL;
  }
  return r;
}

void rp_results_free(rp_results *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nstages; i++) {
    rp_stage *s = &r->stages[i];
    free(s->id), free(s->kind), free(s->variant), free(s->deps), free(s->error);
    for (size_t k = 0; k < RP_NPROV; k++) free(s->prov[k]);
  }
  for (size_t i = 0; i < r->npoints; i++) {
    rp_point *p = &r->points[i];
    for (size_t k = 0; k < p->nkeys; k++) free(p->keys[k]), free(p->values[k]);
    free(p->keys), free(p->values), free(p->num), free(p->label), free(p->stages);
    free(p->embeds), free(p->generates), free(p->cmps);
    for (size_t a = 0; a < p->narms; a++) free(p->arms[a].name), free(p->arms[a].runs);
    free(p->arms);
  }
  free(r->points), free(r->stages), free(r->dir), free(r->name);
  free(r);
}

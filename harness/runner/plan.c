/* plan: schema validation per point, then recursive instantiation of each target stage and
 * its upstream stages, deduplicated across points by identity. */
#include "harness/runner/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/sha256.h"
#include "harness/util/strbuf.h"

static const char *const device_doc = "where tensors live: auto (CUDA when present), cpu, cuda, cuda:N";

static const sch_node harness_fields[] = {
    {.key = "name", .type = SCH_STR, .doc = "experiment name (default: the config file's name)", .optional = true},
    {.key = "seed", .type = SCH_INT, .doc = "the point's seed; stage seeds derive from it", .def = "0",
     .has_min = true, .min = 0},
    {.key = "results_dir", .type = SCH_PATH, .doc = "where results go (default: results/<name>)", .optional = true},
    {.key = "stages", .type = SCH_SEQ, .doc = "the stage kinds to run for every point (upstream stages follow)",
     .min_items = 1},
    {.key = "sweep", .type = SCH_ANY, .doc = "grid, zip, seeds and exclude", .optional = true},
    {.key = "device", .type = SCH_STR, .doc = device_doc, .def = "auto"},
    {.key = NULL},
};

const sch_node *plan_harness_fields(void) { return harness_fields; }

const stage_kind *stage_kind_lookup(const stage_kind *const *kinds, const char *name) {
  for (size_t i = 0; kinds[i]; i++)
    if (!strcmp(kinds[i]->name, name)) return kinds[i];
  return NULL;
}

void stage_deps_free(stage_dep *deps, size_t n) {
  for (size_t i = 0; i < n; i++) free(deps[i].variant);
  free(deps);
}

/* The schema of one point: the harness keys plus every kind's section, each optional here;
 * a section is filled with its defaults when a stage that reads it is planned. */
typedef struct point_schema {
  sch_node *fields;
  sch_node root;
  sch_node stage_item;
  const char **kind_names;
} point_schema;

static void point_schema_init(point_schema *ps, const stage_kind *const *kinds) {
  size_t nk = 0;
  while (kinds[nk]) nk++;
  ps->kind_names = calloc(nk + 1, sizeof *ps->kind_names);
  size_t nh = 0;
  while (harness_fields[nh].key) nh++;
  ps->fields = calloc(nh + nk + 1, sizeof *ps->fields);
  if (!ps->kind_names || !ps->fields) abort();
  for (size_t i = 0; i < nk; i++) ps->kind_names[i] = kinds[i]->name;
  memcpy(ps->fields, harness_fields, nh * sizeof *ps->fields);
  ps->stage_item = (sch_node){.type = SCH_ENUM, .doc = "a stage kind", .choices = ps->kind_names};
  for (size_t i = 0; i < nh; i++)
    if (!strcmp(ps->fields[i].key, "stages")) ps->fields[i].item = &ps->stage_item;
  size_t n = nh;
  for (size_t i = 0; i < nk; i++) {
    if (!kinds[i]->section) continue;
    bool seen = false;
    for (size_t j = nh; j < n; j++) seen = seen || !strcmp(ps->fields[j].key, kinds[i]->section);
    if (seen) continue;
    ps->fields[n] = *kinds[i]->schema;
    ps->fields[n].key = kinds[i]->section;
    ps->fields[n].optional = true;
    ps->fields[n].def = NULL;
    n++;
  }
  ps->root = (sch_node){.type = SCH_MAP, .doc = "experiment config", .fields = ps->fields};
}

static void point_schema_free(point_schema *ps) {
  free(ps->fields);
  free(ps->kind_names);
}

/* ---- report deduplication: every point repeats the base config's problems ---- */
static void report_merge(sch_report *into, sch_report *from) {
  for (size_t i = 0; i < from->len; i++) {
    bool dup = false;
    for (size_t j = 0; j < into->len && !dup; j++) dup = !strcmp(into->msgs[j], from->msgs[i]);
    if (!dup) sch_report_add(into, "%s", from->msgs[i]);
  }
  sch_report_free(from);
}

/* auto, cpu, cuda or cuda:N — checked here so that the error carries its location. */
static void check_device(const cfg_node *point, sch_report *rep) {
  const cfg_node *d = cfg_map_get(point, "device");
  if (!d || d->kind != CFG_SCALAR) return;
  const char *s = d->str;
  bool ok = !strcmp(s, "auto") || !strcmp(s, "cpu") || !strcmp(s, "cuda");
  if (!ok && !strncmp(s, "cuda:", 5) && s[5]) {
    ok = true;
    for (const char *c = s + 5; *c; c++) ok = ok && *c >= '0' && *c <= '9';
  }
  if (!ok) {
    char loc[512];
    sch_report_add(rep, "%s: device: expected auto, cpu, cuda or cuda:N, got '%s'", cfg_loc_str(d->loc, loc, sizeof loc),
                   s);
  }
}

/* ---- identity ---- */
void plan_identity(const cfg_node *spec, const char *kind, char id[PLAN_ID_MAX], uint64_t *seed) {
  cfg_node *identity = cfg_clone(spec);
  cfg_map_remove(identity, "runtime");
  char *canon = cfg_canonical(identity);
  cfg_free(identity);
  char hex[65];
  sha256_hex(canon, hex);
  free(canon);
  snprintf(id, PLAN_ID_MAX, "%s-%.16s", kind, hex);
  if (seed) {
    char tail[17];
    memcpy(tail, hex + 16, 16);
    tail[16] = '\0';
    *seed = strtoull(tail, NULL, 16) & 0x7fffffffffffffffULL; /* fits torch's int64 seeds */
  }
}

/* ---- the graph under construction ---- */
typedef struct builder {
  plan *p;
  const stage_kind *const *kinds;
  point_schema *ps;
  size_t cap_stages;
  /* id -> stage index, open addressing */
  char (*slot_ids)[PLAN_ID_MAX];
  long *slot_idx;
  size_t nslots;
  /* per-point memo of (kind, variant) -> stage index */
  const stage_kind **memo_kind;
  char **memo_variant;
  size_t *memo_idx;
  size_t nmemo, cap_memo;
  char **filled_sections;
  size_t nfilled;
  int depth;
} builder;

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static long id_lookup(const builder *b, const char *id) {
  for (size_t i = hash_str(id) % b->nslots;; i = (i + 1) % b->nslots) {
    if (b->slot_idx[i] < 0) return -1;
    if (!strcmp(b->slot_ids[i], id)) return b->slot_idx[i];
  }
}

static void id_insert(builder *b, const char *id, long idx) {
  if (2 * (b->p->nstages + 1) > b->nslots) {
    size_t old_n = b->nslots;
    char(*old_ids)[PLAN_ID_MAX] = b->slot_ids;
    long *old_idx = b->slot_idx;
    b->nslots = old_n ? 2 * old_n : 64;
    b->slot_ids = calloc(b->nslots, sizeof *b->slot_ids);
    b->slot_idx = malloc(b->nslots * sizeof *b->slot_idx);
    if (!b->slot_ids || !b->slot_idx) abort();
    for (size_t i = 0; i < b->nslots; i++) b->slot_idx[i] = -1;
    for (size_t i = 0; i < old_n; i++)
      if (old_idx[i] >= 0) id_insert(b, old_ids[i], old_idx[i]);
    free(old_ids);
    free(old_idx);
  }
  size_t i = hash_str(id) % b->nslots;
  while (b->slot_idx[i] >= 0) i = (i + 1) % b->nslots;
  snprintf(b->slot_ids[i], PLAN_ID_MAX, "%s", id);
  b->slot_idx[i] = idx;
}

static void memo_reset(builder *b) {
  for (size_t i = 0; i < b->nmemo; i++) free(b->memo_variant[i]);
  b->nmemo = 0;
  for (size_t i = 0; i < b->nfilled; i++) free(b->filled_sections[i]);
  b->nfilled = 0;
}

/* Fills the kind's section with its defaults (and validates it) before the kind reads it. */
static int ensure_section(builder *b, cfg_node *point, const stage_kind *k, sch_report *rep) {
  if (!k->section) return 0;
  for (size_t i = 0; i < b->nfilled; i++)
    if (!strcmp(b->filled_sections[i], k->section)) return 0;
  b->filled_sections = realloc(b->filled_sections, (b->nfilled + 1) * sizeof *b->filled_sections);
  if (!b->filled_sections) abort();
  b->filled_sections[b->nfilled++] = strdup(k->section);
  cfg_node *sec = cfg_map_get(point, k->section);
  if (sec) return 0; /* present sections were validated and filled with the whole point */
  sec = cfg_new_map((cfg_loc){cfg_intern("<default>"), 0, 0});
  cfg_map_set(point, k->section, sec->loc, sec);
  return sch_validate(k->schema, sec, k->section, rep) ? -1 : 0;
}

static cfg_node *config_subset(const char *const *keys, const char *variant, const cfg_node *config, herr *e);

static cfg_node *build_spec(const stage_kind *k, const char *variant, const sweep_point *pt,
                            const char *const *roles, const char *const *dep_ids, size_t ndeps, herr *e) {
  cfg_loc none = {cfg_intern("<spec>"), 0, 0};
  cfg_node *spec = cfg_new_map(none);
  cfg_map_set(spec, "kind", none, cfg_new_scalar(k->name, true, none));
  char buf[64];
  snprintf(buf, sizeof buf, "%d", k->version);
  cfg_map_set(spec, "version", none, cfg_new_scalar(buf, false, none));
  cfg_map_set(spec, "variant", none, cfg_new_scalar(variant, true, none));
  if (k->seeded) {
    snprintf(buf, sizeof buf, "%lld", pt->seed);
    cfg_map_set(spec, "point_seed", none, cfg_new_scalar(buf, false, none));
  }
  cfg_node *deps = cfg_new_map(none);
  for (size_t i = 0; i < ndeps; i++) cfg_map_set(deps, roles[i], none, cfg_new_scalar(dep_ids[i], true, none));
  cfg_map_set(spec, "deps", none, deps);
  cfg_node *subset = config_subset(k->keys, variant, pt->config, e);
  cfg_node *runtime = subset ? config_subset(k->runtime_keys, variant, pt->config, e) : NULL;
  if (!subset || !runtime) {
    cfg_free(subset);
    cfg_free(spec);
    return NULL;
  }
  cfg_map_set(spec, "config", none, subset);
  /* The device travels with every stage so that `harness run-stage` runs where `run` would. */
  const cfg_node *device = cfg_map_get(pt->config, "device");
  if (device) cfg_map_set(runtime, "device", none, cfg_clone(device));
  if (runtime->len)
    cfg_map_set(spec, "runtime", none, runtime);
  else
    cfg_free(runtime);
  return spec;
}

/* The declared keys of a point's config, at their full paths. */
static cfg_node *config_subset(const char *const *keys, const char *variant, const cfg_node *config, herr *e) {
  cfg_node *subset = cfg_new_map((cfg_loc){cfg_intern("<spec>"), 0, 0});
  for (size_t i = 0; keys && keys[i]; i++) {
    strbuf path = STRBUF_INIT;
    const char *key = keys[i];
    const char *ph = strstr(key, "{variant}");
    if (ph) {
      sb_append_n(&path, key, (size_t)(ph - key));
      sb_append(&path, variant);
      sb_append(&path, ph + strlen("{variant}"));
    } else {
      sb_append(&path, key);
    }
    const cfg_node *v = cfg_get(config, sb_str(&path));
    if (v && cfg_set(subset, sb_str(&path), cfg_clone(v), e)) {
      sb_free(&path);
      cfg_free(subset);
      return NULL;
    }
    sb_free(&path);
  }
  return subset;
}

static long instantiate(builder *b, size_t point_i, const stage_kind *k, const char *variant, sch_report *rep,
                        herr *e) {
  for (size_t i = 0; i < b->nmemo; i++)
    if (b->memo_kind[i] == k && !strcmp(b->memo_variant[i], variant)) return (long)b->memo_idx[i];
  if (b->depth >= 64) {
    herr_set(e, "stage %s depends on itself (through its upstream stages)", k->name);
    return -1;
  }
  sweep_point *pt = &b->p->points[point_i];
  if (ensure_section(b, pt->config, k, rep)) {
    herr_set(e, "invalid configuration");
    return -1;
  }
  stage_dep *deps = NULL;
  size_t ndeps = 0;
  if (k->deps && k->deps(pt->config, variant, &deps, &ndeps, e)) {
    herr_prefix(e, "planning %s for point %zu", k->name, point_i);
    return -1;
  }
  b->depth++;
  size_t *dep_idx = calloc(ndeps + 1, sizeof *dep_idx);
  const char **dep_ids = calloc(ndeps + 1, sizeof *dep_ids);
  const char **roles = calloc(ndeps + 1, sizeof *roles);
  if (!dep_idx || !dep_ids || !roles) abort();
  long result = -1;
  for (size_t i = 0; i < ndeps; i++) {
    const stage_kind *dk = stage_kind_lookup(b->kinds, deps[i].kind);
    if (!dk) {
      herr_set(e, "stage kind %s needs unknown kind %s", k->name, deps[i].kind);
      goto out;
    }
    long di = instantiate(b, point_i, dk, deps[i].variant ? deps[i].variant : "", rep, e);
    if (di < 0) goto out;
    dep_idx[i] = (size_t)di;
    roles[i] = deps[i].role;
  }
  /* Ids are looked up only now: instantiating a later dependency may move the stage array. */
  for (size_t i = 0; i < ndeps; i++) dep_ids[i] = b->p->stages[dep_idx[i]].id;
  cfg_node *spec = build_spec(k, variant, pt, roles, dep_ids, ndeps, e);
  if (!spec) goto out;
  char id[PLAN_ID_MAX];
  uint64_t seed;
  plan_identity(spec, k->name, id, &seed);
  long idx = b->nslots ? id_lookup(b, id) : -1;
  if (idx < 0) {
    if (b->p->nstages == b->cap_stages) {
      b->cap_stages = b->cap_stages ? 2 * b->cap_stages : 64;
      b->p->stages = realloc(b->p->stages, b->cap_stages * sizeof *b->p->stages);
      if (!b->p->stages) abort();
    }
    idx = (long)b->p->nstages;
    plan_stage *s = &b->p->stages[idx];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    s->kind = k;
    s->variant = strdup(variant);
    s->spec = spec;
    s->seed = seed;
    s->ndeps = ndeps;
    s->deps = dep_idx;
    s->dep_roles = calloc(ndeps + 1, sizeof *s->dep_roles);
    if (!s->dep_roles) abort();
    for (size_t i = 0; i < ndeps; i++) s->dep_roles[i] = strdup(roles[i]);
    dep_idx = NULL;
    id_insert(b, id, idx);
    b->p->nstages++;
  } else {
    cfg_free(spec);
  }
  plan_stage *s = &b->p->stages[idx];
  if (s->npoints == 0 || s->points[s->npoints - 1] != point_i) {
    s->points = realloc(s->points, (s->npoints + 1) * sizeof *s->points);
    if (!s->points) abort();
    s->points[s->npoints++] = point_i;
  }
  if (b->nmemo == b->cap_memo) {
    b->cap_memo = b->cap_memo ? 2 * b->cap_memo : 16;
    b->memo_kind = realloc(b->memo_kind, b->cap_memo * sizeof *b->memo_kind);
    b->memo_variant = realloc(b->memo_variant, b->cap_memo * sizeof *b->memo_variant);
    b->memo_idx = realloc(b->memo_idx, b->cap_memo * sizeof *b->memo_idx);
    if (!b->memo_kind || !b->memo_variant || !b->memo_idx) abort();
  }
  b->memo_kind[b->nmemo] = k;
  b->memo_variant[b->nmemo] = strdup(variant);
  b->memo_idx[b->nmemo++] = (size_t)idx;
  /* Record the stage for the point, upstream first (this runs after its deps were added). */
  size_t *list = b->p->point_stages[point_i];
  size_t n = b->p->point_nstages[point_i];
  list = realloc(list, (n + 1) * sizeof *list);
  if (!list) abort();
  list[n] = (size_t)idx;
  b->p->point_stages[point_i] = list;
  b->p->point_nstages[point_i] = n + 1;
  result = idx;
out:
  b->depth--;
  free(dep_idx);
  free(dep_ids);
  free(roles);
  stage_deps_free(deps, ndeps);
  return result;
}

static int plan_point(builder *b, size_t i, sch_report *rep, herr *e) {
  memo_reset(b);
  const cfg_node *targets = cfg_get(b->p->points[i].config, "stages");
  for (size_t t = 0; t < targets->len; t++) {
    const stage_kind *k = stage_kind_lookup(b->kinds, targets->items[t]->str);
    sch_report local = {0};
    if (ensure_section(b, b->p->points[i].config, k, &local)) {
      report_merge(rep, &local);
      return herr_set(e, "invalid configuration");
    }
    char **variants = NULL;
    size_t nv = 0;
    if (k->variants && k->variants(b->p->points[i].config, &variants, &nv, e))
      return herr_prefix(e, "planning %s for point %zu", k->name, i);
    int rc = 0;
    if (!k->variants) rc = instantiate(b, i, k, "", &local, e) < 0 ? -1 : 0;
    for (size_t v = 0; v < nv && rc == 0; v++) rc = instantiate(b, i, k, variants[v], &local, e) < 0 ? -1 : 0;
    for (size_t v = 0; v < nv; v++) free(variants[v]);
    free(variants);
    report_merge(rep, &local);
    if (rc) return -1;
  }
  return 0;
}

int plan_build(const cfg_node *root, const stage_kind *const *kinds, plan **out, sch_report *rep, herr *e) {
  *out = NULL;
  plan *p = calloc(1, sizeof *p);
  if (!p) abort();
  p->config_yaml = cfg_to_yaml(root);
  const cfg_node *name = cfg_map_get(root, "name");
  p->name = strdup(name && name->kind == CFG_SCALAR ? name->str : "experiment");
  if (sweep_expand(root, &p->points, &p->npoints, e)) {
    plan_free(p);
    return -1;
  }
  point_schema ps;
  point_schema_init(&ps, kinds);
  for (size_t i = 0; i < p->npoints; i++) {
    sch_report local = {0};
    sch_validate(&ps.root, p->points[i].config, "", &local);
    check_device(p->points[i].config, &local);
    report_merge(rep, &local);
  }
  int rc = 0;
  if (rep->len) {
    rc = herr_set(e, "%zu problem%s in the configuration", rep->len, rep->len == 1 ? "" : "s");
  } else {
    p->point_stages = calloc(p->npoints, sizeof *p->point_stages);
    p->point_nstages = calloc(p->npoints, sizeof *p->point_nstages);
    if (!p->point_stages || !p->point_nstages) abort();
    builder b = {.p = p, .kinds = kinds, .ps = &ps};
    for (size_t i = 0; i < p->npoints && rc == 0; i++) rc = plan_point(&b, i, rep, e);
    if (rc && rep->len) herr_set(e, "%zu problem%s in the configuration", rep->len, rep->len == 1 ? "" : "s");
    memo_reset(&b);
    free(b.memo_kind);
    free(b.memo_variant);
    free(b.memo_idx);
    free(b.filled_sections);
    free(b.slot_ids);
    free(b.slot_idx);
  }
  point_schema_free(&ps);
  if (rc) {
    plan_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

long plan_find_stage(const plan *p, const char *id) {
  for (size_t i = 0; i < p->nstages; i++)
    if (!strcmp(p->stages[i].id, id)) return (long)i;
  return -1;
}

void plan_free(plan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nstages; i++) {
    plan_stage *s = &p->stages[i];
    free(s->variant);
    cfg_free(s->spec);
    free(s->deps);
    for (size_t j = 0; j < s->ndeps; j++) free(s->dep_roles[j]);
    free(s->dep_roles);
    free(s->points);
  }
  free(p->stages);
  if (p->point_stages)
    for (size_t i = 0; i < p->npoints; i++) free(p->point_stages[i]);
  free(p->point_stages);
  free(p->point_nstages);
  sweep_points_free(p->points, p->npoints);
  free(p->name);
  free(p->config_yaml);
  free(p);
}

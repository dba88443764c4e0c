/* data_stage: the study's data stage. It renders the phantom set into its artifacts/ folder,
 * or takes the manifest of a prepared dataset (`harness prepare picai`) with absolute image
 * paths (the images stay where they are), assigns the seeded stratified splits, and records
 * the counts per split and label as metrics. Unseeded: every point shares it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/data_schema.h"
#include "experiments/data_stage.h"
#include "harness/data/phantom.h"
#include "harness/util/fsutil.h"
#include "harness/util/numfmt.h"
#include "harness/util/strbuf.h"

static void on_progress(void *user, size_t done, size_t total) {
  (void)total;
  stage_progress_update(user, (uint64_t)done);
}

static int on_cancelled(void *user) { return stage_cancelled(user); }

static int read_phantom_params(const cfg_node *c, phantom_params *p, herr *e) {
  phantom_params_default(p);
  for (const phantom_param_desc *d = phantom_param_table; d->name; d++) {
    char key[128], text[32];
    double v;
    snprintf(key, sizeof key, "data.phantom.%s", d->name);
    if (cfg_double_at(c, key, &v, e)) return -1;
    if (phantom_param_set(p, d->name, fmt_double(v, text, sizeof text), e)) return herr_prefix(e, "%s: ", key);
  }
  if (phantom_params_check(p, e)) return herr_prefix(e, "data.phantom: ");
  return 0;
}

static int make_phantom(stage_ctx *ctx, const cfg_node *c, const char *art, ds_manifest *m, herr *e) {
  phantom_params p;
  long long n, seed;
  if (read_phantom_params(c, &p, e) || cfg_int_at(c, "data.phantom.n", &n, e) ||
      cfg_int_at(c, "data.phantom.seed", &seed, e))
    return -1;
  stage_progress_begin(ctx, "rendering phantom cases", (uint64_t)n);
  phantom_hooks hooks = {.progress = on_progress, .cancelled = on_cancelled, .user = ctx};
  int rc = phantom_write_dataset(art, &p, (size_t)n, (uint64_t)seed, &hooks, e);
  stage_progress_end(ctx);
  if (rc) return -1;
  return ds_manifest_read(art, m, e);
}

/* The prepared manifest with absolute paths, re-homed into the artifacts folder. */
static int take_prepared(stage_ctx *ctx, const cfg_node *c, const char *art, ds_manifest *m, herr *e) {
  const char *dir;
  if (cfg_str_at(c, "data.dir", &dir, e)) return -1;
  if (!dir[0]) return herr_set(e, "data.dir: data.source is 'prepared' but no dataset directory is given");
  char *abs = realpath(dir, NULL);
  if (!abs) return herr_errno(e, "data.dir: cannot open the dataset directory '%s'", dir);
  char *kind = NULL, *params = NULL;
  int rc = ds_read_info(abs, &kind, &params, e);
  if (!rc) rc = ds_manifest_read(abs, m, e);
  if (rc) herr_prefix(e, "data.dir: ");
  for (size_t i = 0; !rc && i < m->n; i++) {
    ds_case *k = &m->cases[i];
    char **paths[2] = {&k->image, &k->mask};
    for (int j = 0; j < 2; j++) {
      if (!(*paths[j])[0]) continue;
      char *full = ds_case_path(m, *paths[j]);
      free(*paths[j]);
      *paths[j] = full;
    }
    if (k->ok && !fs_exists(k->image))
      rc = herr_set(e, "data.dir: %s/manifest.csv: case '%s': image %s does not exist", abs, k->case_id, k->image);
  }
  if (!rc) {
    free(m->dir);
    m->dir = strdup(art);
    if (!m->dir) abort();
    strbuf sb = STRBUF_INIT;
    sb_append(&sb, "{\"prepared_from\": ");
    sb_append_quoted(&sb, abs);
    sb_appendf(&sb, ", \"params\": %s}", params);
    char *info = sb_take(&sb);
    rc = ds_write_info(art, kind, info, e);
    free(info);
    stage_log(ctx, "%zu cases from %s (%s)", m->n, abs, kind);
  }
  free(kind);
  free(params);
  free(abs);
  return rc;
}

static int put_counts(store_writer *w, const ds_manifest *m, herr *e) {
  size_t ok = 0, labelled[2] = {0, 0};
  for (size_t i = 0; i < m->n; i++) {
    ok += m->cases[i].ok;
    if (m->cases[i].ok && m->cases[i].label >= 0) labelled[m->cases[i].label]++;
  }
  int rc = store_put_metric(w, "n_cases", (double)m->n, e);
  if (!rc) rc = store_put_metric(w, "n_ok", (double)ok, e);
  if (!rc) rc = store_put_metric(w, "n_skipped", (double)(m->n - ok), e);
  if (!rc) rc = store_put_metric(w, "pool/pos", (double)labelled[1], e);
  if (!rc) rc = store_put_metric(w, "pool/neg", (double)labelled[0], e);
  static const char *const splits[] = {"train", "val", "test", "embed"};
  for (size_t s = 0; !rc && s < 4; s++) {
    for (int label = 0; !rc && label < 2; label++) {
      size_t *idx, n;
      char name[32];
      rc = ds_select(m, splits[s], label, &idx, &n, e);
      free(idx);
      snprintf(name, sizeof name, "%s/%s", splits[s], label ? "pos" : "neg");
      if (!rc) rc = store_put_metric(w, name, (double)n, e);
    }
  }
  return rc;
}

static int data_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  const char *source;
  long long split_seed, v[4];
  bool overlap;
  if (cfg_str_at(c, "data.source", &source, e) || cfg_int_at(c, "data.split_seed", &split_seed, e) ||
      cfg_int_at(c, "data.split.embed_per_class", &v[0], e) || cfg_int_at(c, "data.split.train", &v[1], e) ||
      cfg_int_at(c, "data.split.val", &v[2], e) || cfg_int_at(c, "data.split.test", &v[3], e) ||
      cfg_bool_at(c, "data.split.embed_overlap_train", &overlap, e))
    return -1;
  for (int i = 0; i < 4; i++)
    if (v[i] > INT_MAX) return herr_set(e, "data.split: count %lld is too large", v[i]);
  ds_split_config sc = {.embed_per_class = (int)v[0], .train = (int)v[1], .val = (int)v[2], .test = (int)v[3],
                        .embed_overlap_train = overlap};
  const char *art = stage_artifact_dir(ctx);
  ds_manifest m = {0};
  int rc = !strcmp(source, "phantom") ? make_phantom(ctx, c, art, &m, e) : take_prepared(ctx, c, art, &m, e);
  if (!rc && ds_assign_splits(&m, &sc, (uint64_t)split_seed, e)) rc = herr_prefix(e, "data.split: ");
  if (!rc) rc = ds_manifest_write(&m, e);
  store_writer *w = stage_store(ctx);
  if (!rc) rc = put_counts(w, &m, e);
  if (!rc) rc = store_put_metric_str(w, "source", source, e);
  if (!rc) rc = store_put_artifact(w, "dataset", "artifacts", e);
  if (!rc) rc = store_put_artifact(w, "manifest", "artifacts/manifest.csv", e);
  ds_manifest_free(&m);
  return rc;
}

int data_stage_dataset(stage_ctx *ctx, const char *role, ds_manifest *out, herr *e) {
  memset(out, 0, sizeof *out);
  const char *dir = stage_dep_dir(ctx, role, e);
  if (!dir) return -1;
  char *art = fs_join(dir, "artifacts");
  int rc = ds_manifest_read(art, out, e);
  free(art);
  return rc;
}

static const char *const data_keys[] = {"data", NULL};

/* A prepared dataset must be there before anything runs. */
static int data_preflight(const cfg_node *config, const char *variant, herr *e) {
  (void)variant;
  const char *source, *dir;
  if (cfg_str_at(config, "data.source", &source, e) || cfg_str_at(config, "data.dir", &dir, e)) return -1;
  if (strcmp(source, "prepared")) return 0;
  char *manifest = dir[0] ? fs_join(dir, "manifest.csv") : NULL;
  bool ok = manifest && fs_exists(manifest);
  free(manifest);
  if (!ok)
    return herr_set(e, "data.dir: no prepared dataset at '%s' (expected manifest.csv and dataset.json; make one "
                       "with `harness prepare picai --images DIR --labels DIR --out DIR` and set data.dir or "
                       "PICAI_DIR)",
                    dir);
  return 0;
}

const stage_kind data_stage = {
    .name = "data",
    .version = 1,
    .summary = "PI-CAI slices or the phantom set, with labels and seeded stratified splits",
    .section = "data",
    .schema = &data_section_schema,
    .keys = data_keys,
    .seeded = false,
    .preflight = data_preflight,
    .run = data_run,
};

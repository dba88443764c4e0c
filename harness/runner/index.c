/* index: HDF5 arrays of variable-length strings, one per column, readable with h5py as
 * f['stages/id'].asstr()[:]. */
#include "harness/runner/index.h"

#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/runner/runner.h"
#include "harness/runner/stage_dir.h"
#include "harness/store/store_h5util.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static int write_strings(hid_t loc, const char *name, const char *const *v, size_t n) {
  hsize_t dims[1] = {n};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t type = sh5_str_type();
  hid_t ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = ds < 0 || (n && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) ? -1 : 0;
  if (ds >= 0) H5Dclose(ds);
  H5Tclose(type);
  H5Sclose(space);
  return rc;
}

static int write_file(const plan *p, const char *results_dir, const char *path) {
  hid_t fapl = sh5_strong_fapl();
  hid_t f = fapl < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (fapl >= 0) H5Pclose(fapl);
  if (f < 0) return -1;
  int rc = 0;
  char ts[32];
  rc |= sh5_put_str_attr(f, "format", INDEX_FORMAT);
  rc |= sh5_put_i32_attr(f, "format_version", INDEX_FORMAT_VERSION);
  rc |= sh5_put_str_attr(f, "name", p->name);
  rc |= sh5_put_str_attr(f, "updated", utc_timestamp(ts));
  const char *cfg[1] = {p->config_yaml};
  rc |= write_strings(f, "config", cfg, 1);

  hid_t g = H5Gcreate2(f, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const char **labels = calloc(p->npoints + 1, sizeof *labels);
  char **assign = calloc(p->npoints + 1, sizeof *assign);
  char **stages = calloc(p->npoints + 1, sizeof *stages);
  long long *seeds = calloc(p->npoints + 1, sizeof *seeds);
  if (!labels || !assign || !stages || !seeds) abort();
  for (size_t i = 0; i < p->npoints; i++) {
    labels[i] = p->points[i].label;
    assign[i] = cfg_canonical(p->points[i].assignments);
    seeds[i] = p->points[i].seed;
    strbuf sb = STRBUF_INIT;
    for (size_t k = 0; k < p->point_nstages[i]; k++)
      sb_appendf(&sb, "%s%s", k ? " " : "", p->stages[p->point_stages[i][k]].id);
    stages[i] = sb_take(&sb);
  }
  rc |= write_strings(g, "label", labels, p->npoints);
  rc |= write_strings(g, "assignments", (const char *const *)assign, p->npoints);
  rc |= write_strings(g, "stages", (const char *const *)stages, p->npoints);
  hsize_t dims[1] = {p->npoints};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t ds = H5Dcreate2(g, "seed", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  rc |= ds < 0 || (p->npoints && H5Dwrite(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, seeds) < 0);
  if (ds >= 0) H5Dclose(ds);
  H5Sclose(space);
  for (size_t i = 0; i < p->npoints; i++) {
    free(assign[i]);
    free(stages[i]);
  }
  free(labels);
  free(assign);
  free(stages);
  free(seeds);
  H5Gclose(g);

  g = H5Gcreate2(f, "stages", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  stage_state *st = runner_states(p, results_dir);
  const char **ids = calloc(p->nstages + 1, sizeof *ids), **kinds = calloc(p->nstages + 1, sizeof *kinds);
  const char **variants = calloc(p->nstages + 1, sizeof *variants), **states = calloc(p->nstages + 1, sizeof *states);
  char **errors = calloc(p->nstages + 1, sizeof *errors), **deps = calloc(p->nstages + 1, sizeof *deps);
  if (!ids || !kinds || !variants || !states || !errors || !deps) abort();
  for (size_t i = 0; i < p->nstages; i++) {
    ids[i] = p->stages[i].id;
    kinds[i] = p->stages[i].kind->name;
    variants[i] = p->stages[i].variant;
    states[i] = stage_state_name(st[i]);
    errors[i] = st[i] == STAGE_FAILED ? stage_dir_failure(results_dir, p->stages[i].id) : NULL;
    if (!errors[i]) errors[i] = strdup("");
    strbuf sb = STRBUF_INIT;
    for (size_t d = 0; d < p->stages[i].ndeps; d++)
      sb_appendf(&sb, "%s%s=%s", d ? " " : "", p->stages[i].dep_roles[d], p->stages[p->stages[i].deps[d]].id);
    deps[i] = sb_take(&sb);
  }
  rc |= write_strings(g, "id", ids, p->nstages);
  rc |= write_strings(g, "kind", kinds, p->nstages);
  rc |= write_strings(g, "variant", variants, p->nstages);
  rc |= write_strings(g, "state", states, p->nstages);
  rc |= write_strings(g, "error", (const char *const *)errors, p->nstages);
  rc |= write_strings(g, "deps", (const char *const *)deps, p->nstages);
  for (size_t i = 0; i < p->nstages; i++) {
    free(errors[i]);
    free(deps[i]);
  }
  free(ids);
  free(kinds);
  free(variants);
  free(states);
  free(errors);
  free(deps);
  free(st);
  H5Gclose(g);
  if (H5Fclose(f) < 0) rc = -1;
  return rc ? -1 : 0;
}

/* Removes index.h5.tmp.* files of writers that were killed (called under the index lock). */
static void remove_stale_temporaries(const char *results_dir) {
  DIR *d = opendir(results_dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, "index.h5.tmp.", 13)) {
      char *p = fs_join(results_dir, de->d_name);
      unlink(p);
      free(p);
    }
  closedir(d);
}

int index_write(const plan *p, const char *results_dir, herr *e) {
  sh5_quiet();
  char *lock_path = fs_join(results_dir, ".index.lock");
  int fd;
  int got = fs_lock(lock_path, true, NULL, &fd, e);
  free(lock_path);
  if (got != 1) return got < 0 ? -1 : herr_set(e, "cannot lock the sweep index in %s", results_dir);
  remove_stale_temporaries(results_dir);
  char *path = fs_join(results_dir, "index.h5");
  strbuf tmp = STRBUF_INIT;
  sb_appendf(&tmp, "%s.tmp.%ld", path, (long)getpid());
  int rc = write_file(p, results_dir, sb_str(&tmp));
  if (rc != 0)
    sh5_fail(e, "cannot write the sweep index %s", sb_str(&tmp));
  else
    rc = fs_fsync_path(sb_str(&tmp), e); /* the rename must not publish unwritten data */
  if (rc == 0) rc = fs_rename_durable(sb_str(&tmp), path, e);
  if (rc != 0) unlink(sb_str(&tmp));
  sb_free(&tmp);
  free(path);
  close(fd);
  return rc;
}

/* A 1-D string dataset of exactly `expect` entries (any count when expect is SIZE_MAX, then
 * returned through *n); NULL when missing, of another shape or unreadable. */
static char **read_strings(hid_t loc, const char *name, size_t expect, size_t *n) {
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  hid_t space = H5Dget_space(ds);
  hid_t type = sh5_str_type();
  hssize_t count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
  char **out = NULL;
  bool shape_ok = count >= 0 && H5Sget_simple_extent_ndims(space) == 1 && (size_t)count < ((size_t)1 << 32) &&
                  (expect == SIZE_MAX || (size_t)count == expect);
  char **raw = shape_ok ? calloc((size_t)count + 1, sizeof *raw) : NULL;
  if (raw && (count == 0 || H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0)) {
    out = calloc((size_t)count + 1, sizeof *out);
    if (!out) abort();
    for (hssize_t i = 0; i < count; i++) out[i] = strdup(raw[i] ? raw[i] : "");
    if (count) H5Dvlen_reclaim(type, space, H5P_DEFAULT, raw);
    if (n) *n = (size_t)count;
  }
  free(raw);
  H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Dclose(ds);
  return out;
}

static void free_strings(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void index_free(index_data *d) {
  if (!d) return;
  free(d->name);
  free(d->config_yaml);
  free_strings(d->point_labels, d->npoints);
  free_strings(d->point_stages, d->npoints);
  free_strings(d->point_assignments, d->npoints);
  free(d->point_seeds);
  free_strings(d->stage_ids, d->nstages);
  free_strings(d->stage_kinds, d->nstages);
  free_strings(d->stage_variants, d->nstages);
  free_strings(d->stage_deps, d->nstages);
  free(d);
}

index_data *index_read(const char *results_dir, herr *e) {
  sh5_quiet();
  char *path = fs_join(results_dir, "index.h5");
  if (!fs_exists(path)) {
    herr_set(e, "%s: no sweep index here (is %s a results directory written by `harness run`?)", path, results_dir);
    free(path);
    return NULL;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    herr_set(e, "%s: not a readable HDF5 file", path);
    free(path);
    return NULL;
  }
  bool missing = false;
  char *format = sh5_get_str_attr(f, "format", &missing);
  long long version = 0;
  bool is_index = format && !strcmp(format, INDEX_FORMAT) && sh5_get_int_attr(f, "format_version", &version) == 0;
  free(format);
  if (!is_index || version > INDEX_FORMAT_VERSION) {
    herr_set(e, "%s: %s", path,
             !is_index ? "not a harness sweep index (no format=\"" INDEX_FORMAT "\")"
                 : "written by a newer harness (index format version too new)");
    H5Fclose(f);
    free(path);
    return NULL;
  }
  index_data *d = calloc(1, sizeof *d);
  if (!d) abort();
  size_t ncfg = 0;
  char **cfg = read_strings(f, "config", 1, &ncfg);
  d->config_yaml = cfg ? strdup(cfg[0]) : NULL;
  free_strings(cfg, ncfg);
  /* The label datasets fix the counts; every other column must match them exactly. */
  char **labels = read_strings(f, "points/label", SIZE_MAX, &d->npoints);
  char **ids = labels ? read_strings(f, "stages/id", SIZE_MAX, &d->nstages) : NULL;
  d->point_labels = labels;
  d->stage_ids = ids;
  bool ok = labels && ids;
  if (ok) {
    d->point_stages = read_strings(f, "points/stages", d->npoints, NULL);
    d->point_assignments = read_strings(f, "points/assignments", d->npoints, NULL);
    d->stage_kinds = read_strings(f, "stages/kind", d->nstages, NULL);
    d->stage_variants = read_strings(f, "stages/variant", d->nstages, NULL);
    d->stage_deps = read_strings(f, "stages/deps", d->nstages, NULL);
    d->point_seeds = calloc(d->npoints + 1, sizeof *d->point_seeds);
    if (!d->point_seeds) abort();
    hid_t ds = H5Dopen2(f, "points/seed", H5P_DEFAULT);
    hid_t space = ds >= 0 ? H5Dget_space(ds) : -1;
    bool seeds_ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
                    H5Sget_simple_extent_npoints(space) == (hssize_t)d->npoints &&
                    (d->npoints == 0 ||
                     H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, d->point_seeds) >= 0);
    if (space >= 0) H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    d->name = sh5_get_str_attr(f, "name", &missing);
    ok = seeds_ok && d->config_yaml && d->point_stages && d->point_assignments && d->stage_kinds && d->stage_variants && d->stage_deps &&
         d->name;
  }
  H5Fclose(f);
  if (!ok) {
    herr_set(e, "%s: not a complete sweep index (missing or inconsistent datasets)", path);
    index_free(d);
    d = NULL;
  }
  free(path);
  return d;
}

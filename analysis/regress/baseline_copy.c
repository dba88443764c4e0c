/* `harness baseline`: a slim copy of a results directory that `harness regress` (and any
 * reader of results directories) accepts — the sweep index and, of every complete evaluate and
 * classify stage, its stage.h5, spec.yaml and text tables — without checkpoints or images, so
 * it can live in the repository as the nightly job's reference. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/regress/regress.h"
#include "harness/runner/index.h"
#include "harness/store/store.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static int copy_file(const char *from, const char *to, regress_copy_stats *st, herr *e) {
  FILE *in = fopen(from, "rb");
  if (!in) return herr_errno(e, "%s", from);
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return herr_errno(e, "%s", to);
  }
  char buf[1 << 16];
  size_t n;
  int rc = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (fwrite(buf, 1, n, out) != n) {
      rc = herr_errno(e, "writing %s", to);
      break;
    }
    st->bytes += n;
  }
  if (!rc && ferror(in)) rc = herr_errno(e, "reading %s", from);
  fclose(in);
  if (fclose(out) && !rc) rc = herr_errno(e, "writing %s", to);
  if (!rc) st->files++;
  return rc;
}

static int copy_named(const char *from_dir, const char *to_dir, const char *name, regress_copy_stats *st, herr *e) {
  char *a = fs_join(from_dir, name), *b = fs_join(to_dir, name);
  int rc = copy_file(a, b, st, e);
  free(a);
  free(b);
  return rc;
}

/* The small text outputs a stage records (test_predictions.csv; summary.md, runs.csv, ...). */
static bool is_text_table(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcmp(dot, ".csv") || !strcmp(dot, ".md"));
}

static int copy_tables(const char *src, const char *dst, regress_copy_stats *st, herr *e) {
  char *from = fs_join(src, "artifacts"), *to = fs_join(dst, "artifacts");
  int rc = 0;
  DIR *d = opendir(from);
  if (d) {
    struct dirent *de;
    bool made = false;
    while (!rc && (de = readdir(d))) {
      char *p = fs_join(from, de->d_name);
      struct stat sbuf;
      bool want = is_text_table(de->d_name) && stat(p, &sbuf) == 0 && S_ISREG(sbuf.st_mode);
      free(p);
      if (!want) continue;
      if (!made && fs_mkdir_p(to, e)) rc = -1;
      made = true;
      if (!rc) rc = copy_named(from, to, de->d_name, st, e);
    }
    closedir(d);
  }
  free(from);
  free(to);
  return rc;
}

static bool stage_complete(const char *stage_dir) {
  char *h5 = fs_join(stage_dir, "stage.h5");
  store_reader *r = fs_exists(h5) ? store_open(h5, NULL) : NULL;
  free(h5);
  if (r) store_reader_close(r);
  return r != NULL;
}

static int copy_stage(const char *results, const char *tmp, const char *id, regress_copy_stats *st, herr *e) {
  char *srcs = fs_join(results, "stages"), *src = fs_join(srcs, id), *dsts = fs_join(tmp, "stages"),
       *dst = fs_join(dsts, id), *spec = fs_join(src, "spec.yaml");
  int rc = fs_mkdir_p(dst, e);
  if (!rc) rc = copy_named(src, dst, "stage.h5", st, e);
  if (!rc && fs_exists(spec)) rc = copy_named(src, dst, "spec.yaml", st, e);
  if (!rc) rc = copy_tables(src, dst, st, e);
  free(srcs);
  free(src);
  free(dsts);
  free(dst);
  free(spec);
  return rc;
}

/* The out folder must not be, or hold, the results it copies: --force would delete them. */
static int check_overlap(const char *results, const char *out, herr *e) {
  char rr[PATH_MAX], ro[PATH_MAX];
  if (!realpath(results, rr)) return herr_errno(e, "%s", results);
  if (!realpath(out, ro)) return 0; /* out does not exist yet */
  size_t n = strlen(ro);
  if (!strncmp(rr, ro, n) && (rr[n] == '/' || !rr[n]))
    return herr_set(e, "%s: is (or contains) the results directory %s being copied", out, results);
  return 0;
}

static int publish(const char *tmp, const char *out, bool force, herr *e) {
  if (fs_fsync_tree(tmp, e)) return -1;
  if (!fs_exists(out)) return fs_rename_durable(tmp, out, e);
  if (!force) return herr_set(e, "%s: already exists (--force replaces it)", out);
  strbuf old = STRBUF_INIT;
  sb_appendf(&old, "%s.old-%ld", out, (long)getpid());
  int rc = fs_rename_durable(out, sb_str(&old), e);
  if (!rc) rc = fs_rename_durable(tmp, out, e);
  if (!rc) rc = fs_remove_tree(sb_str(&old), e);
  else fs_rename_durable(sb_str(&old), out, NULL); /* put the previous copy back */
  sb_free(&old);
  return rc;
}

int regress_baseline_copy(const char *results_dir, const char *out_dir, bool force, regress_copy_stats *st,
                          herr *e) {
  *st = (regress_copy_stats){0};
  index_data *ix = index_read(results_dir, e);
  if (!ix) return -1;
  int rc = check_overlap(results_dir, out_dir, e);
  if (!rc && fs_exists(out_dir) && !force) rc = herr_set(e, "%s: already exists (--force replaces it)", out_dir);
  strbuf tmp = STRBUF_INIT;
  sb_appendf(&tmp, "%s.tmp-%ld", out_dir, (long)getpid());
  if (!rc) rc = fs_remove_tree(sb_str(&tmp), e);
  if (!rc) rc = fs_mkdir_p(sb_str(&tmp), e);
  if (!rc) rc = copy_named(results_dir, sb_str(&tmp), "index.h5", st, e);
  char *stages = fs_join(results_dir, "stages");
  for (size_t i = 0; !rc && i < ix->nstages; i++) {
    bool eval = !strcmp(ix->stage_kinds[i], "evaluate"), cls = !strcmp(ix->stage_kinds[i], "classify");
    if (!eval && !cls) continue;
    char *dir = fs_join(stages, ix->stage_ids[i]);
    if (stage_complete(dir)) {
      rc = copy_stage(results_dir, sb_str(&tmp), ix->stage_ids[i], st, e);
      if (eval) st->evaluate_stages++;
      else st->classify_stages++;
    }
    free(dir);
  }
  free(stages);
  if (!rc && st->evaluate_stages == 0)
    rc = herr_set(e, "%s: no complete evaluate stage: nothing a regression check could compare against", results_dir);
  if (!rc) rc = publish(sb_str(&tmp), out_dir, force, e);
  if (rc && fs_exists(sb_str(&tmp))) fs_remove_tree(sb_str(&tmp), NULL);
  sb_free(&tmp);
  index_free(ix);
  return rc;
}

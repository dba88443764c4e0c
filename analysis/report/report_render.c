/* report_render: writes the whole report into OUT.tmp.<pid> beside OUT and renames it into
 * place only when every file is written, so a killed report never looks complete. Only a
 * folder that holds the report marker (or an empty one) is ever replaced. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/report/report.h"
#include "analysis/report/report_doc.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

const char *rp_ctx_write_csv(rp_ctx *c, const rp_table *t, herr *e) {
  static char rel[300];
  snprintf(rel, sizeof rel, "tables/%s.csv", t->name);
  char *path = fs_join(c->dir, rel);
  int rc = rp_table_write_csv(t, path, e);
  free(path);
  return rc ? NULL : rel;
}

static bool dir_empty(const char *path) {
  DIR *d = opendir(path);
  if (!d) return false;
  struct dirent *de;
  bool empty = true;
  while (empty && (de = readdir(d))) empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
  closedir(d);
  return empty;
}

/* Folders left by reports that were killed: OUT.tmp.<pid> / OUT.old.<pid> of dead processes. */
static void remove_stale(const char *out) {
  char *parent = fs_dirname(out);
  const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
  DIR *d = opendir(parent);
  struct dirent *de;
  size_t bl = strlen(base);
  while (d && (de = readdir(d))) {
    const char *n = de->d_name;
    if (strncmp(n, base, bl) || (strncmp(n + bl, ".tmp.", 5) && strncmp(n + bl, ".old.", 5))) continue;
    char *end;
    long pid = strtol(n + bl + 5, &end, 10);
    if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    char *path = fs_join(parent, n);
    fs_remove_tree(path, NULL);
    free(path);
  }
  if (d) closedir(d);
  free(parent);
}

static int make_dirs(const char *tmp, herr *e) {
  const char *subs[] = {"tables", "figures", "images"};
  if (fs_mkdir_p(tmp, e)) return -1;
  for (size_t i = 0; i < 3; i++) {
    char *p = fs_join(tmp, subs[i]);
    int rc = fs_mkdir_p(p, e);
    free(p);
    if (rc) return -1;
  }
  return 0;
}

/* Every SVG the document shows must exist and hold something. */
static int check_figures(const rp_ctx *c, herr *e) {
  for (size_t i = 0; i < c->doc.n; i++) {
    if (c->doc.b[i].kind != RD_FIGURE) continue;
    char *path = fs_join(c->dir, c->doc.b[i].path);
    struct stat sb;
    int rc = stat(path, &sb) || sb.st_size == 0 ? herr_set(e, "gnuplot did not write %s", path) : 0;
    free(path);
    if (rc) return -1;
  }
  return 0;
}

static int build(rp_ctx *c, const char *gnuplot, herr *e) {
  const report_opts *o = c->opts;
  char ts[32];
  if (asprintf(&c->doc.title, "Report: %s", c->res->name) < 0) abort();
  rd_para(&c->doc, "Written by harness report at %s from %s. Figures are SVG drawn by gnuplot from the .gp/.dat "
                   "files beside them; every table is also a CSV in tables/.",
          utc_timestamp(ts), c->res->dir);
  int rc = rp_section_overview(c, e);
  if (!rc) rc = rp_section_results(c, e);
  if (!rc && o->figures) rc = rp_section_sweeps(c, e);
  if (!rc && o->figures) rc = rp_section_curves(c, e);
  if (!rc && !o->figures) rd_note(&c->doc, "Figures were not drawn (--no-figures).");
  if (!rc) rc = rp_section_grids(c, e);
  if (!rc) rc = rp_section_provenance(c, e);
  if (!rc && o->figures) {
    char *figdir = fs_join(c->dir, "figures");
    rc = rp_gnuplot_run(gnuplot, figdir, c->scripts, c->nscripts, e);
    free(figdir);
    if (!rc) rc = check_figures(c, e);
  }
  if (!rc && o->html) {
    char *p = fs_join(c->dir, "index.html");
    rc = rp_write_html(&c->doc, p, e);
    free(p);
  }
  if (!rc && o->markdown) {
    char *p = fs_join(c->dir, "report.md");
    rc = rp_write_md(&c->doc, p, e);
    free(p);
  }
  if (!rc) {
    char *p = fs_join(c->dir, REPORT_MARKER);
    const char text[] = "written by `harness report`; this folder is replaced by the next report\n";
    rc = fs_write_atomic(p, text, sizeof text - 1, e);
    free(p);
  }
  return rc;
}

/* Moves tmp to out: out (a former report) is first moved aside, then removed. */
static int publish(const char *tmp, const char *out, herr *e) {
  if (fs_fsync_tree(tmp, e)) return -1;
  if (!fs_exists(out)) return fs_rename_durable(tmp, out, e);
  char *old = NULL;
  if (asprintf(&old, "%s.old.%ld", out, (long)getpid()) < 0) abort();
  int rc = fs_rename_durable(out, old, e);
  if (!rc && fs_rename_durable(tmp, out, e)) {
    rc = -1;
    rename(old, out); /* put the previous report back */
  }
  if (!rc) fs_remove_tree(old, NULL);
  free(old);
  return rc;
}

int report_render(const report_opts *o, report_summary *sum, herr *e) {
  report_summary local = {0};
  if (!sum) sum = &local;
  memset(sum, 0, sizeof *sum);
  if (!o->html && !o->markdown) return herr_set(e, "report: nothing to write (neither HTML nor Markdown asked for)");
  char *gnuplot = NULL;
  if (o->figures && !(gnuplot = rp_gnuplot_find(o->gnuplot, e))) return -1;
  rp_results *res = rp_collect(o->results_dir, e);
  if (!res) {
    free(gnuplot);
    return -1;
  }
  char *out = o->out_dir ? strdup(o->out_dir) : fs_join(o->results_dir, "report");
  if (!out) abort();
  size_t ol = strlen(out);
  while (ol > 1 && out[ol - 1] == '/') out[--ol] = 0;
  int rc = 0;
  if (fs_exists(out)) {
    char *marker = fs_join(out, REPORT_MARKER);
    if (!fs_is_dir(out))
      rc = herr_set(e, "%s: exists and is not a folder; choose another --out", out);
    else if (!fs_exists(marker) && !dir_empty(out))
      rc = herr_set(e, "%s: exists and was not written by `harness report` (no %s in it); it is left alone — "
                       "choose another --out or remove it",
                    out, REPORT_MARKER);
    free(marker);
  }
  char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp.%ld", out, (long)getpid()) < 0) abort();
  if (!rc) {
    char *parent = fs_dirname(out);
    rc = fs_mkdir_p(parent, e);
    free(parent);
  }
  if (!rc) {
    remove_stale(out);
    fs_remove_tree(tmp, NULL);
    rc = make_dirs(tmp, e);
  }
  rp_ctx c = {.res = res, .opts = o, .dir = tmp, .sum = sum};
  if (!rc) rc = build(&c, gnuplot, e);
  if (!rc) rc = publish(tmp, out, e);
  if (rc) fs_remove_tree(tmp, NULL);
  for (size_t i = 0; i < c.nscripts; i++) free(c.scripts[i]);
  free(c.scripts);
  rd_free(&c.doc);
  rp_results_free(res);
  free(tmp), free(out), free(gnuplot);
  return rc;
}

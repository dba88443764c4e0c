/* A results directory as one side of a regression check: its sweep index and the lookups of
 * points and their evaluate stages. */
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/side.h"
#include "harness/util/fsutil.h"

int side_open(const char *dir, const char *what, regress_side *s, herr *e) {
  *s = (regress_side){.what = what, .dir = dir};
  if (!fs_is_dir(dir))
    return herr_set(e, "%s %s: %s", what, dir, fs_exists(dir) ? "not a directory" : "no such directory");
  s->ix = index_read(dir, e);
  if (!s->ix) return herr_prefix(e, "%s: ", what);
  return 0;
}

void side_close(regress_side *s) {
  index_free(s->ix);
  s->ix = NULL;
}

long side_find_point(const regress_side *s, const char *label) {
  for (size_t i = 0; i < s->ix->npoints; i++)
    if (!strcmp(s->ix->point_labels[i], label)) return (long)i;
  return -1;
}

static long stage_index(const regress_side *s, const char *id, size_t len) {
  for (size_t i = 0; i < s->ix->nstages; i++)
    if (strlen(s->ix->stage_ids[i]) == len && !strncmp(s->ix->stage_ids[i], id, len)) return (long)i;
  return -1;
}

const char *side_point_evaluate(const regress_side *s, size_t point) {
  const char *p = s->ix->point_stages[point];
  while (*p) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (!len) break;
    long k = stage_index(s, p, len);
    if (k >= 0 && !strcmp(s->ix->stage_kinds[k], "evaluate")) return s->ix->stage_ids[k];
    p += len;
  }
  return NULL;
}

char *side_stage_path(const regress_side *s, const char *id, const char *name) {
  char *stages = fs_join(s->dir, "stages"), *dir = fs_join(stages, id), *path = fs_join(dir, name);
  free(stages);
  free(dir);
  return path;
}

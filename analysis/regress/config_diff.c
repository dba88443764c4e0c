/* The keys on which two sweep configs differ, flattened to dotted paths ("classify.lr"), so a
 * regression report can say what changed between the baseline and the current run. Sequences
 * are compared whole; values print in canonical form (numbers by value). */
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/side.h"
#include "harness/config/cfg.h"
#include "harness/util/strbuf.h"

typedef struct flat {
  size_t n, cap;
  char **keys, **vals;
} flat;

static void flat_add(flat *f, const char *key, char *val) {
  if (f->n == f->cap) {
    f->cap = f->cap ? 2 * f->cap : 32;
    f->keys = realloc(f->keys, f->cap * sizeof *f->keys);
    f->vals = realloc(f->vals, f->cap * sizeof *f->vals);
    if (!f->keys || !f->vals) abort();
  }
  f->keys[f->n] = strdup(key);
  if (!f->keys[f->n]) abort();
  f->vals[f->n++] = val;
}

static void flatten(const cfg_node *n, const char *prefix, flat *f) {
  if (n->kind != CFG_MAP) {
    flat_add(f, prefix, cfg_canonical(n));
    return;
  }
  for (size_t i = 0; i < n->len; i++) {
    /* the run's own name and where it was written say nothing about what it computed */
    if (!*prefix && (!strcmp(n->keys[i], "name") || !strcmp(n->keys[i], "results_dir"))) continue;
    strbuf key = STRBUF_INIT;
    sb_appendf(&key, "%s%s%s", prefix, *prefix ? "." : "", n->keys[i]);
    flatten(n->items[i], sb_str(&key), f);
    sb_free(&key);
  }
}

static void flat_free(flat *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->keys[i]);
    free(f->vals[i]);
  }
  free(f->keys);
  free(f->vals);
}

static long flat_find(const flat *f, const char *key) {
  for (size_t i = 0; i < f->n; i++)
    if (!strcmp(f->keys[i], key)) return (long)i;
  return -1;
}

static void push(char ***out, size_t *n, char *line) {
  char **grown = realloc(*out, (*n + 1) * sizeof *grown);
  if (!grown) abort();
  *out = grown;
  (*out)[(*n)++] = line;
}

int config_diff(const char *yaml_b, const char *yaml_c, char ***out, size_t *n, herr *e) {
  cfg_node *b = cfg_parse_string(yaml_b, "baseline index.h5 /config", e);
  if (!b) return -1;
  cfg_node *c = cfg_parse_string(yaml_c, "current index.h5 /config", e);
  if (!c) {
    cfg_free(b);
    return -1;
  }
  flat fb = {0}, fc = {0};
  flatten(b, "", &fb);
  flatten(c, "", &fc);
  for (size_t i = 0; i < fb.n; i++) {
    long j = flat_find(&fc, fb.keys[i]);
    strbuf sb = STRBUF_INIT;
    if (j < 0)
      sb_appendf(&sb, "%s: %s in the baseline only", fb.keys[i], fb.vals[i]);
    else if (strcmp(fb.vals[i], fc.vals[j]))
      sb_appendf(&sb, "%s: %s -> %s", fb.keys[i], fb.vals[i], fc.vals[j]);
    if (sb.len) push(out, n, sb_take(&sb));
    sb_free(&sb);
  }
  for (size_t j = 0; j < fc.n; j++)
    if (flat_find(&fb, fc.keys[j]) < 0) {
      strbuf sb = STRBUF_INIT;
      sb_appendf(&sb, "%s: %s in the current results only", fc.keys[j], fc.vals[j]);
      push(out, n, sb_take(&sb));
    }
  flat_free(&fb);
  flat_free(&fc);
  cfg_free(b);
  cfg_free(c);
  return 0;
}

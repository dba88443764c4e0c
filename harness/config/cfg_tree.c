/* Config tree: node construction and ownership, dotted-path lookup and cfg_set, locations
 * and the interned file names they point at. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/config/cfg_internal.h"
#include "harness/util/strbuf.h"

static void oom(void) {
  fprintf(stderr, "harness: out of memory\n");
  abort();
}

void *cfg_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return p;
}

void *cfg_xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q) oom();
  return q;
}

char *cfg_xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) oom();
  return d;
}

/* Interned names are never freed: locations may outlive every tree that mentions them. */
typedef struct intern_entry {
  struct intern_entry *next;
  char s[];
} intern_entry;

static intern_entry *intern_head;
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;

const char *cfg_intern(const char *s) {
  if (!s) return NULL;
  pthread_mutex_lock(&intern_lock);
  for (intern_entry *it = intern_head; it; it = it->next) {
    if (strcmp(it->s, s) == 0) {
      pthread_mutex_unlock(&intern_lock);
      return it->s;
    }
  }
  size_t n = strlen(s);
  intern_entry *it = malloc(sizeof *it + n + 1);
  if (!it) oom();
  memcpy(it->s, s, n + 1);
  it->next = intern_head;
  intern_head = it;
  pthread_mutex_unlock(&intern_lock);
  return it->s;
}

static cfg_node *node_new(cfg_kind kind, cfg_loc loc) {
  cfg_node *n = cfg_xcalloc(1, sizeof *n);
  n->kind = kind;
  n->loc = loc;
  n->loc.file = cfg_intern(loc.file);
  return n;
}

cfg_node *cfg_new_map(cfg_loc loc) { return node_new(CFG_MAP, loc); }
cfg_node *cfg_new_seq(cfg_loc loc) { return node_new(CFG_SEQ, loc); }

cfg_node *cfg_new_scalar(const char *text, bool quoted, cfg_loc loc) {
  cfg_node *n = node_new(CFG_SCALAR, loc);
  n->str = cfg_xstrdup(text ? text : "");
  n->quoted = quoted;
  return n;
}

void cfg_free(cfg_node *n) {
  if (!n) return;
  for (size_t i = 0; i < n->len; i++) {
    cfg_free(n->items[i]);
    if (n->keys) free(n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->key_locs);
  free(n->str);
  free(n);
}

static void grow(cfg_node *n) {
  if (n->len < n->cap) return;
  n->cap = n->cap ? n->cap * 2 : 4;
  n->items = cfg_xrealloc(n->items, n->cap * sizeof *n->items);
  if (n->kind == CFG_MAP) {
    n->keys = cfg_xrealloc(n->keys, n->cap * sizeof *n->keys);
    n->key_locs = cfg_xrealloc(n->key_locs, n->cap * sizeof *n->key_locs);
  }
}

cfg_node *cfg_clone(const cfg_node *n) {
  if (!n) return NULL;
  cfg_node *c = node_new(n->kind, n->loc);
  c->quoted = n->quoted;
  if (n->str) c->str = cfg_xstrdup(n->str);
  for (size_t i = 0; i < n->len; i++) {
    grow(c);
    c->items[i] = cfg_clone(n->items[i]);
    if (n->kind == CFG_MAP) {
      c->keys[i] = cfg_xstrdup(n->keys[i]);
      c->key_locs[i] = n->key_locs[i];
    }
    c->len++;
  }
  return c;
}

static long map_index(const cfg_node *map, const char *key) {
  if (!map || map->kind != CFG_MAP) return -1;
  for (size_t i = 0; i < map->len; i++)
    if (strcmp(map->keys[i], key) == 0) return (long)i;
  return -1;
}

void cfg_map_set(cfg_node *map, const char *key, cfg_loc key_loc, cfg_node *child) {
  key_loc.file = cfg_intern(key_loc.file);
  long i = map_index(map, key);
  if (i >= 0) {
    cfg_free(map->items[i]);
    map->items[i] = child;
    map->key_locs[i] = key_loc;
    return;
  }
  grow(map);
  map->keys[map->len] = cfg_xstrdup(key);
  map->key_locs[map->len] = key_loc;
  map->items[map->len] = child;
  map->len++;
}

bool cfg_map_remove(cfg_node *map, const char *key) {
  long i = map_index(map, key);
  if (i < 0) return false;
  cfg_free(map->items[i]);
  free(map->keys[i]);
  size_t rest = map->len - (size_t)i - 1;
  memmove(map->items + i, map->items + i + 1, rest * sizeof *map->items);
  memmove(map->keys + i, map->keys + i + 1, rest * sizeof *map->keys);
  memmove(map->key_locs + i, map->key_locs + i + 1, rest * sizeof *map->key_locs);
  map->len--;
  return true;
}

void cfg_seq_push(cfg_node *seq, cfg_node *child) {
  grow(seq);
  seq->items[seq->len++] = child;
}

cfg_node *cfg_map_get(const cfg_node *map, const char *key) {
  long i = map_index(map, key);
  return i < 0 ? NULL : map->items[i];
}

static bool is_index(const char *seg, size_t *out) {
  if (!*seg) return false;
  size_t v = 0;
  for (const char *p = seg; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    if (v > ((size_t)-1 - 9) / 10) return false;
    v = v * 10 + (size_t)(*p - '0');
  }
  *out = v;
  return true;
}

/* One step of a path: a key in a map, an index in a sequence. */
static cfg_node *step(const cfg_node *n, const char *seg) {
  if (n->kind == CFG_MAP) return cfg_map_get(n, seg);
  size_t idx;
  if (n->kind == CFG_SEQ && is_index(seg, &idx) && idx < n->len) return n->items[idx];
  return NULL;
}

cfg_node *cfg_get(const cfg_node *root, const char *path) {
  if (!root || !path) return NULL;
  if (!*path) return (cfg_node *)root;
  char *copy = cfg_xstrdup(path);
  const cfg_node *cur = root;
  char *save = NULL;
  /* strtok_r would skip empty segments; "a..b" must not find "a.b". */
  for (char *seg = copy; cur; seg = save) {
    char *dot = strchr(seg, '.');
    if (dot) *dot = '\0';
    save = dot ? dot + 1 : NULL;
    cur = step(cur, seg);
    if (!dot) break;
  }
  free(copy);
  return (cfg_node *)cur;
}

int cfg_set(cfg_node *root, const char *path, cfg_node *child, herr *e) {
  if (!root || !path || !*path) {
    cfg_free(child);
    return herr_set(e, "cannot set an empty key path");
  }
  if (path[0] == '.' || path[strlen(path) - 1] == '.' || strstr(path, "..")) {
    cfg_free(child);
    return cfg_errf(e, root->loc, NULL, "cannot set '%s': empty key in the path", path);
  }
  char *copy = cfg_xstrdup(path);
  cfg_node *cur = root;
  strbuf done = STRBUF_INIT; /* the part of the path walked so far, for messages */
  int rc = 0;
  char *seg = copy;
  for (;;) {
    char *dot = strchr(seg, '.');
    if (dot) *dot = '\0';
    const char *here = done.len ? sb_str(&done) : "the top level";
    if (cur->kind == CFG_SCALAR) {
      rc = cfg_errf(e, cur->loc, NULL, "cannot set '%s': '%s' is a scalar, not a map", path,
                    here);
      break;
    }
    if (cur->kind == CFG_SEQ) {
      size_t idx;
      if (!is_index(seg, &idx)) {
        rc = cfg_errf(e, cur->loc, NULL,
                      "cannot set '%s': '%s' is a list and '%s' is not an index", path, here,
                      seg);
        break;
      }
      if (idx >= cur->len) {
        rc = cfg_errf(e, cur->loc, NULL,
                      "cannot set '%s': '%s' has %zu item%s, so index %zu does not exist", path,
                      here, cur->len, cur->len == 1 ? "" : "s", idx);
        break;
      }
      if (!dot) {
        cfg_free(cur->items[idx]);
        cur->items[idx] = child;
        child = NULL;
        break;
      }
      cur = cur->items[idx];
    } else {
      if (!dot) {
        cfg_map_set(cur, seg, child->loc, child);
        child = NULL;
        break;
      }
      cfg_node *next = cfg_map_get(cur, seg);
      if (!next) {
        next = cfg_new_map(child->loc);
        cfg_map_set(cur, seg, child->loc, next);
      }
      cur = next;
    }
    if (done.len) sb_append_char(&done, '.');
    sb_append(&done, seg);
    seg = dot + 1;
  }
  cfg_free(child);
  sb_free(&done);
  free(copy);
  return rc;
}

const char *cfg_loc_str(cfg_loc loc, char *buf, size_t n) {
  const char *file = loc.file ? loc.file : "<unknown>";
  if (strcmp(file, "<command line>") == 0)
    snprintf(buf, n, "<command line> argument %u", loc.col);
  else if (loc.line == 0 && loc.col == 0)
    snprintf(buf, n, "%s", file);
  else
    snprintf(buf, n, "%s:%u:%u", file, loc.line, loc.col);
  return buf;
}

int cfg_errf(herr *e, cfg_loc loc, const char *path, const char *fmt, ...) {
  if (!e) return -1;
  char where[1024];
  cfg_loc_str(loc, where, sizeof where);
  char what[HERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (path && *path)
    return herr_set(e, "%s: %s: %s", where, path, what);
  return herr_set(e, "%s: %s", where, what);
}

char *cfg_path_join(const char *path, const char *key) {
  strbuf sb = STRBUF_INIT;
  if (path && *path) {
    sb_append(&sb, path);
    sb_append_char(&sb, '.');
  }
  sb_append(&sb, key);
  return sb_take(&sb);
}

void cfg_relocate(cfg_node *n, cfg_loc loc) {
  loc.file = cfg_intern(loc.file);
  n->loc = loc;
  for (size_t i = 0; i < n->len; i++) {
    if (n->kind == CFG_MAP) n->key_locs[i] = loc;
    cfg_relocate(n->items[i], loc);
  }
}

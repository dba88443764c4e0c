/* Turning a config file into the config a run uses: the `defaults:` list of parts merged
 * under the file's own keys, ${ENV} interpolation, and command-line overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/config/cfg_internal.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

/* ---- merge ---- */

static void replace_in_place(cfg_node *base, cfg_node *over) {
  /* `base` may be referenced by its parent, so its storage stays and its contents change. */
  cfg_node old = *base;
  *base = *over;
  for (size_t i = 0; i < old.len; i++) {
    cfg_free(old.items[i]);
    if (old.keys) free(old.keys[i]);
  }
  free(old.items);
  free(old.keys);
  free(old.key_locs);
  free(old.str);
  free(over);
}

void cfg_merge(cfg_node *base, cfg_node *over) {
  if (!over) return;
  if (base->kind != CFG_MAP || over->kind != CFG_MAP) {
    replace_in_place(base, over);
    return;
  }
  for (size_t i = 0; i < over->len; i++) {
    cfg_node *mine = cfg_map_get(base, over->keys[i]);
    if (mine && mine->kind == CFG_MAP && over->items[i]->kind == CFG_MAP)
      cfg_merge(mine, over->items[i]);
    else
      cfg_map_set(base, over->keys[i], over->key_locs[i], over->items[i]);
    over->items[i] = NULL;
  }
  cfg_free(over);
}

/* ---- interpolation ---- */

static bool valid_var_name(const char *s, size_t n) {
  if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

/* Expands text[0..n) into out; `node` is only for error locations. */
static int expand(const cfg_node *node, const char *text, size_t n, strbuf *out, herr *e) {
  size_t i = 0;
  while (i < n) {
    if (text[i] == '$' && i + 2 < n && text[i + 1] == '$' && text[i + 2] == '{') {
      sb_append(out, "${");
      i += 3;
      continue;
    }
    if (!(text[i] == '$' && i + 1 < n && text[i + 1] == '{')) {
      sb_append_char(out, text[i++]);
      continue;
    }
    /* Find the matching '}' so that a fallback may itself hold ${...}. */
    size_t start = i + 2, j = start;
    int depth = 1;
    while (j < n) {
      if (text[j] == '$' && j + 1 < n && text[j + 1] == '{') {
        depth++;
        j += 2;
        continue;
      }
      if (text[j] == '}' && --depth == 0) break;
      j++;
    }
    if (j >= n)
      return cfg_errf(e, node->loc, NULL, "unterminated '${' in '%s' (write $${ for a literal ${)",
                      node->str);
    const char *inner = text + start;
    size_t inner_len = j - start;
    const char *sep = NULL;
    for (size_t k = 0; k + 1 < inner_len; k++) {
      if (inner[k] == ':' && inner[k + 1] == '-') {
        sep = inner + k;
        break;
      }
    }
    size_t name_len = sep ? (size_t)(sep - inner) : inner_len;
    if (!valid_var_name(inner, name_len))
      return cfg_errf(e, node->loc, NULL,
                      "'${%.*s}' does not name an environment variable (expected ${NAME} or "
                      "${NAME:-fallback})",
                      (int)inner_len, inner);
    char *name = strndup(inner, name_len);
    if (!name) abort();
    const char *value = getenv(name);
    if (value && (*value || !sep)) {
      sb_append(out, value);
    } else if (sep) {
      if (expand(node, sep + 2, inner_len - name_len - 2, out, e) != 0) {
        free(name);
        return -1;
      }
    } else {
      cfg_errf(e, node->loc, NULL,
               "environment variable %s is not set (write ${%s:-fallback} for a default)", name,
               name);
      free(name);
      return -1;
    }
    free(name);
    i = j + 1;
  }
  return 0;
}

int cfg_interpolate(cfg_node *n, herr *e) {
  if (!n) return 0;
  if (n->kind != CFG_SCALAR) {
    for (size_t i = 0; i < n->len; i++)
      if (cfg_interpolate(n->items[i], e) != 0) return -1;
    return 0;
  }
  if (!strchr(n->str, '$')) return 0;
  strbuf out = STRBUF_INIT;
  if (expand(n, n->str, strlen(n->str), &out, e) != 0) {
    sb_free(&out);
    return -1;
  }
  free(n->str);
  n->str = sb_take(&out);
  return 0;
}

/* ---- composition ---- */

typedef struct include_stack {
  char **real; /* canonical paths, to recognise a file however it was named */
  char **shown;
  size_t len, cap;
} include_stack;

static void stack_push(include_stack *s, const char *path) {
  if (s->len == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->real = cfg_xrealloc(s->real, s->cap * sizeof *s->real);
    s->shown = cfg_xrealloc(s->shown, s->cap * sizeof *s->shown);
  }
  char *r = realpath(path, NULL);
  s->real[s->len] = r ? r : cfg_xstrdup(path);
  s->shown[s->len] = cfg_xstrdup(path);
  s->len++;
}

static void stack_pop(include_stack *s) {
  s->len--;
  free(s->real[s->len]);
  free(s->shown[s->len]);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Candidate file for `rel` under `dir`; "." is left out so messages show the path as written. */
static char *candidate(const char *dir, const char *rel) {
  strbuf sb = STRBUF_INIT;
  if (rel[0] == '/' || strcmp(dir, ".") == 0) {
    sb_append(&sb, rel);
  } else {
    char *j = fs_join(dir, rel);
    sb_append(&sb, j);
    free(j);
  }
  if (!ends_with(rel, ".yaml") && !ends_with(rel, ".yml")) sb_append(&sb, ".yaml");
  return sb_take(&sb);
}

static int compose(cfg_node *root, const char *file, const char *search_root,
                   include_stack *stack, herr *e);

/* Reads, composes and returns the part `rel` named at `where` in `file`. */
static cfg_node *load_part(const char *rel, const cfg_node *where, const char *file,
                           const char *search_root, include_stack *stack, herr *e) {
  char *dir = fs_dirname(file);
  char *first = candidate(dir, rel);
  char *second = candidate(search_root, rel);
  free(dir);
  const char *found = fs_exists(first) ? first : fs_exists(second) ? second : NULL;
  if (!found) {
    if (strcmp(first, second) == 0 || rel[0] == '/')
      cfg_errf(e, where->loc, "defaults", "cannot find part '%s' (looked for %s)", rel, first);
    else
      cfg_errf(e, where->loc, "defaults", "cannot find part '%s' (looked for %s and %s)", rel,
               first, second);
    free(first);
    free(second);
    return NULL;
  }
  char *real = realpath(found, NULL);
  for (size_t i = 0; real && i < stack->len; i++) {
    if (strcmp(stack->real[i], real) != 0) continue;
    strbuf chain = STRBUF_INIT;
    for (size_t k = i; k < stack->len; k++) {
      sb_append(&chain, stack->shown[k]);
      sb_append(&chain, " -> ");
    }
    sb_append(&chain, found);
    cfg_errf(e, where->loc, "defaults", "include cycle: %s", sb_str(&chain));
    sb_free(&chain);
    free(real);
    free(first);
    free(second);
    return NULL;
  }
  free(real);
  cfg_node *part = cfg_parse_file(found, e);
  if (part) {
    stack_push(stack, found);
    if (compose(part, found, search_root, stack, e) != 0) {
      cfg_free(part);
      part = NULL;
    }
    stack_pop(stack);
  }
  if (!part) {
    char where_s[512];
    cfg_loc_str(where->loc, where_s, sizeof where_s);
    char old[HERR_MSG_MAX];
    if (e) {
      memcpy(old, e->msg, sizeof old);
      herr_set(e, "%s (included from %s)", old, where_s);
    }
  }
  free(first);
  free(second);
  return part;
}

/* Wraps `part` in maps so that it sits at `group` ("a/b" -> {a: {b: part}}). */
static cfg_node *under_group(const char *group, cfg_loc key_loc, cfg_node *part) {
  char *copy = cfg_xstrdup(group);
  cfg_node *top = cfg_new_map(key_loc);
  cfg_node *cur = top;
  char *seg = copy;
  for (char *slash = strchr(seg, '/'); slash; slash = strchr(seg, '/')) {
    *slash = '\0';
    cfg_node *next = cfg_new_map(key_loc);
    cfg_map_set(cur, seg, key_loc, next);
    cur = next;
    seg = slash + 1;
  }
  cfg_map_set(cur, seg, key_loc, part);
  free(copy);
  return top;
}

static int compose(cfg_node *root, const char *file, const char *search_root,
                   include_stack *stack, herr *e) {
  if (root->kind != CFG_MAP) return 0;
  cfg_node *defaults = cfg_map_get(root, "defaults");
  if (!defaults) return 0;
  defaults = cfg_clone(defaults);
  cfg_map_remove(root, "defaults");
  int rc = 0;
  cfg_node *acc = cfg_new_map(root->loc);
  if (defaults->kind == CFG_SCALAR && !defaults->quoted && cfg_scalar_type(defaults) == CFG_T_NULL)
    goto done; /* "defaults:" with nothing under it */
  if (defaults->kind != CFG_SEQ) {
    char got[128];
    cfg_describe(defaults, got, sizeof got);
    rc = cfg_errf(e, defaults->loc, "defaults",
                  "expected a list of parts ('path/name' or {group: name}), got %s", got);
    goto done;
  }
  /* Part names may come from the environment ("model/${MODEL:-sd2}"). */
  if ((rc = cfg_interpolate(defaults, e)) != 0) goto done;
  for (size_t i = 0; i < defaults->len; i++) {
    const cfg_node *entry = defaults->items[i];
    if (entry->kind == CFG_SCALAR && cfg_scalar_type(entry) != CFG_T_NULL && entry->str[0]) {
      cfg_node *part = load_part(entry->str, entry, file, search_root, stack, e);
      if (!part) {
        rc = -1;
        goto done;
      }
      if (part->kind != CFG_MAP) {
        char got[128];
        cfg_describe(part, got, sizeof got);
        char where_s[512];
        rc = cfg_errf(e, part->loc, NULL,
                      "expected a map at the top of a part merged at the root (included from "
                      "%s), got %s",
                      cfg_loc_str(entry->loc, where_s, sizeof where_s), got);
        cfg_free(part);
        goto done;
      }
      cfg_merge(acc, part);
    } else if (entry->kind == CFG_MAP && entry->len == 1 &&
               entry->items[0]->kind == CFG_SCALAR) {
      const cfg_node *name = entry->items[0];
      if (!name->quoted && cfg_scalar_type(name) == CFG_T_NULL) continue; /* {group: null} */
      strbuf sb = STRBUF_INIT;
      sb_appendf(&sb, "%s/%s", entry->keys[0], name->str);
      cfg_node *part = load_part(sb_str(&sb), name, file, search_root, stack, e);
      sb_free(&sb);
      if (!part) {
        rc = -1;
        goto done;
      }
      cfg_merge(acc, under_group(entry->keys[0], entry->key_locs[0], part));
    } else {
      char got[128];
      cfg_describe(entry, got, sizeof got);
      char path[64];
      snprintf(path, sizeof path, "defaults.%zu", i);
      rc = cfg_errf(e, entry->loc, path, "expected 'path/name' or {group: name}, got %s", got);
      goto done;
    }
  }
done:
  cfg_free(defaults);
  if (rc != 0) {
    cfg_free(acc);
    return rc;
  }
  /* The file's own keys win over its parts; the parts' keys come first in the result. */
  cfg_merge(acc, cfg_clone(root));
  replace_in_place(root, acc);
  return 0;
}

cfg_node *cfg_load(const char *path, const char *search_root, herr *e) {
  cfg_node *root = cfg_parse_file(path, e);
  if (!root) return NULL;
  if (root->kind != CFG_MAP) {
    char got[128];
    cfg_describe(root, got, sizeof got);
    cfg_errf(e, root->loc, NULL, "expected a map at the top of the config, got %s", got);
    cfg_free(root);
    return NULL;
  }
  char *top_dir = search_root ? NULL : fs_dirname(path);
  include_stack stack = {0};
  stack_push(&stack, path);
  int rc = compose(root, path, search_root ? search_root : top_dir, &stack, e);
  stack_pop(&stack);
  free(stack.real);
  free(stack.shown);
  free(top_dir);
  if (rc == 0) rc = cfg_interpolate(root, e);
  if (rc != 0) {
    cfg_free(root);
    return NULL;
  }
  return root;
}

/* ---- overrides ---- */

int cfg_override(cfg_node *root, const char *assignment, unsigned argn, herr *e) {
  cfg_loc loc = {cfg_intern("<command line>"), 0, argn};
  char where[64];
  cfg_loc_str(loc, where, sizeof where);
  const char *eq = strchr(assignment, '=');
  size_t key_len = eq ? (size_t)(eq - assignment) : strlen(assignment);
  bool del = !eq && key_len > 0 && assignment[key_len - 1] == '~';
  if (del) key_len--;
  char *key = strndup(assignment, key_len);
  if (!key) abort();
  int rc = 0;
  if (!eq && !del) {
    rc = herr_set(e, "%s: expected KEY=VALUE or KEY~ (to delete KEY), got '%s'", where,
                  assignment);
    goto out;
  }
  if (!*key || key[0] == '.' || key[key_len - 1] == '.' || strstr(key, "..")) {
    rc = herr_set(e, "%s: '%s': expected a dotted key such as a.b.c before '%s'", where,
                  assignment, del ? "~" : "=");
    goto out;
  }
  if (del) {
    char *dot = strrchr(key, '.');
    cfg_node *parent = dot ? (*dot = '\0', cfg_get(root, key)) : root;
    const char *last = dot ? dot + 1 : key;
    if (dot) *dot = '.';
    if (!parent || parent->kind != CFG_MAP || !cfg_map_remove(parent, last))
      rc = herr_set(e, "%s: cannot delete '%s': there is no such key", where, key);
    goto out;
  }
  const char *text = eq + 1;
  cfg_node *value;
  if (text[strspn(text, " \t")] == '\0') {
    value = cfg_new_scalar("", true, loc); /* "a=" sets the empty string */
  } else {
    herr pe;
    value = cfg_parse_string(text, "<value>", &pe);
    if (!value) {
      /* The parser names "<value>:1:COL"; the argument is the useful location. */
      const char *why = pe.msg;
      if (strncmp(why, "<value>:", 8) == 0 && strstr(why, ": ")) why = strstr(why, ": ") + 2;
      rc = herr_set(e, "%s: %s: cannot read the value '%s': %s", where, key, text, why);
      goto out;
    }
  }
  cfg_relocate(value, loc);
  if (cfg_interpolate(value, e) != 0) {
    cfg_free(value);
    rc = -1;
    goto out;
  }
  if (cfg_set(root, key, value, e) != 0) {
    herr_prefix(e, "%s: %s", where, assignment);
    rc = -1;
  }
out:
  free(key);
  return rc;
}

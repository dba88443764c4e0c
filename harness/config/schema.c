/* Schema validation: every problem of a config against its declared keys, in document order,
 * with locations, key paths and suggestions; missing keys with defaults are filled in. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg_internal.h"
#include "harness/config/schema.h"
#include "harness/util/strbuf.h"

/* ---- report ---- */

void sch_report_free(sch_report *r) {
  if (!r) return;
  for (size_t i = 0; i < r->len; i++) free(r->msgs[i]);
  free(r->msgs);
  r->msgs = NULL;
  r->len = r->cap = 0;
}

static void report_push(sch_report *r, char *msg) {
  if (r->len == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 8;
    r->msgs = cfg_xrealloc(r->msgs, r->cap * sizeof *r->msgs);
  }
  r->msgs[r->len++] = msg;
}

void sch_report_add(sch_report *r, const char *fmt, ...) {
  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (rc < 0) {
    fprintf(stderr, "harness: out of memory\n");
    abort();
  }
  report_push(r, text);
}

char *sch_report_text(const sch_report *r) {
  strbuf sb = STRBUF_INIT;
  for (size_t i = 0; i < r->len; i++) {
    if (i) sb_append_char(&sb, '\n');
    sb_append(&sb, r->msgs[i]);
  }
  return sb_take(&sb);
}

/* "LOC: PATH: what" (no PATH at the root). */
static void problem(sch_report *r, cfg_loc loc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(sch_report *r, cfg_loc loc, const char *path, const char *fmt, ...) {
  char where[1024];
  cfg_loc_str(loc, where, sizeof where);
  va_list ap;
  va_start(ap, fmt);
  char *what = NULL;
  if (vasprintf(&what, fmt, ap) < 0) what = NULL;
  va_end(ap);
  if (path && *path)
    sch_report_add(r, "%s: %s: %s", where, path, what ? what : "?");
  else
    sch_report_add(r, "%s: %s", where, what ? what : "?");
  free(what);
}

/* ---- suggestions ---- */

size_t sch_edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  /* Three rows suffice for optimal string alignment (one transposition looks two back). */
  size_t *prev2 = cfg_xcalloc(m + 1, sizeof *prev2);
  size_t *prev = cfg_xcalloc(m + 1, sizeof *prev);
  size_t *cur = cfg_xcalloc(m + 1, sizeof *cur);
  for (size_t j = 0; j <= m; j++) prev[j] = j;
  for (size_t i = 1; i <= n; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      size_t best = prev[j] + 1;
      if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
      if (prev[j - 1] + cost < best) best = prev[j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          prev2[j - 2] + 1 < best)
        best = prev2[j - 2] + 1;
      cur[j] = best;
    }
    size_t *t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  size_t d = prev[m];
  free(prev2);
  free(prev);
  free(cur);
  return d;
}

const char *sch_suggest(const char *word, const char *const *candidates) {
  if (!word || !candidates) return NULL;
  size_t len = strlen(word);
  size_t limit = len / 3 > 2 ? len / 3 : 2;
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (const char *const *c = candidates; *c; c++) {
    size_t d = sch_edit_distance(word, *c);
    size_t longer = len > strlen(*c) ? len : strlen(*c);
    /* Rewriting every character is no resemblance ("ab" is not a misspelt "lr"). */
    if (d <= limit && d < longer && d < best_d) {
      best = *c;
      best_d = d;
    }
  }
  return best;
}

/* ---- validation ---- */

static void validate(const sch_node *s, cfg_node *n, const char *path, sch_report *r);

static void range_text(const sch_node *s, strbuf *sb) {
  char num[32];
  if (s->has_min)
    sb_appendf(sb, " %s %s", s->min_exclusive ? ">" : ">=", cfg_format_double(s->min, num, sizeof num));
  if (s->has_min && s->has_max) sb_append(sb, " and");
  if (s->has_max)
    sb_appendf(sb, " %s %s", s->max_exclusive ? "<" : "<=", cfg_format_double(s->max, num, sizeof num));
}

static bool in_range(const sch_node *s, double v) {
  if (s->has_min && !(s->min_exclusive ? v > s->min : v >= s->min)) return false;
  if (s->has_max && !(s->max_exclusive ? v < s->max : v <= s->max)) return false;
  return true;
}

static void expected(sch_report *r, const cfg_node *n, const char *path, const char *what) {
  char got[128];
  cfg_describe(n, got, sizeof got);
  problem(r, n->loc, path, "expected %s, got %s", what, got);
}

static void check_number(const sch_node *s, const cfg_node *n, const char *path, sch_report *r) {
  const char *kind = s->type == SCH_INT ? "an integer" : "a number";
  cfg_type t = cfg_scalar_type(n);
  long long iv = 0;
  if (n->kind != CFG_SCALAR || (t != CFG_T_INT && (s->type == SCH_INT || t != CFG_T_FLOAT))) {
    expected(r, n, path, kind);
    return;
  }
  if (t == CFG_T_INT && s->type == SCH_INT && cfg_parse_int(n->str, &iv) != 0) {
    problem(r, n->loc, path, "expected an integer that fits in 64 bits, got '%s'", n->str);
    return;
  }
  double v = s->type == SCH_INT ? (double)iv : cfg_parse_number(n->str);
  if (in_range(s, v)) return;
  strbuf what = STRBUF_INIT;
  sb_append(&what, kind);
  range_text(s, &what);
  expected(r, n, path, sb_str(&what));
  sb_free(&what);
}

static void check_enum(const sch_node *s, const cfg_node *n, const char *path, sch_report *r) {
  if (n->kind == CFG_SCALAR && s->choices)
    for (const char *const *c = s->choices; *c; c++)
      if (strcmp(*c, n->str) == 0) return;
  strbuf what = STRBUF_INIT;
  sb_append(&what, "one of ");
  for (const char *const *c = s->choices; c && *c; c++)
    sb_appendf(&what, "%s'%s'", c == s->choices ? "" : ", ", *c);
  char got[128];
  cfg_describe(n, got, sizeof got);
  const char *near = n->kind == CFG_SCALAR ? sch_suggest(n->str, s->choices) : NULL;
  if (near)
    problem(r, n->loc, path, "expected %s, got %s; did you mean '%s'?", sb_str(&what), got, near);
  else
    problem(r, n->loc, path, "expected %s, got %s", sb_str(&what), got);
  sb_free(&what);
}

static void check_seq(const sch_node *s, cfg_node *n, const char *path, sch_report *r) {
  if (n->kind != CFG_SEQ) {
    expected(r, n, path, "a list");
    return;
  }
  if (n->len < s->min_items)
    problem(r, n->loc, path, "expected at least %zu item%s, got %zu", s->min_items,
            s->min_items == 1 ? "" : "s", n->len);
  if (s->max_items && n->len > s->max_items)
    problem(r, n->loc, path, "expected at most %zu item%s, got %zu", s->max_items,
            s->max_items == 1 ? "" : "s", n->len);
  if (!s->item) return;
  for (size_t i = 0; i < n->len; i++) {
    char idx[32];
    snprintf(idx, sizeof idx, "%zu", i);
    char *p = cfg_path_join(path, idx);
    validate(s->item, n->items[i], p, r);
    free(p);
  }
}

static void check_dict(const sch_node *s, cfg_node *n, const char *path, sch_report *r) {
  if (n->kind != CFG_MAP) {
    expected(r, n, path, "a map");
    return;
  }
  if (!s->item) return;
  for (size_t i = 0; i < n->len; i++) {
    char *p = cfg_path_join(path, n->keys[i]);
    validate(s->item, n->items[i], p, r);
    free(p);
  }
}

static const sch_node *find_field(const sch_node *s, const char *key) {
  for (const sch_node *f = s->fields; f && f->key; f++)
    if (strcmp(f->key, key) == 0) return f;
  return NULL;
}

/* A section that may be left out entirely because everything in it has a default. */
static bool omittable(const sch_node *f) {
  if (f->def || f->optional) return true;
  if (f->type != SCH_MAP) return false;
  for (const sch_node *c = f->fields; c && c->key; c++)
    if (!omittable(c)) return false;
  return true;
}

static void unknown_key(const sch_node *s, const cfg_node *n, size_t i, const char *path,
                        sch_report *r) {
  size_t count = 0;
  for (const sch_node *f = s->fields; f && f->key; f++) count++;
  const char **names = cfg_xcalloc(count + 1, sizeof *names);
  for (size_t k = 0; k < count; k++) names[k] = s->fields[k].key;
  const char *near = sch_suggest(n->keys[i], names);
  char *p = cfg_path_join(path, n->keys[i]);
  if (near) {
    problem(r, n->key_locs[i], p, "unknown key '%s'; did you mean '%s'?", n->keys[i], near);
  } else if (count == 0) {
    problem(r, n->key_locs[i], p, "unknown key '%s'; this map takes no keys", n->keys[i]);
  } else {
    strbuf known = STRBUF_INIT;
    for (size_t k = 0; k < count; k++) sb_appendf(&known, "%s%s", k ? ", " : "", names[k]);
    problem(r, n->key_locs[i], p, "unknown key '%s'; known keys: %s", n->keys[i],
            sb_str(&known));
    sb_free(&known);
  }
  free(p);
  free(names);
}

static cfg_node *default_node(const sch_node *f, const char *path, sch_report *r) {
  const cfg_loc loc = {cfg_intern("<default>"), 0, 0};
  cfg_node *d;
  if (f->def) {
    if (f->def[strspn(f->def, " \t\n")] == '\0') {
      d = cfg_new_scalar("", true, loc); /* "" would read as an empty map */
    } else {
      herr e;
      d = cfg_parse_string(f->def, "<default>", &e);
      if (!d) {
        problem(r, loc, path, "the schema's default '%s' is not valid YAML: %s", f->def, e.msg);
        return NULL;
      }
    }
  } else {
    d = cfg_new_map(loc);
  }
  cfg_relocate(d, loc);
  validate(f, d, path, r);
  return d;
}

static void check_map(const sch_node *s, cfg_node *n, const char *path, sch_report *r) {
  if (n->kind != CFG_MAP) {
    expected(r, n, path, "a map");
    return;
  }
  /* Missing keys are reported at the map, which comes before its entries in the document. */
  for (const sch_node *f = s->fields; f && f->key; f++) {
    if (cfg_map_get(n, f->key) || omittable(f)) continue;
    if (f->doc)
      problem(r, n->loc, path, "missing required key '%s' (%s)", f->key, f->doc);
    else
      problem(r, n->loc, path, "missing required key '%s'", f->key);
  }
  size_t present = n->len;
  for (size_t i = 0; i < present; i++) {
    const sch_node *f = find_field(s, n->keys[i]);
    if (!f) {
      unknown_key(s, n, i, path, r);
      continue;
    }
    char *p = cfg_path_join(path, n->keys[i]);
    validate(f, n->items[i], p, r);
    free(p);
  }
  for (const sch_node *f = s->fields; f && f->key; f++) {
    if (cfg_map_get(n, f->key)) continue;
    if (!f->def && (f->optional || !omittable(f))) continue;
    char *p = cfg_path_join(path, f->key);
    cfg_node *d = default_node(f, p, r);
    free(p);
    if (d) cfg_map_set(n, f->key, d->loc, d);
  }
}

static void validate(const sch_node *s, cfg_node *n, const char *path, sch_report *r) {
  switch (s->type) {
    case SCH_ANY: break;
    case SCH_BOOL:
      if (cfg_scalar_type(n) != CFG_T_BOOL || n->kind != CFG_SCALAR)
        expected(r, n, path, "true or false");
      break;
    case SCH_INT:
    case SCH_FLOAT: check_number(s, n, path, r); break;
    case SCH_STR:
      if (n->kind != CFG_SCALAR) expected(r, n, path, "a string");
      break;
    case SCH_PATH:
      if (n->kind != CFG_SCALAR || n->str[0] == '\0' || cfg_scalar_type(n) == CFG_T_NULL)
        expected(r, n, path, "a path");
      break;
    case SCH_ENUM: check_enum(s, n, path, r); break;
    case SCH_SEQ: check_seq(s, n, path, r); break;
    case SCH_MAP: check_map(s, n, path, r); break;
    case SCH_DICT: check_dict(s, n, path, r); break;
  }
}

size_t sch_validate(const sch_node *schema, cfg_node *node, const char *path, sch_report *rep) {
  if (!schema || !node || !rep) return 0;
  size_t before = rep->len;
  validate(schema, node, path ? path : "", rep);
  return rep->len - before;
}

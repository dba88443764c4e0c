/* YAML text to a config tree: libyaml events become nodes that remember file:line:col;
 * aliases are copied, core tags checked, duplicate keys rejected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "harness/config/cfg.h"
#include "harness/config/cfg_internal.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

/* Deep nesting only comes from malicious or broken input; it must not exhaust the stack. */
#define MAX_DEPTH 512
/* Aliases copy subtrees, so "billion laughs" input would otherwise grow without bound. */
#define MAX_NODES 2000000

typedef struct anchor {
  char *name;
  cfg_node *node;
  bool complete; /* an alias inside its own anchored node would be infinite */
} anchor;

typedef struct pstate {
  yaml_parser_t parser;
  const char *file;
  anchor *anchors;
  size_t n_anchors, cap_anchors;
  size_t n_nodes;
  strbuf path; /* key path of the node being read, for messages */
  herr *e;
} pstate;

#define TAG_PREFIX "tag:yaml.org,2002:"

static cfg_loc mark_loc(const pstate *ps, yaml_mark_t m) {
  return (cfg_loc){ps->file, (unsigned)m.line + 1, (unsigned)m.column + 1};
}

static int syntax_error(pstate *ps) {
  const yaml_parser_t *p = &ps->parser;
  cfg_loc loc = mark_loc(ps, p->problem_mark);
  if (p->error != YAML_PARSER_ERROR && p->error != YAML_SCANNER_ERROR) {
    /* Reader errors (bad encoding) carry an offset, not a line. */
    if (p->error == YAML_READER_ERROR)
      return herr_set(ps->e, "%s: YAML syntax error: %s at byte %zu", ps->file,
                      p->problem ? p->problem : "unreadable input", p->problem_offset);
    return herr_set(ps->e, "%s: YAML syntax error: %s", ps->file,
                    p->problem ? p->problem : "out of memory");
  }
  /* libyaml notices a problem where parsing fails, often a line after the mistake; the
   * context mark says where the construct it was reading began. */
  if (p->context) {
    cfg_loc ctx = mark_loc(ps, p->context_mark);
    return cfg_errf(ps->e, loc, NULL, "YAML syntax error: %s (%s that starts at line %u, column %u)", p->problem,
                    p->context, ctx.line, ctx.col);
  }
  return cfg_errf(ps->e, loc, NULL, "YAML syntax error: %s", p->problem);
}

static int next_event(pstate *ps, yaml_event_t *ev) {
  if (!yaml_parser_parse(&ps->parser, ev)) return syntax_error(ps);
  return 0;
}

static void show_tag(const char *tag, char *buf, size_t n) {
  if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0)
    snprintf(buf, n, "!!%s", tag + strlen(TAG_PREFIX));
  else
    snprintf(buf, n, "%s", tag);
}

static int bad_tag(pstate *ps, cfg_loc loc, const char *tag, const char *what) {
  char shown[256];
  show_tag(tag, shown, sizeof shown);
  return cfg_errf(ps->e, loc, sb_str(&ps->path),
                  "unsupported tag '%s' on a %s (allowed: !!str, !!int, !!float, !!bool, "
                  "!!null, !!map, !!seq)",
                  shown, what);
}

static bool tag_is(const char *tag, const char *name) {
  return strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0 &&
         strcmp(tag + strlen(TAG_PREFIX), name) == 0;
}

/* A typed tag makes the text plain and insists it resolves to that type. */
static int apply_scalar_tag(pstate *ps, cfg_node *n, const char *tag) {
  if (!tag || strcmp(tag, "!") == 0) return 0;
  if (tag_is(tag, "str")) {
    n->quoted = true;
    return 0;
  }
  struct {
    const char *name;
    cfg_type type;
    const char *what;
  } typed[] = {{"int", CFG_T_INT, "an integer"},
               {"float", CFG_T_FLOAT, "a float"},
               {"bool", CFG_T_BOOL, "true or false"},
               {"null", CFG_T_NULL, "null"}};
  for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
    if (!tag_is(tag, typed[i].name)) continue;
    cfg_type t = cfg_resolve_plain(n->str);
    if (typed[i].type == CFG_T_FLOAT && t == CFG_T_INT && strncmp(n->str, "0x", 2) != 0 &&
        strncmp(n->str, "0o", 2) != 0) {
      /* !!float 5 is the float 5.0; the text must say so for the type to survive. */
      size_t len = strlen(n->str);
      n->str = cfg_xrealloc(n->str, len + 3);
      memcpy(n->str + len, ".0", 3);
      t = CFG_T_FLOAT;
    }
    if (t != typed[i].type)
      return cfg_errf(ps->e, n->loc, sb_str(&ps->path), "!!%s: expected %s, got '%s'",
                      typed[i].name, typed[i].what, n->str);
    n->quoted = false;
    return 0;
  }
  return bad_tag(ps, n->loc, tag, "scalar");
}

static void add_anchor(pstate *ps, const char *name, cfg_node *node) {
  if (ps->n_anchors == ps->cap_anchors) {
    ps->cap_anchors = ps->cap_anchors ? 2 * ps->cap_anchors : 8;
    ps->anchors = cfg_xrealloc(ps->anchors, ps->cap_anchors * sizeof *ps->anchors);
  }
  ps->anchors[ps->n_anchors++] = (anchor){cfg_xstrdup(name), node, false};
}

static anchor *find_anchor(pstate *ps, const char *name) {
  /* YAML lets an anchor be redefined; the latest one counts. */
  for (size_t i = ps->n_anchors; i-- > 0;)
    if (strcmp(ps->anchors[i].name, name) == 0) return &ps->anchors[i];
  return NULL;
}

static void complete_anchor(pstate *ps, cfg_node *node) {
  for (size_t i = ps->n_anchors; i-- > 0;)
    if (ps->anchors[i].node == node) ps->anchors[i].complete = true;
}

static size_t count_nodes(const cfg_node *n) {
  size_t c = 1;
  for (size_t i = 0; i < n->len; i++) c += count_nodes(n->items[i]);
  return c;
}

static int parse_node(pstate *ps, yaml_event_t *ev, int depth, cfg_node **out);

static int parse_alias(pstate *ps, yaml_event_t *ev, cfg_node **out) {
  cfg_loc loc = mark_loc(ps, ev->start_mark);
  const char *name = (const char *)ev->data.alias.anchor;
  anchor *a = find_anchor(ps, name);
  if (!a) return cfg_errf(ps->e, loc, sb_str(&ps->path), "alias '*%s' names no anchor", name);
  if (!a->complete)
    return cfg_errf(ps->e, loc, sb_str(&ps->path),
                    "alias '*%s' is inside the node it refers to", name);
  size_t n = count_nodes(a->node);
  ps->n_nodes += n;
  if (ps->n_nodes > MAX_NODES)
    return cfg_errf(ps->e, loc, sb_str(&ps->path),
                    "aliases expand to more than %d nodes", MAX_NODES);
  /* The copy is located at the alias: errors in it point where the user used it. */
  *out = cfg_clone(a->node);
  (*out)->loc = loc;
  return 0;
}

static int parse_scalar(pstate *ps, yaml_event_t *ev, cfg_node **out) {
  cfg_loc loc = mark_loc(ps, ev->start_mark);
  const char *text = (const char *)ev->data.scalar.value;
  if (memchr(text, '\0', ev->data.scalar.length))
    return cfg_errf(ps->e, loc, sb_str(&ps->path), "NUL characters are not supported");
  bool quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
  cfg_node *n = cfg_new_scalar(text, quoted, loc);
  if (apply_scalar_tag(ps, n, (const char *)ev->data.scalar.tag) != 0) {
    cfg_free(n);
    return -1;
  }
  *out = n;
  return 0;
}

/* Fills `seq` (already registered under its anchor) up to SEQUENCE-END. */
static int parse_seq(pstate *ps, cfg_node *seq, int depth) {
  size_t base = ps->path.len;
  for (;;) {
    yaml_event_t item;
    if (next_event(ps, &item) != 0) return -1;
    if (item.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&item);
      break;
    }
    if (base) sb_append_char(&ps->path, '.');
    sb_appendf(&ps->path, "%zu", seq->len);
    cfg_node *child = NULL;
    int rc = parse_node(ps, &item, depth + 1, &child);
    yaml_event_delete(&item);
    if (rc != 0) return -1;
    ps->path.len = base;
    if (ps->path.data) ps->path.data[base] = '\0';
    cfg_seq_push(seq, child);
  }
  return 0;
}

/* Fills `map` (already registered under its anchor) up to MAPPING-END. */
static int parse_map(pstate *ps, cfg_node *map, int depth) {
  size_t base = ps->path.len;
  for (;;) {
    yaml_event_t kev;
    if (next_event(ps, &kev) != 0) return -1;
    if (kev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&kev);
      break;
    }
    cfg_node *key = NULL;
    int rc = parse_node(ps, &kev, depth + 1, &key);
    yaml_event_delete(&kev);
    if (rc != 0) return -1;
    if (key->kind != CFG_SCALAR) {
      cfg_errf(ps->e, key->loc, sb_str(&ps->path), "a key must be a scalar, not %s",
               key->kind == CFG_MAP ? "a map" : "a list");
      cfg_free(key);
      return -1;
    }
    if (base) sb_append_char(&ps->path, '.');
    sb_append(&ps->path, key->str);
    cfg_loc key_loc = key->loc;
    for (size_t i = 0; i < map->len; i++) {
      if (strcmp(map->keys[i], key->str) != 0) continue;
      cfg_errf(ps->e, key_loc, sb_str(&ps->path), "duplicate key '%s' (first written at %u:%u)",
               key->str, map->key_locs[i].line, map->key_locs[i].col);
      cfg_free(key);
      return -1;
    }
    yaml_event_t vev;
    if (next_event(ps, &vev) != 0) {
      cfg_free(key);
      return -1;
    }
    cfg_node *value = NULL;
    rc = parse_node(ps, &vev, depth + 1, &value);
    yaml_event_delete(&vev);
    if (rc != 0) {
      cfg_free(key);
      return -1;
    }
    cfg_map_set(map, key->str, key_loc, value);
    cfg_free(key);
    ps->path.len = base;
    if (ps->path.data) ps->path.data[base] = '\0';
  }
  return 0;
}

static int parse_node(pstate *ps, yaml_event_t *ev, int depth, cfg_node **out) {
  *out = NULL;
  cfg_loc loc = mark_loc(ps, ev->start_mark);
  if (depth > MAX_DEPTH)
    return cfg_errf(ps->e, loc, sb_str(&ps->path), "nesting deeper than %d levels", MAX_DEPTH);
  if (ev->type == YAML_ALIAS_EVENT) return parse_alias(ps, ev, out);
  if (++ps->n_nodes > MAX_NODES)
    return cfg_errf(ps->e, loc, sb_str(&ps->path), "more than %d nodes", MAX_NODES);
  if (ev->type == YAML_SCALAR_EVENT) {
    if (parse_scalar(ps, ev, out) != 0) return -1;
    if (ev->data.scalar.anchor) {
      add_anchor(ps, (const char *)ev->data.scalar.anchor, *out);
      complete_anchor(ps, *out);
    }
    return 0;
  }
  bool is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
  if (!is_seq && ev->type != YAML_MAPPING_START_EVENT)
    return cfg_errf(ps->e, loc, sb_str(&ps->path), "unexpected YAML event");
  const char *tag = (const char *)(is_seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag);
  if (tag && strcmp(tag, "!") != 0 && !tag_is(tag, is_seq ? "seq" : "map"))
    return bad_tag(ps, loc, tag, is_seq ? "list" : "map");
  cfg_node *n = is_seq ? cfg_new_seq(loc) : cfg_new_map(loc);
  const yaml_char_t *name = is_seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
  /* Registered before the children, so that an alias to it from inside is caught. */
  if (name) add_anchor(ps, (const char *)name, n);
  if ((is_seq ? parse_seq(ps, n, depth) : parse_map(ps, n, depth)) != 0) {
    cfg_free(n);
    return -1;
  }
  complete_anchor(ps, n);
  *out = n;
  return 0;
}

static int parse_stream(pstate *ps, cfg_node **out) {
  yaml_event_t ev;
  if (next_event(ps, &ev) != 0) return -1;
  yaml_event_delete(&ev); /* STREAM-START */
  if (next_event(ps, &ev) != 0) return -1;
  if (ev.type == YAML_STREAM_END_EVENT) {
    *out = cfg_new_map((cfg_loc){ps->file, 1, 1});
    yaml_event_delete(&ev);
    return 0;
  }
  yaml_event_delete(&ev); /* DOCUMENT-START */
  if (next_event(ps, &ev) != 0) return -1;
  cfg_node *root = NULL;
  int rc = parse_node(ps, &ev, 0, &root);
  yaml_event_delete(&ev);
  if (rc != 0) return -1;
  if (next_event(ps, &ev) != 0) goto fail;
  yaml_event_delete(&ev); /* DOCUMENT-END */
  if (next_event(ps, &ev) != 0) goto fail;
  if (ev.type != YAML_STREAM_END_EVENT) {
    cfg_errf(ps->e, mark_loc(ps, ev.start_mark), NULL,
             "expected a single YAML document, found another");
    yaml_event_delete(&ev);
    goto fail;
  }
  yaml_event_delete(&ev);
  if (root->kind == CFG_SCALAR && !root->quoted && root->str[0] == '\0') {
    /* "---" alone, or only comments after it: an empty config. */
    cfg_loc loc = root->loc;
    cfg_free(root);
    root = cfg_new_map(loc);
  }
  *out = root;
  return 0;
fail:
  cfg_free(root);
  return -1;
}

cfg_node *cfg_parse_string(const char *text, const char *name, herr *e) {
  pstate ps;
  memset(&ps, 0, sizeof ps);
  ps.file = cfg_intern(name ? name : "<string>");
  ps.e = e;
  if (!yaml_parser_initialize(&ps.parser)) {
    herr_set(e, "%s: cannot initialise the YAML parser", ps.file);
    return NULL;
  }
  yaml_parser_set_input_string(&ps.parser, (const unsigned char *)text, strlen(text));
  cfg_node *root = NULL;
  if (parse_stream(&ps, &root) != 0) root = NULL;
  yaml_parser_delete(&ps.parser);
  for (size_t i = 0; i < ps.n_anchors; i++) free(ps.anchors[i].name);
  free(ps.anchors);
  sb_free(&ps.path);
  return root;
}

cfg_node *cfg_parse_file(const char *path, herr *e) {
  char *text = fs_read_file(path, NULL, e);
  if (!text) return NULL;
  cfg_node *root = cfg_parse_string(text, path, e);
  free(text);
  return root;
}

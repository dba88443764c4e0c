/* Configuration tree: YAML read with libyaml into nodes that remember file:line:column,
 * composed from reusable parts (a `defaults:` list), with ${ENV} interpolation and
 * command-line overrides; plus YAML and canonical (hashing) serialisation. */
#ifndef MDH_CFG_H
#define MDH_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/util/herr.h"

typedef enum cfg_kind { CFG_SCALAR, CFG_MAP, CFG_SEQ } cfg_kind;

/* What a scalar means under the YAML 1.2 core schema (quoted scalars are always strings). */
typedef enum cfg_type { CFG_T_NULL, CFG_T_BOOL, CFG_T_INT, CFG_T_FLOAT, CFG_T_STR } cfg_type;

/* Where a node was written. `file` is interned (cfg_intern) and lives for the process;
 * overrides use "<command line>" with line 0 and col = the argument's position;
 * defaults filled in by a schema use "<default>". line/col are 1-based. */
typedef struct cfg_loc {
  const char *file;
  unsigned line;
  unsigned col;
} cfg_loc;

typedef struct cfg_node {
  cfg_kind kind;
  cfg_loc loc;
  char *str;     /* CFG_SCALAR: text after ${ENV} interpolation */
  bool quoted;   /* CFG_SCALAR: written quoted (or in a block scalar): a string, whatever it says */
  size_t len;    /* CFG_MAP / CFG_SEQ: number of children */
  size_t cap;
  char **keys;        /* CFG_MAP: keys[i] names items[i]; keys are unique within a map */
  cfg_loc *key_locs;  /* CFG_MAP: where each key was written */
  struct cfg_node **items;
} cfg_node;

/* Interns a file name so that locations can point at it for the life of the process. */
const char *cfg_intern(const char *s);

/* ---- construction and ownership ---- */
cfg_node *cfg_new_map(cfg_loc loc);
cfg_node *cfg_new_seq(cfg_loc loc);
cfg_node *cfg_new_scalar(const char *text, bool quoted, cfg_loc loc);
cfg_node *cfg_clone(const cfg_node *n);
void cfg_free(cfg_node *n);
/* Map: sets key to `child` (taking ownership), replacing an existing entry in place. */
void cfg_map_set(cfg_node *map, const char *key, cfg_loc key_loc, cfg_node *child);
/* Map: removes key if present (freeing its node); returns whether it was there. */
bool cfg_map_remove(cfg_node *map, const char *key);
/* Seq: appends `child` (taking ownership). */
void cfg_seq_push(cfg_node *seq, cfg_node *child);

/* ---- lookup ---- */
/* Child of a map by key, or NULL. */
cfg_node *cfg_map_get(const cfg_node *map, const char *key);
/* Node at a dotted path ("toy.fit.lr"; a numeric segment indexes a sequence), or NULL. */
cfg_node *cfg_get(const cfg_node *root, const char *path);
/* Sets the node at a dotted path, creating intermediate maps; takes ownership of `child`.
 * Fails (naming the path and the location of the blocking node) when a segment runs into a
 * scalar or a sequence index that does not exist. */
int cfg_set(cfg_node *root, const char *path, cfg_node *child, herr *e);

/* ---- scalars ---- */
cfg_type cfg_scalar_type(const cfg_node *n);
/* Typed reads. On a wrong type the error reads "FILE:LINE:COL: expected an integer, got
 * 'abc'". Integers accept decimal, 0x and 0o forms and must fit in long long; doubles accept
 * ints, floats, .inf/.nan; bools only true/false (any case as YAML 1.2 core). */
int cfg_as_int(const cfg_node *n, long long *out, herr *e);
int cfg_as_double(const cfg_node *n, double *out, herr *e);
int cfg_as_bool(const cfg_node *n, bool *out, herr *e);
/* Any scalar's text; error for maps/sequences. */
int cfg_as_str(const cfg_node *n, const char **out, herr *e);
/* The same at a dotted path below root; a missing key is an error naming the path. */
int cfg_int_at(const cfg_node *root, const char *path, long long *out, herr *e);
int cfg_double_at(const cfg_node *root, const char *path, double *out, herr *e);
int cfg_bool_at(const cfg_node *root, const char *path, bool *out, herr *e);
int cfg_str_at(const cfg_node *root, const char *path, const char **out, herr *e);

/* An error at a place in a config: "LOC: PATH: message" (PATH omitted when NULL or empty)
 * into e; returns -1. */
int cfg_errf(herr *e, cfg_loc loc, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "FILE:LINE:COL" into buf (or "FILE" when line is 0 and col is 0, "<command line> argument N"
 * for overrides). */
const char *cfg_loc_str(cfg_loc loc, char *buf, size_t n);

/* ---- reading ---- */
/* Parses one YAML document (no composition, no interpolation). A syntax error names
 * file:line:column and libyaml's problem. Anchors/aliases are resolved by copying; tags other
 * than the core ones (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq) are errors;
 * duplicate keys are errors. `name` is used in locations. An empty document is an empty map. */
cfg_node *cfg_parse_string(const char *text, const char *name, herr *e);
cfg_node *cfg_parse_file(const char *path, herr *e);

/* Loads a config file the way `harness run` does:
 *  1. parse it;
 *  2. compose: a top-level `defaults:` list is removed and each entry merged first, in order,
 *     then the file's own keys over them (maps merge deeply; scalars and sequences replace).
 *     An entry is either "path/name" (file path/name.yaml merged at the root) or a one-key map
 *     {group: name} (file group/name.yaml merged under key `group`). Files are looked up
 *     relative to the including file's directory, then relative to `search_root` (the
 *     directory of the top-level config when NULL). Parts may have their own `defaults:`.
 *     A missing part or an include cycle is an error naming the including file:line:col.
 *  3. interpolate ${VAR} and ${VAR:-fallback} in every unquoted and quoted scalar; "$${" is a
 *     literal "${". An unset variable without fallback is an error naming the location and
 *     the variable. */
cfg_node *cfg_load(const char *path, const char *search_root, herr *e);

/* Applies one command-line override "a.b.c=VALUE" to root. VALUE is parsed as a YAML flow
 * value ("0.1", "[1, 2]", "{a: 1}", "'quoted'"), then interpolated; `argn` is the argument's
 * position for the location. "a.b~" (trailing ~, no '=') deletes the key. Errors name the
 * argument. */
int cfg_override(cfg_node *root, const char *assignment, unsigned argn, herr *e);

/* Interpolates ${VAR} in every scalar under n (step 3 of cfg_load). */
int cfg_interpolate(cfg_node *n, herr *e);

/* Deep merge: `over` wins; maps merge recursively, everything else replaces. Consumes over. */
void cfg_merge(cfg_node *base, cfg_node *over);

/* ---- writing ---- */
/* Block-style YAML that cfg_parse_string reads back to an equal tree (same kinds, keys in the
 * same order, same scalar types: strings that would read as another type are quoted). */
char *cfg_to_yaml(const cfg_node *n);
/* Canonical text for hashing: JSON with map keys sorted bytewise, no whitespace; numbers by
 * value (an int, or a float with an integral value below 2^53, prints as an integer; other
 * floats print as the shortest text that reads back to the same double; 1e-4 and 0.0001 are
 * the same); true/false/null; strings JSON-escaped. Locations and quoting style do not matter
 * except that a quoted "1" is a string. Equal configs give equal text. */
char *cfg_canonical(const cfg_node *n);
/* Canonical equality of two nodes. */
bool cfg_equal(const cfg_node *a, const cfg_node *b);

#endif

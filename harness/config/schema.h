/* Config schemas: each stage kind (and the harness itself) declares the keys it reads with
 * their types, ranges and defaults; validation reports every problem with its file, line,
 * column and key path, suggests the closest known key for a misspelt one, and fills in
 * defaults so the resolved config states every value that was used. */
#ifndef MDH_SCHEMA_H
#define MDH_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/config/cfg.h"

typedef enum sch_type {
  SCH_ANY,    /* anything (checked elsewhere, e.g. the sweep section) */
  SCH_BOOL,
  SCH_INT,    /* long long */
  SCH_FLOAT,  /* double; ints are accepted */
  SCH_STR,    /* any scalar, read as text */
  SCH_PATH,   /* a non-empty string naming a file or directory (not checked for existence) */
  SCH_ENUM,   /* a string from `choices` */
  SCH_SEQ,    /* a sequence whose items follow `item` */
  SCH_MAP,    /* a map with the keys in `fields` and no others */
  SCH_DICT    /* a map with any keys whose values follow `item` */
} sch_type;

typedef struct sch_node {
  const char *key;        /* field name inside a SCH_MAP; NULL ends a `fields` array */
  sch_type type;
  const char *doc;        /* one line: what the key means (shown in errors and --help) */
  const char *def;        /* default as YAML text ("0.1", "[a, b]", "{}"); NULL = required */
  bool optional;          /* may be absent even without a default */
  bool has_min, has_max;  /* numeric range, inclusive unless *_exclusive */
  bool min_exclusive, max_exclusive;
  double min, max;
  const char *const *choices;      /* SCH_ENUM: NULL-terminated */
  const struct sch_node *fields;   /* SCH_MAP: array ended by an entry with key == NULL */
  const struct sch_node *item;     /* SCH_SEQ / SCH_DICT: the schema of each element */
  size_t min_items;                /* SCH_SEQ: at least this many items */
  size_t max_items;                /* SCH_SEQ: at most this many (0 = unbounded) */
} sch_node;

/* Problems found by validation, in document order. */
typedef struct sch_report {
  char **msgs;  /* each "FILE:LINE:COL: key.path: what is wrong; what was expected" */
  size_t len;
  size_t cap;
} sch_report;

/* A report starts zeroed: sch_report rep = {0}. */
void sch_report_free(sch_report *r);
/* Appends one message (printf-style), for checks a schema cannot express. */
void sch_report_add(sch_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Joins the messages one per line (caller frees). */
char *sch_report_text(const sch_report *r);

/* Validates `node` (found at dotted `path`, "" for the root) against `schema`, appending
 * every problem to `rep`, and fills missing keys that have defaults (location "<default>").
 * Unknown keys get "unknown key 'lrr'; did you mean 'lr'?" when a known key is within a small
 * edit distance (Damerau-Levenshtein ≤ 2, or ≤ a third of the length for long keys), else the
 * list of known keys. Returns the number of problems added. */
size_t sch_validate(const sch_node *schema, cfg_node *node, const char *path, sch_report *rep);

/* Edit distance used for suggestions (Damerau-Levenshtein, optimal string alignment). */
size_t sch_edit_distance(const char *a, const char *b);

/* The closest of `candidates` (NULL-terminated) to `word` within the threshold above, or NULL. */
const char *sch_suggest(const char *word, const char *const *candidates);

#endif

/* Helpers shared by the cfg_*.c files and schema.c (not part of the public contract):
 * allocation that aborts on exhaustion, scalar resolution, error formatting. */
#ifndef MDH_CFG_INTERNAL_H
#define MDH_CFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/config/cfg.h"

void *cfg_xcalloc(size_t n, size_t size);
void *cfg_xrealloc(void *p, size_t size);
char *cfg_xstrdup(const char *s);

/* Type a scalar text would have if written plain (YAML 1.2 core schema). */
cfg_type cfg_resolve_plain(const char *s);
/* Value of a text that resolves as an int; -1 when it does not fit in long long. */
int cfg_parse_int(const char *s, long long *out);
/* Value of a text that resolves as an int or a float (huge ints come back approximate). */
double cfg_parse_number(const char *s);
/* Shortest "%.Ng" text that reads back to exactly v. */
const char *cfg_format_double(double v, char *buf, size_t size);

/* What a node is, for "got ..." in messages: 'text', null, a map, a list, the string '5'. */
void cfg_describe(const cfg_node *n, char *buf, size_t size);
/* Sets every location (nodes and keys) under n. */
void cfg_relocate(cfg_node *n, cfg_loc loc);
/* "a.b" + "c" -> "a.b.c" (newly allocated; "" + "c" -> "c"). */
char *cfg_path_join(const char *path, const char *key);

#endif

/* json_file: reads a JSON file with a size limit and gets typed values out of it with
 * messages naming the file and the key ("unet/config.json: key 'layers_per_block' must be an
 * integer between 1 and 64, got 2.5"). */
#ifndef MDH_FORMATS_JSON_FILE_H
#define MDH_FORMATS_JSON_FILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness/util/herr.h"

/* Reads and parses the whole file (at most max_bytes; a leading UTF-8 BOM is skipped). Parse
 * errors give line:column of where parsing stopped. The caller frees the tree with cJSON_Delete. */
cJSON *jf_read(const char *path, size_t max_bytes, herr *e);

/* Getters. `obj` must be a JSON object (anything else is an error naming `file`); `file` only
 * labels messages. When a key appears twice the last one counts, as in Python's json. A key
 * that is absent or null is "absent": with `required` that is an error, otherwise *out gets
 * `def`. Range bounds are inclusive; pass LLONG_MIN/LLONG_MAX or -HUGE_VAL/HUGE_VAL for none.
 * All return 0 or -1. */
int jf_get_int(const cJSON *obj, const char *file, const char *key, bool required, long long def, long long min,
               long long max, long long *out, herr *e);
int jf_get_double(const cJSON *obj, const char *file, const char *key, bool required, double def, double min,
                  double max, double *out, herr *e);
int jf_get_bool(const cJSON *obj, const char *file, const char *key, bool required, bool def, bool *out, herr *e);
/* *out points into the cJSON tree (or is `def`, which may be NULL). */
int jf_get_string(const cJSON *obj, const char *file, const char *key, bool required, const char *def,
                  const char **out, herr *e);
/* A nested object (or NULL when absent and not required). */
int jf_get_object(const cJSON *obj, const char *file, const char *key, bool required, const cJSON **out, herr *e);

/* Arrays: the key is required; at most `max` entries are accepted, *n gets the count. String
 * pointers point into the tree. */
int jf_get_int_array(const cJSON *obj, const char *file, const char *key, long long *out, size_t max, size_t *n,
                     herr *e);
int jf_get_double_array(const cJSON *obj, const char *file, const char *key, double *out, size_t max, size_t *n,
                        herr *e);
int jf_get_string_array(const cJSON *obj, const char *file, const char *key, const char **out, size_t max,
                        size_t *n, herr *e);

/* "An int or a list of ints" (diffusers: attention_head_dim: 8 or [5, 10, 20, 20]): fills
 * out[0..n) with a scalar repeated n times (or `def` when absent and not required), or with a
 * list that must have exactly n entries. Every value must lie in [min, max]. */
int jf_get_int_or_array(const cJSON *obj, const char *file, const char *key, bool required, long long def,
                        long long min, long long max, long long *out, size_t n, herr *e);

/* The value of `key` when present and not null (the last one when repeated), else NULL. */
const cJSON *jf_item(const cJSON *obj, const char *key);
bool jf_has(const cJSON *obj, const char *key);

#endif

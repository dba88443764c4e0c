/* json_file: bounded JSON file reading and typed getters whose messages name file and key. */
#include "harness/formats/json_file.h"

#include "harness/util/fsutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers beyond 2^53 are not exact in cJSON's double, so they are not accepted as integers. */
#define JF_EXACT_INT 9007199254740992.0

cJSON *jf_read(const char *path, size_t max_bytes, herr *e) {
  if (fs_is_dir(path)) {
    herr_set(e, "%s: is a directory, expected a JSON file", path);
    return NULL;
  }
  size_t len = 0;
  char *buf = fs_read_file_max(path, max_bytes, &len, e);
  if (!buf) return NULL;
  const char *text = buf;
  size_t tlen = len;
  if (tlen >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    text += 3;
    tlen -= 3;
  }
  if (memchr(text, '\0', tlen)) {
    herr_set(e, "%s: file contains a NUL byte, expected JSON text", path);
    free(buf);
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!root) {
    const char *at = end ? end : cJSON_GetErrorPtr();
    if (!at || at < text || at > text + tlen) at = text;
    size_t line = 1, col = 1;
    for (const char *p = text; p < at; p++) {
      if (*p == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    if (tlen == 0 || strspn(text, " \t\r\n") == tlen) {
      herr_set(e, "%s: file is empty, expected JSON", path);
    } else if (at >= text + tlen) {
      herr_set(e, "%s:%zu:%zu: invalid JSON: unexpected end of file", path, line, col);
    } else {
      size_t k = strcspn(at, "\r\n");
      if (k > 24) k = 24;
      herr_set(e, "%s:%zu:%zu: invalid JSON near '%.*s'", path, line, col, (int)k, at);
    }
  }
  free(buf);
  return root;
}

const cJSON *jf_item(const cJSON *obj, const char *key) {
  if (!cJSON_IsObject(obj)) return NULL;
  const cJSON *hit = NULL;
  for (const cJSON *c = obj->child; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) hit = c;
  return hit && !cJSON_IsNull(hit) ? hit : NULL;
}

bool jf_has(const cJSON *obj, const char *key) { return jf_item(obj, key) != NULL; }

/* The value as it appears in the file, cut short, for "got ..." in messages. */
static void describe(const cJSON *v, char *buf, size_t cap) {
  char *s = v ? cJSON_PrintUnformatted(v) : NULL;
  if (!s) {
    snprintf(buf, cap, "%s", v ? "?" : "nothing");
    return;
  }
  if (strlen(s) > 60)
    snprintf(buf, cap, "%.57s...", s);
  else
    snprintf(buf, cap, "%s", s);
  free(s);
}

static void range_text(long long min, long long max, char *buf, size_t cap) {
  if (min != LLONG_MIN && max != LLONG_MAX)
    snprintf(buf, cap, " between %lld and %lld", min, max);
  else if (min != LLONG_MIN)
    snprintf(buf, cap, " >= %lld", min);
  else if (max != LLONG_MAX)
    snprintf(buf, cap, " <= %lld", max);
  else
    buf[0] = '\0';
}

/* The shortest of %.15g / %.17g that reads back as the same double (0.1, not 0.10000000000000001). */
static void shortest(double v, char *buf, size_t cap) {
  snprintf(buf, cap, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, cap, "%.17g", v);
}

static void drange_text(double min, double max, char *buf, size_t cap) {
  bool lo = isfinite(min), hi = isfinite(max);
  char a[32], b[32];
  shortest(min, a, sizeof a);
  shortest(max, b, sizeof b);
  if (lo && hi)
    snprintf(buf, cap, " between %s and %s", a, b);
  else if (lo)
    snprintf(buf, cap, " >= %s", a);
  else if (hi)
    snprintf(buf, cap, " <= %s", b);
  else
    buf[0] = '\0';
}

/* Common start of every getter: `obj` must be an object; *v is the value or NULL when absent. */
static int lookup(const cJSON *obj, const char *file, const char *key, bool required, const char *what,
                  const cJSON **v, herr *e) {
  if (!cJSON_IsObject(obj)) return herr_set(e, "%s: expected a JSON object holding key '%s'", file, key);
  *v = jf_item(obj, key);
  if (!*v && required) {
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(obj, key);
    return herr_set(e, "%s: key '%s' (%s) is %s", file, key, what, raw ? "null" : "missing");
  }
  return 0;
}

static bool as_int(const cJSON *v, long long *out) {
  if (!cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!isfinite(d) || floor(d) != d || fabs(d) > JF_EXACT_INT) return false;
  *out = (long long)d;
  return true;
}

static int int_value(const cJSON *v, const char *file, const char *key, const char *where, long long min,
                     long long max, long long *out, herr *e) {
  long long x;
  if (!as_int(v, &x) || x < min || x > max) {
    char r[96], got[80];
    range_text(min, max, r, sizeof r);
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s'%s must be an integer%s, got %s", file, key, where, r, got);
  }
  *out = x;
  return 0;
}

int jf_get_int(const cJSON *obj, const char *file, const char *key, bool required, long long def, long long min,
               long long max, long long *out, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "an integer", &v, e)) return -1;
  if (!v) {
    *out = def;
    return 0;
  }
  return int_value(v, file, key, "", min, max, out, e);
}

static int double_value(const cJSON *v, const char *file, const char *key, const char *where, double min,
                        double max, double *out, herr *e) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max)) {
    char r[96], got[80];
    drange_text(min, max, r, sizeof r);
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s'%s must be a number%s, got %s", file, key, where, r, got);
  }
  *out = v->valuedouble;
  return 0;
}

int jf_get_double(const cJSON *obj, const char *file, const char *key, bool required, double def, double min,
                  double max, double *out, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "a number", &v, e)) return -1;
  if (!v) {
    *out = def;
    return 0;
  }
  return double_value(v, file, key, "", min, max, out, e);
}

int jf_get_bool(const cJSON *obj, const char *file, const char *key, bool required, bool def, bool *out, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "true or false", &v, e)) return -1;
  if (!v) {
    *out = def;
    return 0;
  }
  if (!cJSON_IsBool(v)) {
    char got[80];
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s' must be true or false, got %s", file, key, got);
  }
  *out = cJSON_IsTrue(v);
  return 0;
}

int jf_get_string(const cJSON *obj, const char *file, const char *key, bool required, const char *def,
                  const char **out, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "a string", &v, e)) return -1;
  if (!v) {
    *out = def;
    return 0;
  }
  if (!cJSON_IsString(v)) {
    char got[80];
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s' must be a string, got %s", file, key, got);
  }
  *out = v->valuestring;
  return 0;
}

int jf_get_object(const cJSON *obj, const char *file, const char *key, bool required, const cJSON **out, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "an object", &v, e)) return -1;
  if (v && !cJSON_IsObject(v)) {
    char got[80];
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s' must be an object, got %s", file, key, got);
  }
  *out = v;
  return 0;
}

/* The array under `key`, required, with at most `max` entries. */
static int get_array(const cJSON *obj, const char *file, const char *key, const char *what, size_t max,
                     const cJSON **arr, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, true, what, &v, e)) return -1;
  if (!cJSON_IsArray(v)) {
    char got[80];
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s' must be %s, got %s", file, key, what, got);
  }
  size_t count = (size_t)cJSON_GetArraySize(v);
  if (count > max)
    return herr_set(e, "%s: key '%s' has %zu entries, at most %zu are supported", file, key, count, max);
  *arr = v;
  return 0;
}

int jf_get_int_array(const cJSON *obj, const char *file, const char *key, long long *out, size_t max, size_t *n,
                     herr *e) {
  const cJSON *arr;
  if (get_array(obj, file, key, "a list of integers", max, &arr, e)) return -1;
  size_t i = 0;
  for (const cJSON *c = arr->child; c; c = c->next, i++) {
    char where[32];
    snprintf(where, sizeof where, "[%zu]", i);
    if (int_value(c, file, key, where, LLONG_MIN, LLONG_MAX, &out[i], e)) return -1;
  }
  *n = i;
  return 0;
}

int jf_get_double_array(const cJSON *obj, const char *file, const char *key, double *out, size_t max, size_t *n,
                        herr *e) {
  const cJSON *arr;
  if (get_array(obj, file, key, "a list of numbers", max, &arr, e)) return -1;
  size_t i = 0;
  for (const cJSON *c = arr->child; c; c = c->next, i++) {
    char where[32];
    snprintf(where, sizeof where, "[%zu]", i);
    if (double_value(c, file, key, where, -HUGE_VAL, HUGE_VAL, &out[i], e)) return -1;
  }
  *n = i;
  return 0;
}

int jf_get_string_array(const cJSON *obj, const char *file, const char *key, const char **out, size_t max,
                        size_t *n, herr *e) {
  const cJSON *arr;
  if (get_array(obj, file, key, "a list of strings", max, &arr, e)) return -1;
  size_t i = 0;
  for (const cJSON *c = arr->child; c; c = c->next, i++) {
    if (!cJSON_IsString(c)) {
      char got[80];
      describe(c, got, sizeof got);
      return herr_set(e, "%s: key '%s'[%zu] must be a string, got %s", file, key, i, got);
    }
    out[i] = c->valuestring;
  }
  *n = i;
  return 0;
}

int jf_get_int_or_array(const cJSON *obj, const char *file, const char *key, bool required, long long def,
                        long long min, long long max, long long *out, size_t n, herr *e) {
  const cJSON *v;
  if (lookup(obj, file, key, required, "an integer or a list of integers", &v, e)) return -1;
  if (!v || cJSON_IsNumber(v)) {
    long long x = def;
    if (v && int_value(v, file, key, "", min, max, &x, e)) return -1;
    for (size_t i = 0; i < n; i++) out[i] = x;
    return 0;
  }
  if (!cJSON_IsArray(v)) {
    char got[80];
    describe(v, got, sizeof got);
    return herr_set(e, "%s: key '%s' must be an integer or a list of %zu integers, got %s", file, key, n, got);
  }
  size_t count = (size_t)cJSON_GetArraySize(v);
  if (count != n)
    return herr_set(e, "%s: key '%s' must be an integer or a list of %zu integers, got a list of %zu",
                    file, key, n, count);
  size_t i = 0;
  for (const cJSON *c = v->child; c; c = c->next, i++) {
    char where[32];
    snprintf(where, sizeof where, "[%zu]", i);
    if (int_value(c, file, key, where, min, max, &out[i], e)) return -1;
  }
  return 0;
}

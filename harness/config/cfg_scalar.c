/* Scalar meaning under the YAML 1.2 core schema and the typed reads built on it
 * (cfg_as_* and cfg_*_at), with errors that say what was expected and what was found. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/util/numfmt.h"
#include "harness/config/cfg_internal.h"

static bool all_in(const char *s, const char *set) {
  if (!*s) return false;
  for (; *s; s++)
    if (!strchr(set, *s)) return false;
  return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_int_text(const char *s) {
  if (strncmp(s, "0x", 2) == 0) return all_in(s + 2, "0123456789abcdefABCDEF");
  if (strncmp(s, "0o", 2) == 0) return all_in(s + 2, "01234567");
  if (*s == '-' || *s == '+') s++;
  return all_in(s, "0123456789");
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? ) ( [eE][-+]?[0-9]+ )? */
static bool is_float_text(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (strcmp(s, ".inf") == 0 || strcmp(s, ".Inf") == 0 || strcmp(s, ".INF") == 0) return true;
  size_t int_digits = 0, frac_digits = 0;
  while (is_digit(*s)) s++, int_digits++;
  if (*s == '.') {
    s++;
    while (is_digit(*s)) s++, frac_digits++;
    if (int_digits == 0 && frac_digits == 0) return false;
  } else if (int_digits == 0) {
    return false;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '-' || *s == '+') s++;
    if (!is_digit(*s)) return false;
    while (is_digit(*s)) s++;
  }
  return *s == '\0';
}

static bool is_nan_text(const char *s) {
  return strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0;
}

cfg_type cfg_resolve_plain(const char *s) {
  if (!*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
      strcmp(s, "NULL") == 0)
    return CFG_T_NULL;
  if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
      strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
    return CFG_T_BOOL;
  if (is_int_text(s)) return CFG_T_INT;
  if (is_float_text(s) || is_nan_text(s)) return CFG_T_FLOAT;
  return CFG_T_STR;
}

cfg_type cfg_scalar_type(const cfg_node *n) {
  if (!n || n->kind != CFG_SCALAR || n->quoted) return CFG_T_STR;
  return cfg_resolve_plain(n->str);
}

int cfg_parse_int(const char *s, long long *out) {
  errno = 0;
  char *end = NULL;
  long long v;
  if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0) {
    unsigned long long u = strtoull(s + 2, &end, s[1] == 'x' ? 16 : 8);
    if (errno == ERANGE || u > (unsigned long long)9223372036854775807LL) return -1;
    v = (long long)u;
  } else {
    v = strtoll(s, &end, 10);
    if (errno == ERANGE) return -1;
  }
  *out = v;
  return 0;
}

double cfg_parse_number(const char *s) {
  const char *p = s;
  bool neg = false;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (p[0] == '.' && (p[1] == 'i' || p[1] == 'I')) return neg ? -INFINITY : INFINITY;
  if (is_nan_text(s)) return NAN;
  if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0)
    return (double)strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
  return strtod(s, NULL);
}

const char *cfg_format_double(double v, char *buf, size_t size) { return fmt_double(v, buf, size); }

void cfg_describe(const cfg_node *n, char *buf, size_t size) {
  if (!n) {
    snprintf(buf, size, "nothing");
    return;
  }
  if (n->kind == CFG_MAP) {
    snprintf(buf, size, "a map");
    return;
  }
  if (n->kind == CFG_SEQ) {
    snprintf(buf, size, "a list");
    return;
  }
  if (!n->quoted && cfg_resolve_plain(n->str) == CFG_T_NULL) {
    snprintf(buf, size, "null");
    return;
  }
  if (n->str[0] == '\0') {
    snprintf(buf, size, "an empty string");
    return;
  }
  /* Long values are cut so the message stays one readable line. */
  const size_t max = 60;
  size_t len = strlen(n->str);
  const char *what = n->quoted && cfg_resolve_plain(n->str) != CFG_T_STR ? "the string " : "";
  if (len > max)
    snprintf(buf, size, "%s'%.*s...'", what, (int)max, n->str);
  else
    snprintf(buf, size, "%s'%s'", what, n->str);
}

static int type_error(const cfg_node *n, const char *path, const char *expected, herr *e) {
  char got[128];
  cfg_describe(n, got, sizeof got);
  return cfg_errf(e, n->loc, path, "expected %s, got %s", expected, got);
}

static int as_int(const cfg_node *n, const char *path, long long *out, herr *e) {
  if (cfg_scalar_type(n) != CFG_T_INT || n->kind != CFG_SCALAR)
    return type_error(n, path, "an integer", e);
  if (cfg_parse_int(n->str, out) != 0)
    return cfg_errf(e, n->loc, path, "expected an integer that fits in 64 bits, got '%s'", n->str);
  return 0;
}

static int as_double(const cfg_node *n, const char *path, double *out, herr *e) {
  cfg_type t = cfg_scalar_type(n);
  if (n->kind != CFG_SCALAR || (t != CFG_T_INT && t != CFG_T_FLOAT))
    return type_error(n, path, "a number", e);
  *out = cfg_parse_number(n->str);
  return 0;
}

static int as_bool(const cfg_node *n, const char *path, bool *out, herr *e) {
  if (n->kind != CFG_SCALAR || cfg_scalar_type(n) != CFG_T_BOOL)
    return type_error(n, path, "true or false", e);
  *out = n->str[0] == 't' || n->str[0] == 'T';
  return 0;
}

static int as_str(const cfg_node *n, const char *path, const char **out, herr *e) {
  if (n->kind != CFG_SCALAR) return type_error(n, path, "a scalar", e);
  *out = n->str;
  return 0;
}

int cfg_as_int(const cfg_node *n, long long *out, herr *e) { return as_int(n, NULL, out, e); }
int cfg_as_double(const cfg_node *n, double *out, herr *e) { return as_double(n, NULL, out, e); }
int cfg_as_bool(const cfg_node *n, bool *out, herr *e) { return as_bool(n, NULL, out, e); }
int cfg_as_str(const cfg_node *n, const char **out, herr *e) { return as_str(n, NULL, out, e); }

/* The node at path, or an error at the deepest node that exists on the way. */
static const cfg_node *at(const cfg_node *root, const char *path, herr *e) {
  const cfg_node *n = cfg_get(root, path);
  if (n) return n;
  char *prefix = cfg_xstrdup(path);
  const cfg_node *parent = root;
  for (char *dot = strrchr(prefix, '.'); dot; dot = strrchr(prefix, '.')) {
    *dot = '\0';
    const cfg_node *p = cfg_get(root, prefix);
    if (p) {
      parent = p;
      break;
    }
  }
  free(prefix);
  cfg_errf(e, parent ? parent->loc : (cfg_loc){"<unknown>", 0, 0}, path, "missing key");
  return NULL;
}

int cfg_int_at(const cfg_node *root, const char *path, long long *out, herr *e) {
  const cfg_node *n = at(root, path, e);
  return n ? as_int(n, path, out, e) : -1;
}

int cfg_double_at(const cfg_node *root, const char *path, double *out, herr *e) {
  const cfg_node *n = at(root, path, e);
  return n ? as_double(n, path, out, e) : -1;
}

int cfg_bool_at(const cfg_node *root, const char *path, bool *out, herr *e) {
  const cfg_node *n = at(root, path, e);
  return n ? as_bool(n, path, out, e) : -1;
}

int cfg_str_at(const cfg_node *root, const char *path, const char **out, herr *e) {
  const cfg_node *n = at(root, path, e);
  return n ? as_str(n, path, out, e) : -1;
}

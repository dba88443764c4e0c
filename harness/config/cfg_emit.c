/* Writing a config tree: block YAML that reads back to an equal tree, and the canonical JSON
 * text that hashing and equality are defined by. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/cfg.h"
#include "harness/config/cfg_internal.h"
#include "harness/util/strbuf.h"

/* ---- YAML ---- */

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Conservative: a text is written plain only when no YAML indicator could change how it reads
 * back; everything else is double-quoted, which is always safe. */
static bool plain_safe(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || s[n - 1] == ' ') return false;
  if (strncmp(s, "---", 3) == 0 || strncmp(s, "...", 3) == 0) return false;
  char c0 = s[0];
  if (!(is_alnum(c0) || strchr("_./~$(+", c0) || (c0 == '-' && s[1] && s[1] != ' ')))
    return false;
  for (const char *p = s; *p; p++)
    if (!is_alnum(*p) && !strchr("_.-+/~$=()^;<> ,", *p)) return false;
  return true;
}

static void append_yaml_quoted(strbuf *sb, const char *s) {
  strbuf q = STRBUF_INIT;
  sb_append_quoted(&q, s);
  /* libyaml folds U+0085, U+2028 and U+2029 as line breaks inside quotes: escape them. */
  const char *t = sb_str(&q);
  for (size_t i = 0; t[i]; i++) {
    const unsigned char *u = (const unsigned char *)t + i;
    if (u[0] == 0xC2 && u[1] == 0x85) {
      sb_append(sb, "\\N");
      i += 1;
    } else if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9)) {
      sb_append(sb, u[2] == 0xA8 ? "\\L" : "\\P");
      i += 2;
    } else if (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
      sb_append(sb, "\\uFEFF");
      i += 2;
    } else {
      sb_append_char(sb, t[i]);
    }
  }
  sb_free(&q);
}

static void emit_scalar(strbuf *sb, const cfg_node *n) {
  cfg_type plain_type = cfg_resolve_plain(n->str);
  if (!n->quoted && plain_type == CFG_T_NULL && n->str[0] == '\0') {
    sb_append(sb, "null");
    return;
  }
  bool plain = plain_safe(n->str) && (!n->quoted || plain_type == CFG_T_STR);
  if (plain)
    sb_append(sb, n->str);
  else
    append_yaml_quoted(sb, n->str);
}

/* Keys are text; quoting those that look like other types keeps other YAML readers honest. */
static void emit_key(strbuf *sb, const char *key) {
  if (plain_safe(key) && cfg_resolve_plain(key) == CFG_T_STR)
    sb_append(sb, key);
  else
    append_yaml_quoted(sb, key);
}

static void pad(strbuf *sb, int indent) {
  for (int i = 0; i < indent; i++) sb_append_char(sb, ' ');
}

static bool inline_value(const cfg_node *n) { return n->kind == CFG_SCALAR || n->len == 0; }

static void emit_inline(strbuf *sb, const cfg_node *n) {
  if (n->kind == CFG_SCALAR)
    emit_scalar(sb, n);
  else
    sb_append(sb, n->kind == CFG_MAP ? "{}" : "[]");
}

static void emit_seq(strbuf *sb, const cfg_node *n, int indent, bool first_inline);

/* first_inline: the cursor already stands at `indent` (after "- "). */
static void emit_map(strbuf *sb, const cfg_node *n, int indent, bool first_inline) {
  for (size_t i = 0; i < n->len; i++) {
    if (i > 0 || !first_inline) pad(sb, indent);
    emit_key(sb, n->keys[i]);
    sb_append_char(sb, ':');
    const cfg_node *v = n->items[i];
    if (inline_value(v)) {
      sb_append_char(sb, ' ');
      emit_inline(sb, v);
      sb_append_char(sb, '\n');
    } else {
      sb_append_char(sb, '\n');
      if (v->kind == CFG_MAP)
        emit_map(sb, v, indent + 2, false);
      else
        emit_seq(sb, v, indent + 2, false);
    }
  }
}

static void emit_seq(strbuf *sb, const cfg_node *n, int indent, bool first_inline) {
  for (size_t i = 0; i < n->len; i++) {
    if (i > 0 || !first_inline) pad(sb, indent);
    sb_append(sb, "- ");
    const cfg_node *v = n->items[i];
    if (inline_value(v)) {
      emit_inline(sb, v);
      sb_append_char(sb, '\n');
    } else if (v->kind == CFG_MAP) {
      emit_map(sb, v, indent + 2, true);
    } else {
      emit_seq(sb, v, indent + 2, true);
    }
  }
}

char *cfg_to_yaml(const cfg_node *n) {
  strbuf sb = STRBUF_INIT;
  if (inline_value(n)) {
    emit_inline(&sb, n);
    sb_append_char(&sb, '\n');
  } else if (n->kind == CFG_MAP) {
    emit_map(&sb, n, 0, false);
  } else {
    emit_seq(&sb, n, 0, false);
  }
  return sb_take(&sb);
}

/* ---- canonical JSON ---- */

static void canon_float(strbuf *sb, double v) {
  if (isnan(v)) {
    sb_append(sb, "{\"$float\":\"nan\"}");
    return;
  }
  if (isinf(v)) {
    sb_append(sb, v > 0 ? "{\"$float\":\"inf\"}" : "{\"$float\":\"-inf\"}");
    return;
  }
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    sb_appendf(sb, "%lld", (long long)v);
    return;
  }
  char buf[32];
  sb_append(sb, cfg_format_double(v, buf, sizeof buf));
}

/* Decimal digits of an int too big for long long, without sign noise or leading zeros. */
static void canon_big_int(strbuf *sb, const char *s) {
  if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0) {
    sb_append(sb, "{\"$int\":");
    sb_append_quoted(sb, s);
    sb_append_char(sb, '}');
    return;
  }
  if (*s == '-') sb_append_char(sb, '-');
  if (*s == '-' || *s == '+') s++;
  while (s[0] == '0' && s[1]) s++;
  sb_append(sb, s);
}

static void canon_scalar(strbuf *sb, const cfg_node *n) {
  long long iv;
  switch (cfg_scalar_type(n)) {
    case CFG_T_NULL: sb_append(sb, "null"); break;
    case CFG_T_BOOL: sb_append(sb, n->str[0] == 't' || n->str[0] == 'T' ? "true" : "false"); break;
    case CFG_T_INT:
      if (cfg_parse_int(n->str, &iv) == 0)
        sb_appendf(sb, "%lld", iv);
      else
        canon_big_int(sb, n->str);
      break;
    case CFG_T_FLOAT: canon_float(sb, cfg_parse_number(n->str)); break;
    case CFG_T_STR: sb_append_quoted(sb, n->str); break;
  }
}

typedef struct keyed {
  const char *key;
  const cfg_node *item;
} keyed;

static int cmp_keys(const void *a, const void *b) {
  return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

static void canon(strbuf *sb, const cfg_node *n) {
  if (n->kind == CFG_SCALAR) {
    canon_scalar(sb, n);
    return;
  }
  if (n->kind == CFG_SEQ) {
    sb_append_char(sb, '[');
    for (size_t i = 0; i < n->len; i++) {
      if (i) sb_append_char(sb, ',');
      canon(sb, n->items[i]);
    }
    sb_append_char(sb, ']');
    return;
  }
  keyed *order = cfg_xcalloc(n->len, sizeof *order);
  for (size_t i = 0; i < n->len; i++) order[i] = (keyed){n->keys[i], n->items[i]};
  qsort(order, n->len, sizeof *order, cmp_keys);
  sb_append_char(sb, '{');
  for (size_t i = 0; i < n->len; i++) {
    if (i) sb_append_char(sb, ',');
    /* A user key starting with '$' gets one more, so {"$float": "inf"} stays apart from .inf. */
    if (order[i].key[0] == '$') {
      strbuf k = STRBUF_INIT;
      sb_append_char(&k, '$');
      sb_append(&k, order[i].key);
      sb_append_quoted(sb, sb_str(&k));
      sb_free(&k);
    } else {
      sb_append_quoted(sb, order[i].key);
    }
    sb_append_char(sb, ':');
    canon(sb, order[i].item);
  }
  sb_append_char(sb, '}');
  free(order);
}

char *cfg_canonical(const cfg_node *n) {
  strbuf sb = STRBUF_INIT;
  canon(&sb, n);
  return sb_take(&sb);
}

bool cfg_equal(const cfg_node *a, const cfg_node *b) {
  if (!a || !b) return a == b;
  char *ca = cfg_canonical(a), *cb = cfg_canonical(b);
  bool eq = strcmp(ca, cb) == 0;
  free(ca);
  free(cb);
  return eq;
}

/* strbuf: growable strings; allocation failure aborts (there is no sane recovery). */
#include "harness/util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sb_reserve(strbuf *sb, size_t extra) {
  size_t need = sb->len + extra + 1;
  if (need <= sb->cap) return;
  size_t cap = sb->cap ? sb->cap : 64;
  while (cap < need) cap *= 2;
  char *p = realloc(sb->data, cap);
  if (!p) {
    fprintf(stderr, "harness: out of memory\n");
    abort();
  }
  sb->data = p;
  sb->cap = cap;
}

void sb_append_n(strbuf *sb, const char *s, size_t n) {
  sb_reserve(sb, n);
  memcpy(sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void sb_append(strbuf *sb, const char *s) { sb_append_n(sb, s, strlen(s)); }

void sb_append_char(strbuf *sb, char c) { sb_append_n(sb, &c, 1); }

void sb_appendf(strbuf *sb, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(ap2);
    return;
  }
  sb_reserve(sb, (size_t)n);
  vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  sb->len += (size_t)n;
}

void sb_append_quoted(strbuf *sb, const char *s) {
  sb_append_char(sb, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': sb_append(sb, "\\\""); break;
      case '\\': sb_append(sb, "\\\\"); break;
      case '\n': sb_append(sb, "\\n"); break;
      case '\r': sb_append(sb, "\\r"); break;
      case '\t': sb_append(sb, "\\t"); break;
      default:
        if (*p < 0x20 || *p == 0x7f)
          sb_appendf(sb, "\\u%04x", *p);
        else
          sb_append_char(sb, (char)*p);
    }
  }
  sb_append_char(sb, '"');
}

char *sb_take(strbuf *sb) {
  char *s = sb->data;
  if (!s) {
    s = malloc(1);
    if (!s) abort();
    s[0] = '\0';
  }
  sb->data = NULL;
  sb->len = sb->cap = 0;
  return s;
}

void sb_free(strbuf *sb) {
  free(sb->data);
  sb->data = NULL;
  sb->len = sb->cap = 0;
}

const char *sb_str(const strbuf *sb) { return sb->data ? sb->data : ""; }

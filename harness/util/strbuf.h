/* Growable NUL-terminated string: the one string builder of the harness. */
#ifndef MDH_STRBUF_H
#define MDH_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
  char *data; /* always NUL-terminated once anything was appended; NULL when empty */
  size_t len;
  size_t cap;
} strbuf;

#define STRBUF_INIT {NULL, 0, 0}

void sb_append(strbuf *sb, const char *s);
void sb_append_n(strbuf *sb, const char *s, size_t n);
void sb_appendf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_append_char(strbuf *sb, char c);
/* Appends s as a JSON/YAML double-quoted string with escapes. */
void sb_append_quoted(strbuf *sb, const char *s);
/* Hands the buffer to the caller (never NULL: "" when empty) and resets sb. */
char *sb_take(strbuf *sb);
void sb_free(strbuf *sb);
/* The text so far (never NULL). */
const char *sb_str(const strbuf *sb);

#endif

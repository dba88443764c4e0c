/* Unicode helpers for the CLIP text path: strict UTF-8 decoding/encoding, the character classes
 * transformers' BasicTokenizer and Python's str methods use, str.lower() and NFC. */
#ifndef MDH_TEXT_UNICODE_H
#define MDH_TEXT_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"
#include "harness/util/strbuf.h"

/* Growable array of code points. */
typedef struct u32vec {
  uint32_t *v;
  size_t n, cap;
} u32vec;

void u32_push(u32vec *a, uint32_t c);
void u32_free(u32vec *a);

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF). Appends to out; on bad input
 * returns -1 naming `what` and the byte offset. */
int utf8_decode(const char *s, size_t n, u32vec *out, const char *what, herr *e);
void utf8_append(strbuf *sb, uint32_t cp);
/* The UTF-8 byte length of the code point (1..4). */
size_t utf8_len(uint32_t cp);

bool uni_is_category_c(uint32_t cp);   /* general category C* (Cc Cf Cn Co Cs) */
bool uni_is_zs(uint32_t cp);           /* general category Zs */
bool uni_is_pyspace(uint32_t cp);      /* Python str.isspace() */
bool uni_is_cjk(uint32_t cp);          /* BasicTokenizer's "Chinese character" blocks */

/* Python str.lower() over the whole array (full mappings, Final_Sigma), appended to out. */
void uni_lower(const uint32_t *in, size_t n, u32vec *out);
/* unicodedata.normalize("NFC", ...) appended to out. */
void uni_nfc(const uint32_t *in, size_t n, u32vec *out);

#endif

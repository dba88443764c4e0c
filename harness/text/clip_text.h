/* CLIP's text normalisation without ftfy: transformers' BasicTokenizer(strip_accents=False,
 * do_split_on_punc=False), i.e. drop control characters, space out CJK, NFC, split on whitespace,
 * lower-case each word, join with single spaces. */
#ifndef MDH_TEXT_CLIP_TEXT_H
#define MDH_TEXT_CLIP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/strbuf.h"

/* Appends the normalised words of in[0..n) to out as UTF-8, separated by single spaces. */
void clip_basic_normalize(const uint32_t *in, size_t n, strbuf *out);

#endif

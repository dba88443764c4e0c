/* GPT-2/CLIP byte-level BPE: the byte -> printable-character map and the merge loop over one
 * pre-token, with "</w>" marking the end of the word. */
#ifndef MDH_TEXT_CLIP_BPE_H
#define MDH_TEXT_CLIP_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/text/str_map.h"

typedef struct bpe_byte_char {
  char s[3]; /* UTF-8 of the character standing for the byte */
  uint8_t n;
} bpe_byte_char;

/* bytes_to_unicode(): printable Latin-1 bytes map to themselves, the rest to U+0100 onwards. */
void bpe_byte_table(bpe_byte_char out[256]);

/* Callback for each resulting BPE symbol; a non-zero return stops and is returned. */
typedef int (*bpe_emit_fn)(void *ctx, const char *sym, size_t len);

/* BPE of the byte-mapped word w (UTF-8, n > 0) under `ranks` (keys "first second"). */
int bpe_word(const str_map *ranks, const char *w, size_t n, bpe_emit_fn emit, void *ctx);

#endif

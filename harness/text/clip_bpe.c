/* Byte-level BPE as CLIPTokenizer.bpe does it: repeatedly merge every occurrence (left to right)
 * of the adjacent pair with the lowest merge rank until no ranked pair is left. */
#include "harness/text/clip_bpe.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void bpe_byte_table(bpe_byte_char out[256]) {
  bool printable[256] = {false};
  for (int b = '!'; b <= '~'; b++) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
  int next = 256;
  for (int b = 0; b < 256; b++) {
    int cp = printable[b] ? b : next++;
    if (cp < 0x80) {
      out[b].s[0] = (char)cp;
      out[b].n = 1;
    } else {
      out[b].s[0] = (char)(0xC0 | (cp >> 6));
      out[b].s[1] = (char)(0x80 | (cp & 0x3F));
      out[b].n = 2;
    }
  }
}

typedef struct sym {
  size_t off, len;
} sym;

static size_t utf8_char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

int bpe_word(const str_map *ranks, const char *w, size_t n, bpe_emit_fn emit, void *ctx) {
  /* Symbols are spans of s = w + "</w>"; the last character's symbol owns the "</w>". */
  char *s = malloc(n + 5);
  sym *syms = malloc((n + 1) * sizeof *syms);
  char *key = malloc(2 * (n + 4) + 2);
  if (!s || !syms || !key) abort();
  memcpy(s, w, n);
  memcpy(s + n, "</w>", 5);
  size_t ns = 0;
  for (size_t i = 0; i < n;) {
    size_t l = utf8_char_len((unsigned char)w[i]);
    if (i + l > n) l = n - i;
    syms[ns++] = (sym){i, l};
    i += l;
  }
  syms[ns - 1].len += 4;

  while (ns > 1) {
    int64_t best = -1;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
      memcpy(key, s + syms[i].off, syms[i].len);
      key[syms[i].len] = ' ';
      memcpy(key + syms[i].len + 1, s + syms[i + 1].off, syms[i + 1].len);
      int64_t r = smap_get(ranks, key, syms[i].len + 1 + syms[i + 1].len);
      if (r >= 0 && (best < 0 || r < best)) {
        best = r;
        best_i = i;
      }
    }
    if (best < 0) break;
    /* Merge every non-overlapping occurrence of the best pair, scanning left to right. */
    sym first = syms[best_i], second = syms[best_i + 1];
    size_t k = 0;
    for (size_t i = 0; i < ns;) {
      if (i + 1 < ns && syms[i].len == first.len && syms[i + 1].len == second.len &&
          memcmp(s + syms[i].off, s + first.off, first.len) == 0 &&
          memcmp(s + syms[i + 1].off, s + second.off, second.len) == 0) {
        syms[k++] = (sym){syms[i].off, syms[i].len + syms[i + 1].len};
        i += 2;
      } else {
        syms[k++] = syms[i++];
      }
    }
    ns = k;
  }
  int rc = 0;
  for (size_t i = 0; i < ns && !rc; i++) rc = emit(ctx, s + syms[i].off, syms[i].len);
  free(s);
  free(syms);
  free(key);
  return rc;
}

/* The "no-split" token trie of transformers 4.33 (tokenization_utils.Trie): special and added
 * tokens are cut out of the text before BPE with its exact leftmost/longest-match behaviour. */
#ifndef MDH_TEXT_NOSPLIT_TRIE_H
#define MDH_TEXT_NOSPLIT_TRIE_H

#include <stddef.h>
#include <stdint.h>

typedef struct nosplit_trie nosplit_trie;

typedef struct nst_span {
  size_t start, end; /* code point offsets, end exclusive */
} nst_span;

nosplit_trie *nst_new(void);
void nst_free(nosplit_trie *t);
/* Adds a word (ignored when empty, as the reference does) with a caller tag >= 0; re-adding
 * keeps the first tag. */
void nst_add(nosplit_trie *t, const uint32_t *w, size_t n, int tag);
/* The tag of exactly this word, or -1. */
int nst_lookup(const nosplit_trie *t, const uint32_t *w, size_t n);
/* Cuts text into consecutive non-empty pieces (matched tokens and the text between them);
 * *spans is malloc'ed. */
void nst_split(const nosplit_trie *t, const uint32_t *text, size_t n, nst_span **spans, size_t *n_spans);

#endif

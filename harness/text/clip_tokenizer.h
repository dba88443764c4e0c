/* CLIP BPE tokenizer matching transformers 4.33's slow CLIPTokenizer (loaded with from_pretrained,
 * no ftfy): loads an HF tokenizer folder, takes textual-inversion tokens, encodes prompts to ids. */
#ifndef MDH_TEXT_CLIP_TOKENIZER_H
#define MDH_TEXT_CLIP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

typedef struct tok_clip tok_clip;

/* Loads <dir>/vocab.json and merges.txt (required), tokenizer_config.json and
 * special_tokens_map.json (optional; the map wins, as from_pretrained does) and added_tokens.json
 * (optional). Special tokens not in the vocab get ids after it; every special token (bos, eos,
 * unk, pad, ...) is cut out of the text whole before BPE, so SD2's pad "!" always encodes as 0.
 * NULL on error, with the file and the problem named. */
tok_clip *tok_clip_load(const char *dir, herr *e);
void tok_clip_free(tok_clip *t);

/* Adds a (textual-inversion) token, case-sensitive, matched whole in the text before BPE; its id
 * (vocab size + number added so far) goes to *id_out (may be NULL). Error when the token is empty
 * or already in the vocabulary or added. */
int tok_clip_add_token(tok_clip *t, const char *token, int64_t *id_out, herr *e);

/* tok(text, padding="max_length", max_length=max_len, truncation=True).input_ids: BOS, at most
 * max_len-2 content ids, EOS, then the pad id up to max_len. ids has room for max_len values;
 * max_len 0 means model_max_length. *n_real (may be NULL) = ids before padding, i.e. the number of
 * ones in the attention mask. Invalid UTF-8 is an error. */
int tok_clip_encode(const tok_clip *t, const char *text, int64_t *ids, size_t max_len, size_t *n_real, herr *e);

/* Content ids only: no BOS/EOS, no truncation or padding. *ids_out is malloc'ed (caller frees;
 * NULL when *n_out is 0). */
int tok_clip_encode_raw(const tok_clip *t, const char *text, int64_t **ids_out, size_t *n_out, herr *e);

/* Id of a token string (added tokens first, then the vocab), or -1 when absent. */
int64_t tok_clip_token_id(const tok_clip *t, const char *token);
/* The token string of an id (vocab or added), or NULL. Owned by the tokenizer. */
const char *tok_clip_decode_token(const tok_clip *t, int64_t id);

size_t tok_clip_vocab_size(const tok_clip *t);   /* entries of vocab.json */
size_t tok_clip_n_added(const tok_clip *t);      /* added tokens (len(tokenizer) - vocab size) */
size_t tok_clip_model_max_length(const tok_clip *t); /* 0 when the config gives none */
int64_t tok_clip_bos_id(const tok_clip *t);
int64_t tok_clip_eos_id(const tok_clip *t);
int64_t tok_clip_pad_id(const tok_clip *t);
int64_t tok_clip_unk_id(const tok_clip *t);

#endif

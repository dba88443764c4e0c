/* The CLIP tokenizer's state, shared by its loading (clip_load.c) and encoding
 * (clip_tokenizer.c) halves; not a public header. */
#ifndef MDH_TEXT_CLIP_INTERNAL_H
#define MDH_TEXT_CLIP_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>

#include "harness/text/clip_bpe.h"
#include "harness/text/clip_tokenizer.h"
#include "harness/text/nosplit_trie.h"
#include "harness/text/str_map.h"

/* How a no-split token treats its neighbours in tokenize(): a special token given as an
 * AddedToken uses its flags; plain strings (added tokens, string-valued specials) strip both. */
typedef struct clip_nosplit {
  char *text;
  bool is_added_token;
  bool lstrip, rstrip, single_word;
} clip_nosplit;

/* Special-token slots in transformers' SPECIAL_TOKENS_ATTRIBUTES order. */
enum { CLIP_BOS, CLIP_EOS, CLIP_UNK, CLIP_SEP, CLIP_PAD, CLIP_CLS, CLIP_MASK, CLIP_N_SPECIAL };

typedef struct clip_special {
  char *text; /* NULL: unset */
  bool is_added_token, lstrip, rstrip, single_word;
} clip_special;

struct tok_clip {
  char *dir;
  str_map *vocab; /* token -> id (vocab.json) */
  size_t vocab_size;
  str_map *ranks; /* "first second" -> merge rank */
  str_map *added; /* added token -> id */
  size_t n_added;
  char **names; /* id -> token, NULL where no token has the id */
  size_t n_names;
  nosplit_trie *trie; /* tag = index into nosplit */
  clip_nosplit *nosplit;
  size_t n_nosplit, cap_nosplit;
  clip_special special[CLIP_N_SPECIAL];
  clip_special *extra; /* additional_special_tokens */
  size_t n_extra;
  size_t model_max_length;
  pcre2_code *re;
  bpe_byte_char bytes[256];
};

/* Token string -> id as convert_tokens_to_ids: added tokens, then the vocab, else the unk id
 * (-1 when the unk token has no id either). */
int64_t clip_convert(const tok_clip *t, const char *tok, size_t len);
/* Records id -> name for decoding. */
void clip_set_name(tok_clip *t, int64_t id, const char *tok, size_t len);
/* Adds a no-split token to the trie with its neighbour behaviour. */
int clip_add_nosplit(tok_clip *t, const char *text, bool is_added_token, bool lstrip, bool rstrip,
                     bool single_word, herr *e);

#endif

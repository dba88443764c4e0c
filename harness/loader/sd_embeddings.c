/* sd_embeddings: textual-inversion embeddings applied to a loaded model the way diffusers'
 * load_textual_inversion and maybe_convert_prompt do, so prompts written for diffusers or
 * A1111 work unchanged. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "harness/loader/sd_model.h"
#include "harness/model/embedding_file.h"
#include "harness/util/strbuf.h"

int sd_model_add_token_rows(sd_model *m, const char *token, int64_t n_vectors, int64_t dim, const float *rows,
                            int64_t *first_id, herr *e) {
  int hidden = shim_clip_text_hidden_size(m->text_encoder);
  if (dim != hidden)
    return herr_set(e, "embedding '%s' has vectors of width %lld, but this model's text encoder has %d "
                       "(an embedding trained for %s?)",
                    token, (long long)dim, hidden, dim == 768 ? "SD 1.x" : dim == 1024 ? "SD 2.x" : "another model");
  char **tokens = NULL;
  if (emb_placeholder_tokens(token, n_vectors, &tokens, e)) return -1;
  int rc = 0;
  for (int64_t i = 0; i < n_vectors && !rc; i++) {
    if (tok_clip_token_id(m->tokenizer, tokens[i]) >= 0)
      rc = herr_set(e, "token '%s' is already in the tokenizer (loaded twice, or clashing with a word); rename "
                       "the embedding",
                    tokens[i]);
  }
  for (int64_t i = 0; i < n_vectors && !rc; i++) {
    int64_t id;
    shim_err se;
    if (tok_clip_add_token(m->tokenizer, tokens[i], &id, e)) {
      rc = -1;
    } else if (id >= shim_clip_text_vocab_size(m->text_encoder) &&
               shim_clip_text_resize_vocab(m->text_encoder, id + 1, &se)) {
      rc = herr_set(e, "%s", se.msg);
    } else if (rows && shim_clip_text_set_token_rows(m->text_encoder, id, 1, rows + i * dim, &se)) {
      rc = herr_set(e, "%s", se.msg);
    } else if (i == 0 && first_id) {
      *first_id = id;
    } else if (first_id && id != *first_id + i) {
      rc = herr_set(e, "token '%s' got id %lld, not the next after %lld (ids must be consecutive)", tokens[i],
                    (long long)id, (long long)(*first_id + i - 1));
    }
  }
  emb_tokens_free(tokens, n_vectors);
  return rc;
}

static int add_vectors(sd_model *m, const char *path, const emb_vectors *v, herr *e) {
  if (sd_model_add_token_rows(m, v->token, v->n_vectors, v->dim, v->data, NULL, e)) return herr_prefix(e, "%s", path);
  return 0;
}

int sd_model_add_embedding(sd_model *m, const char *path, herr *e) {
  emb_file f;
  if (emb_read(path, &f, e)) return -1;
  int rc = 0;
  for (size_t i = 0; i < f.n && !rc; i++) rc = add_vectors(m, path, &f.items[i], e);
  emb_file_free(&f);
  return rc;
}

/* Replaces every occurrence of `from` in *s with `to` (str.replace). */
static char *replace_all(const char *s, const char *from, const char *to) {
  strbuf b = STRBUF_INIT;
  size_t n = strlen(from);
  for (const char *p = s;;) {
    const char *hit = n ? strstr(p, from) : NULL;
    if (!hit) {
      sb_append(&b, p);
      break;
    }
    sb_append_n(&b, p, (size_t)(hit - p));
    sb_append(&b, to);
    p = hit + n;
  }
  char *out = sb_take(&b);
  return out ? out : strdup("");
}

char *sd_model_expand_prompt(const sd_model *m, const char *prompt, herr *e) {
  int64_t *ids = NULL;
  size_t n = 0;
  if (tok_clip_encode_raw(m->tokenizer, prompt, &ids, &n, e)) return NULL;
  char *out = strdup(prompt);
  size_t base = tok_clip_vocab_size(m->tokenizer);
  for (size_t i = 0; i < n && out; i++) {
    if (ids[i] < (int64_t)base) continue;
    bool seen = false; /* diffusers walks the set of distinct tokens: expand each once */
    for (size_t j = 0; j < i && !seen; j++) seen = ids[j] == ids[i];
    const char *tok = tok_clip_decode_token(m->tokenizer, ids[i]);
    if (seen || !tok) continue;
    strbuf rep = STRBUF_INIT;
    sb_append(&rep, tok);
    for (int k = 1;; k++) {
      strbuf next = STRBUF_INIT;
      sb_appendf(&next, "%s_%d", tok, k);
      bool present = tok_clip_token_id(m->tokenizer, sb_str(&next)) >= (int64_t)base;
      if (present) sb_appendf(&rep, " %s", sb_str(&next));
      sb_free(&next);
      if (!present) break;
    }
    if (rep.len > strlen(tok)) {
      char *r = replace_all(out, tok, sb_str(&rep));
      free(out);
      out = r;
    }
    sb_free(&rep);
  }
  free(ids);
  if (!out) herr_set(e, "out of memory");
  return out;
}

int sd_model_tokenize(const sd_model *m, const char *text, int64_t *ids, herr *e) {
  size_t n_real;
  char *expanded = sd_model_expand_prompt(m, text, e);
  int rc = expanded ? tok_clip_encode(m->tokenizer, expanded, ids, (size_t)m->seq_len, &n_real, e) : -1;
  free(expanded);
  return rc ? herr_prefix(e, "prompt '%s'", text) : 0;
}

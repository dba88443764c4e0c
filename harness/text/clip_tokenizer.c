/* Encoding with the CLIP tokenizer as transformers 4.33's tokenize() + CLIPTokenizer._tokenize do:
 * cut out no-split tokens, normalise the rest, pre-tokenize with CLIP's pattern, byte-map, BPE;
 * then BOS/EOS, truncation and padding as tok(..., padding="max_length", truncation=True). */
#include <stdlib.h>
#include <string.h>

#include "harness/text/clip_internal.h"
#include "harness/text/clip_text.h"
#include "harness/text/text_unicode.h"

int64_t clip_convert(const tok_clip *t, const char *tok, size_t len) {
  int64_t id = smap_get(t->added, tok, len);
  if (id < 0) id = smap_get(t->vocab, tok, len);
  if (id < 0 && t->special[CLIP_UNK].text) {
    const char *unk = t->special[CLIP_UNK].text;
    id = smap_get(t->added, unk, strlen(unk));
    if (id < 0) id = smap_get(t->vocab, unk, strlen(unk));
  }
  return id;
}

typedef struct idvec {
  int64_t *v;
  size_t n, cap;
} idvec;

static void id_push(idvec *a, int64_t id) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 64;
    int64_t *v = realloc(a->v, a->cap * sizeof *v);
    if (!v) abort();
    a->v = v;
  }
  a->v[a->n++] = id;
}

typedef struct emit_ctx {
  const tok_clip *t;
  idvec *ids;
  herr *e;
} emit_ctx;

static int emit_token(void *ctx, const char *sym, size_t len) {
  emit_ctx *c = ctx;
  int64_t id = clip_convert(c->t, sym, len);
  if (id < 0)
    return herr_set(c->e, "CLIP tokenizer %s: token \"%.*s\" is not in the vocabulary and there is no unknown token",
                    c->t->dir, (int)len, sym);
  id_push(c->ids, id);
  return 0;
}

/* CLIPTokenizer._tokenize on one piece of text that holds no no-split token. */
static int tokenize_plain(const tok_clip *t, const uint32_t *cps, size_t n, idvec *ids, pcre2_match_data *md,
                          herr *e) {
  strbuf norm = STRBUF_INIT, mapped = STRBUF_INIT;
  clip_basic_normalize(cps, n, &norm);
  const char *s = sb_str(&norm);
  size_t len = norm.len, off = 0;
  emit_ctx ctx = {t, ids, e};
  int rc = 0;
  while (off < len && !rc) {
    int m = pcre2_match(t->re, (PCRE2_SPTR)s, len, off, 0, md, NULL);
    if (m == PCRE2_ERROR_NOMATCH) break;
    if (m < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(m, msg, sizeof msg);
      rc = herr_set(e, "CLIP pre-tokenizer: PCRE2 match error: %s", (const char *)msg);
      break;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (me <= ms) { /* cannot happen with this pattern; never loop forever */
      off = ms + 1;
      continue;
    }
    off = me;
    const char *w = s + ms;
    size_t wl = me - ms;
    /* CLIPTokenizer.bpe's cache is seeded with the two markers: they map to themselves. */
    if ((wl == 15 && memcmp(w, "<|startoftext|>", 15) == 0) || (wl == 13 && memcmp(w, "<|endoftext|>", 13) == 0)) {
      rc = emit_token(&ctx, w, wl);
      continue;
    }
    mapped.len = 0;
    for (size_t i = 0; i < wl; i++) {
      const bpe_byte_char *bc = &t->bytes[(unsigned char)w[i]];
      sb_append_n(&mapped, bc->s, bc->n);
    }
    rc = bpe_word(t->ranks, mapped.data, mapped.len, emit_token, &ctx);
  }
  sb_free(&norm);
  sb_free(&mapped);
  return rc;
}

static bool piece_is_nosplit(const tok_clip *t, const u32vec *p, int *tag) {
  *tag = nst_lookup(t->trie, p->v, p->n);
  return *tag >= 0;
}

static void piece_lstrip(u32vec *p) {
  size_t k = 0;
  while (k < p->n && uni_is_pyspace(p->v[k])) k++;
  memmove(p->v, p->v + k, (p->n - k) * sizeof *p->v);
  p->n -= k;
}

static void piece_rstrip(u32vec *p) {
  while (p->n && uni_is_pyspace(p->v[p->n - 1])) p->n--;
}

static void piece_append(u32vec *dst, const uint32_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) u32_push(dst, v[i]);
}

static void piece_copy(u32vec *dst, const u32vec *src) {
  dst->n = 0;
  piece_append(dst, src->v, src->n);
}

/* tokenize(): split on no-split tokens, apply their whitespace rules, tokenize the rest. */
static int tokenize_ids(const tok_clip *t, const char *text, idvec *ids, herr *e) {
  if (!text) return herr_set(e, "CLIP tokenizer: the text is NULL");
  u32vec cps = {0};
  if (utf8_decode(text, strlen(text), &cps, "CLIP tokenizer input text", e) != 0) {
    u32_free(&cps);
    return -1;
  }
  nst_span *spans = NULL;
  size_t np = 0;
  nst_split(t->trie, cps.v, cps.n, &spans, &np);
  u32vec *pieces = calloc(np ? np : 1, sizeof *pieces);
  if (!pieces) abort();
  for (size_t i = 0; i < np; i++) piece_append(&pieces[i], cps.v + spans[i].start, spans[i].end - spans[i].start);
  free(spans);
  u32_free(&cps);

  u32vec left = {0}, right = {0};
  for (size_t i = 0; i < np; i++) {
    int tag;
    if (!piece_is_nosplit(t, &pieces[i], &tag)) continue;
    const clip_nosplit *ns = &t->nosplit[tag];
    bool has_left = i > 0 && pieces[i - 1].n > 0, has_right = i + 1 < np && pieces[i + 1].n > 0;
    /* The reference tests the neighbours as they were before this token's stripping. */
    if (has_left) piece_copy(&left, &pieces[i - 1]);
    if (has_right) piece_copy(&right, &pieces[i + 1]);
    if (ns->is_added_token) {
      if (ns->rstrip && has_right) piece_lstrip(&pieces[i + 1]);
      if (ns->lstrip && has_left) piece_rstrip(&pieces[i - 1]);
      if (ns->single_word && has_left && left.v[left.n - 1] != ' ') {
        piece_append(&pieces[i - 1], pieces[i].v, pieces[i].n);
        pieces[i].n = 0;
      } else if (ns->single_word && has_right && right.v[0] != ' ') {
        piece_append(&pieces[i], right.v, right.n);
        pieces[i + 1].n = 0;
      }
    } else {
      if (has_right) piece_lstrip(&pieces[i + 1]);
      if (has_left) piece_rstrip(&pieces[i - 1]);
    }
  }
  u32_free(&left);
  u32_free(&right);

  pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
  if (!md) abort();
  strbuf tok = STRBUF_INIT;
  emit_ctx ctx = {t, ids, e};
  int rc = 0;
  for (size_t i = 0; i < np && !rc; i++) {
    if (!pieces[i].n) continue;
    int tag;
    if (piece_is_nosplit(t, &pieces[i], &tag)) {
      tok.len = 0;
      for (size_t k = 0; k < pieces[i].n; k++) utf8_append(&tok, pieces[i].v[k]);
      rc = emit_token(&ctx, tok.data, tok.len);
    } else {
      rc = tokenize_plain(t, pieces[i].v, pieces[i].n, ids, md, e);
    }
  }
  sb_free(&tok);
  pcre2_match_data_free(md);
  for (size_t i = 0; i < np; i++) u32_free(&pieces[i]);
  free(pieces);
  return rc;
}

static int special_id(const tok_clip *t, int which, int64_t *id, herr *e) {
  const char *s = t->special[which].text;
  *id = s ? clip_convert(t, s, strlen(s)) : -1;
  if (*id >= 0) return 0;
  static const char *const names[] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
  return herr_set(e, "CLIP tokenizer %s: the %s token %s%s%s has no id", t->dir, names[which], s ? "\"" : "",
                  s ? s : "(unset)", s ? "\"" : "");
}

int tok_clip_encode(const tok_clip *t, const char *text, int64_t *ids, size_t max_len, size_t *n_real, herr *e) {
  if (max_len == 0) max_len = t->model_max_length;
  if (max_len < 2)
    return herr_set(e, "tok_clip_encode: max_len %zu leaves no room for the start and end tokens (%s)", max_len,
                    t->model_max_length ? "need at least 2" : "and the tokenizer config gives no model_max_length");
  int64_t bos, eos, pad;
  if (special_id(t, CLIP_BOS, &bos, e) || special_id(t, CLIP_EOS, &eos, e) || special_id(t, CLIP_PAD, &pad, e))
    return -1;
  idvec v = {0};
  if (tokenize_ids(t, text, &v, e) != 0) {
    free(v.v);
    return -1;
  }
  size_t n = v.n < max_len - 2 ? v.n : max_len - 2; /* truncation drops the tail, keeps EOS */
  ids[0] = bos;
  memcpy(ids + 1, v.v, n * sizeof *ids);
  ids[n + 1] = eos;
  for (size_t i = n + 2; i < max_len; i++) ids[i] = pad;
  if (n_real) *n_real = n + 2;
  free(v.v);
  return 0;
}

int tok_clip_encode_raw(const tok_clip *t, const char *text, int64_t **ids_out, size_t *n_out, herr *e) {
  idvec v = {0};
  *ids_out = NULL;
  *n_out = 0;
  if (tokenize_ids(t, text, &v, e) != 0) {
    free(v.v);
    return -1;
  }
  *ids_out = v.v;
  *n_out = v.n;
  return 0;
}

int64_t tok_clip_token_id(const tok_clip *t, const char *token) {
  size_t len = strlen(token);
  int64_t id = smap_get(t->added, token, len);
  return id >= 0 ? id : smap_get(t->vocab, token, len);
}

const char *tok_clip_decode_token(const tok_clip *t, int64_t id) {
  return id >= 0 && (size_t)id < t->n_names ? t->names[id] : NULL;
}

size_t tok_clip_vocab_size(const tok_clip *t) { return t->vocab_size; }
size_t tok_clip_n_added(const tok_clip *t) { return t->n_added; }
size_t tok_clip_model_max_length(const tok_clip *t) { return t->model_max_length; }

static int64_t special_or_minus1(const tok_clip *t, int which) {
  const char *s = t->special[which].text;
  return s ? clip_convert(t, s, strlen(s)) : -1;
}

int64_t tok_clip_bos_id(const tok_clip *t) { return special_or_minus1(t, CLIP_BOS); }
int64_t tok_clip_eos_id(const tok_clip *t) { return special_or_minus1(t, CLIP_EOS); }
int64_t tok_clip_pad_id(const tok_clip *t) { return special_or_minus1(t, CLIP_PAD); }
int64_t tok_clip_unk_id(const tok_clip *t) { return special_or_minus1(t, CLIP_UNK); }

/* Loading a CLIP tokenizer folder in HF format the way transformers 4.33's from_pretrained does:
 * vocab, the first 48894 merges, special tokens (special_tokens_map.json over tokenizer_config.json),
 * added_tokens.json, then every special token registered as a no-split token. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "harness/text/clip_internal.h"
#include "harness/text/text_unicode.h"
#include "harness/util/fsutil.h"

/* CLIPTokenizer keeps merges lines 1 .. 49152-256-2 of merges.txt (line 0 is the header). */
#define CLIP_MAX_MERGES (49152 - 256 - 2)

static const char *const SPECIAL_KEYS[CLIP_N_SPECIAL] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                         "pad_token", "cls_token", "mask_token"};

static const char CLIP_PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) abort();
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

void clip_set_name(tok_clip *t, int64_t id, const char *tok, size_t len) {
  if ((size_t)id >= t->n_names) {
    size_t n = t->n_names ? t->n_names : 1024;
    while (n <= (size_t)id) n *= 2;
    char **names = realloc(t->names, n * sizeof *names);
    if (!names) abort();
    memset(names + t->n_names, 0, (n - t->n_names) * sizeof *names);
    t->names = names;
    t->n_names = n;
  }
  free(t->names[id]);
  t->names[id] = dup_n(tok, len);
}

int clip_add_nosplit(tok_clip *t, const char *text, bool is_added_token, bool lstrip, bool rstrip, bool single_word,
                     herr *e) {
  u32vec cps = {0};
  if (utf8_decode(text, strlen(text), &cps, "token", e) != 0) {
    u32_free(&cps);
    return -1;
  }
  if (t->n_nosplit == t->cap_nosplit) {
    t->cap_nosplit = t->cap_nosplit ? t->cap_nosplit * 2 : 16;
    clip_nosplit *n = realloc(t->nosplit, t->cap_nosplit * sizeof *n);
    if (!n) abort();
    t->nosplit = n;
  }
  int tag = nst_lookup(t->trie, cps.v, cps.n);
  if (tag >= 0) {
    /* tokenize() looks the flags up by string: the last AddedToken registered wins. */
    clip_nosplit *ns = &t->nosplit[tag];
    if (is_added_token) *ns = (clip_nosplit){ns->text, true, lstrip, rstrip, single_word};
  } else {
    t->nosplit[t->n_nosplit] = (clip_nosplit){dup_n(text, strlen(text)), is_added_token, lstrip, rstrip, single_word};
    nst_add(t->trie, cps.v, cps.n, (int)t->n_nosplit);
    t->n_nosplit++;
  }
  u32_free(&cps);
  return 0;
}

static cJSON *read_json(const char *dir, const char *name, bool required, bool *present, herr *e) {
  char *path = fs_join(dir, name);
  *present = false;
  if (!fs_exists(path)) {
    if (required) herr_set(e, "%s: missing (a CLIP tokenizer folder needs %s)", path, name);
    free(path);
    return NULL;
  }
  size_t len = 0;
  char *buf = fs_read_file(path, &len, e);
  if (!buf) {
    free(path);
    return NULL;
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
  if (!j) herr_set(e, "%s: not valid JSON (parse error near byte %zu)", path, end ? (size_t)(end - buf) : (size_t)0);
  else *present = true;
  free(buf);
  free(path);
  return j;
}

static int load_vocab(tok_clip *t, herr *e) {
  bool present;
  cJSON *j = read_json(t->dir, "vocab.json", true, &present, e);
  if (!j) return -1;
  int rc = 0;
  if (!cJSON_IsObject(j)) {
    rc = herr_set(e, "%s/vocab.json: expected a JSON object mapping token -> id", t->dir);
    goto done;
  }
  t->vocab = smap_new((size_t)cJSON_GetArraySize(j));
  for (cJSON *c = j->child; c; c = c->next) {
    double v = c->valuedouble;
    if (!cJSON_IsNumber(c) || v < 0 || v > (double)INT32_MAX || v != (double)(int64_t)v) {
      rc = herr_set(e, "%s/vocab.json: token \"%s\" has no non-negative integer id", t->dir, c->string);
      goto done;
    }
    size_t kl = strlen(c->string);
    smap_put(t->vocab, c->string, kl, (int64_t)v);
    clip_set_name(t, (int64_t)v, c->string, kl);
  }
  t->vocab_size = smap_count(t->vocab);
  if (t->vocab_size == 0) rc = herr_set(e, "%s/vocab.json: the vocabulary is empty", t->dir);
done:
  cJSON_Delete(j);
  return rc;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

static int load_merges(tok_clip *t, herr *e) {
  char *path = fs_join(t->dir, "merges.txt");
  if (!fs_exists(path)) {
    herr_set(e, "%s: missing (a CLIP tokenizer folder needs merges.txt)", path);
    free(path);
    return -1;
  }
  size_t len = 0;
  char *buf = fs_read_file(path, &len, e);
  if (!buf) {
    free(path);
    return -1;
  }
  int rc = 0;
  t->ranks = smap_new(CLIP_MAX_MERGES);
  /* The reference strips the whole file, then drops its first line (the "#version" header). */
  size_t p = 0, line = 1;
  while (p < len && is_ws(buf[p])) line += buf[p++] == '\n';
  while (len > p && is_ws(buf[len - 1])) len--;
  while (p < len && buf[p] != '\n') p++;
  size_t key_cap = 256;
  char *key = malloc(key_cap);
  if (!key) abort();
  for (int64_t rank = 0; p < len && rank < CLIP_MAX_MERGES; rank++) {
    p++; /* past '\n' */
    line++;
    size_t ls = p;
    while (p < len && buf[p] != '\n') p++;
    /* Split on whitespace: exactly two symbols. */
    const char *part[3];
    size_t plen[3], np = 0;
    for (size_t i = ls; i < p;) {
      while (i < p && is_ws(buf[i])) i++;
      if (i >= p) break;
      size_t s = i;
      while (i < p && !is_ws(buf[i])) i++;
      if (np < 3) {
        part[np] = buf + s;
        plen[np] = i - s;
      }
      np++;
    }
    if (np != 2) {
      rc = herr_set(e, "%s: line %zu: expected two symbols separated by a space, got %zu: \"%.*s\"", path, line, np,
                    (int)(p - ls > 80 ? 80 : p - ls), buf + ls);
      break;
    }
    if (plen[0] + plen[1] + 2 > key_cap) {
      key_cap = plen[0] + plen[1] + 2;
      char *k = realloc(key, key_cap);
      if (!k) abort();
      key = k;
    }
    memcpy(key, part[0], plen[0]);
    memcpy(key + plen[0], part[1], plen[1]);
    if (smap_get(t->vocab, key, plen[0] + plen[1]) < 0) {
      rc = herr_set(e, "%s: line %zu: merge \"%.*s %.*s\" gives \"%.*s%.*s\", which is not in vocab.json", path, line,
                    (int)plen[0], part[0], (int)plen[1], part[1], (int)plen[0], part[0], (int)plen[1], part[1]);
      break;
    }
    memcpy(key, part[0], plen[0]);
    key[plen[0]] = ' ';
    memcpy(key + plen[0] + 1, part[1], plen[1]);
    smap_put(t->ranks, key, plen[0] + 1 + plen[1], rank); /* a repeated pair keeps its last rank */
  }
  free(key);
  free(buf);
  free(path);
  return rc;
}

/* A special-token value: a string, or an AddedToken object with "content" and flags. */
static int parse_special(const cJSON *v, bool string_is_added_token, clip_special *out, const char *file,
                         const char *key, herr *e) {
  free(out->text);
  *out = (clip_special){0};
  if (cJSON_IsNull(v)) return 0;
  if (cJSON_IsString(v)) {
    out->text = dup_n(v->valuestring, strlen(v->valuestring));
    out->is_added_token = string_is_added_token;
    return 0;
  }
  const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
  if (!cJSON_IsString(c))
    return herr_set(e, "%s: \"%s\" must be a string or an object with a string \"content\"", file, key);
  out->text = dup_n(c->valuestring, strlen(c->valuestring));
  out->is_added_token = true;
  const char *flags[3] = {"lstrip", "rstrip", "single_word"};
  bool *dst[3] = {&out->lstrip, &out->rstrip, &out->single_word};
  for (int i = 0; i < 3; i++) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, flags[i]);
    if (!f) continue;
    if (!cJSON_IsBool(f)) return herr_set(e, "%s: \"%s\".%s must be true or false", file, key, flags[i]);
    *dst[i] = cJSON_IsTrue(f);
  }
  return 0;
}

static int parse_extra(tok_clip *t, const cJSON *v, const char *file, herr *e) {
  for (size_t i = 0; i < t->n_extra; i++) free(t->extra[i].text);
  free(t->extra);
  t->extra = NULL;
  t->n_extra = 0;
  if (cJSON_IsNull(v)) return 0;
  if (!cJSON_IsArray(v)) return herr_set(e, "%s: \"additional_special_tokens\" must be a list", file);
  size_t n = (size_t)cJSON_GetArraySize(v);
  t->extra = calloc(n ? n : 1, sizeof *t->extra);
  if (!t->extra) abort();
  for (const cJSON *c = v->child; c; c = c->next) {
    if (parse_special(c, false, &t->extra[t->n_extra], file, "additional_special_tokens", e) != 0) return -1;
    t->n_extra++;
  }
  return 0;
}

static int load_specials(tok_clip *t, herr *e) {
  /* CLIPTokenizer's defaults; bos/eos/unk strings are wrapped as AddedToken, pad is not. */
  const char *defaults[CLIP_N_SPECIAL] = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", NULL,
                                          "<|endoftext|>", NULL, NULL};
  for (int k = 0; k < CLIP_N_SPECIAL; k++)
    if (defaults[k])
      t->special[k] = (clip_special){dup_n(defaults[k], strlen(defaults[k])), k <= CLIP_UNK, false, false, false};

  bool present;
  char *cfg_path = fs_join(t->dir, "tokenizer_config.json");
  cJSON *cfg = read_json(t->dir, "tokenizer_config.json", false, &present, e);
  int rc = 0;
  if (!cfg && present == false && fs_exists(cfg_path)) rc = -1;
  if (!rc && cfg && !cJSON_IsObject(cfg)) rc = herr_set(e, "%s: expected a JSON object", cfg_path);
  if (!rc && cfg) {
    for (int k = 0; k < CLIP_N_SPECIAL && !rc; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, SPECIAL_KEYS[k]);
      if (v) rc = parse_special(v, k <= CLIP_UNK, &t->special[k], cfg_path, SPECIAL_KEYS[k], e);
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens");
    if (!rc && x) rc = parse_extra(t, x, cfg_path, e);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cfg, "model_max_length");
    if (!rc && m && !cJSON_IsNull(m)) {
      if (!cJSON_IsNumber(m) || m->valuedouble < 1 || m->valuedouble != (double)(int64_t)m->valuedouble)
        rc = herr_set(e, "%s: \"model_max_length\" must be a positive integer", cfg_path);
      else if (m->valuedouble < 1e9) /* transformers writes 1e30 for "no limit" */
        t->model_max_length = (size_t)m->valuedouble;
    }
  }
  cJSON_Delete(cfg);
  free(cfg_path);
  if (rc) return rc;

  char *map_path = fs_join(t->dir, "special_tokens_map.json");
  cJSON *map = read_json(t->dir, "special_tokens_map.json", false, &present, e);
  if (!map && fs_exists(map_path)) rc = -1;
  if (!rc && map && !cJSON_IsObject(map)) rc = herr_set(e, "%s: expected a JSON object", map_path);
  if (!rc && map) {
    /* from_pretrained sets these after construction: plain strings stay plain strings. */
    for (int k = 0; k < CLIP_N_SPECIAL && !rc; k++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(map, SPECIAL_KEYS[k]);
      if (v) rc = parse_special(v, false, &t->special[k], map_path, SPECIAL_KEYS[k], e);
    }
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(map, "additional_special_tokens");
    if (!rc && x) rc = parse_extra(t, x, map_path, e);
  }
  cJSON_Delete(map);
  free(map_path);
  return rc;
}

static bool is_special_text(const tok_clip *t, const char *s) {
  for (int k = 0; k < CLIP_N_SPECIAL; k++)
    if (t->special[k].text && strcmp(t->special[k].text, s) == 0) return true;
  for (size_t i = 0; i < t->n_extra; i++)
    if (strcmp(t->extra[i].text, s) == 0) return true;
  return false;
}

/* add_tokens() for one token: a new id only when it has none yet (and is not the unk token). */
static int add_one(tok_clip *t, const char *tok, bool special, const clip_special *flags, herr *e) {
  size_t len = strlen(tok);
  const char *unk = t->special[CLIP_UNK].text;
  bool has_id = smap_get(t->added, tok, len) >= 0 || smap_get(t->vocab, tok, len) >= 0;
  bool is_new = !has_id && !(unk && strcmp(unk, tok) == 0);
  if (is_new) {
    int64_t id = (int64_t)(t->vocab_size + t->n_added);
    smap_put(t->added, tok, len, id);
    clip_set_name(t, id, tok, len);
    t->n_added++;
  }
  if (special || is_new) {
    bool at = flags && flags->is_added_token;
    return clip_add_nosplit(t, tok, at, at && flags->lstrip, at && flags->rstrip, at && flags->single_word, e);
  }
  return 0;
}

static int cmp_by_id(const void *a, const void *b) {
  double x = (*(const cJSON *const *)a)->valuedouble, y = (*(const cJSON *const *)b)->valuedouble;
  return x < y ? -1 : x > y;
}

static int load_added_tokens(tok_clip *t, herr *e) {
  bool present;
  char *path = fs_join(t->dir, "added_tokens.json");
  cJSON *j = read_json(t->dir, "added_tokens.json", false, &present, e);
  int rc = 0;
  if (!j) {
    rc = fs_exists(path) ? -1 : 0;
    free(path);
    return rc;
  }
  if (!cJSON_IsObject(j)) {
    rc = herr_set(e, "%s: expected a JSON object mapping token -> id", path);
    goto done;
  }
  size_t n = (size_t)cJSON_GetArraySize(j), k = 0;
  const cJSON **items = malloc((n ? n : 1) * sizeof *items);
  if (!items) abort();
  for (const cJSON *c = j->child; c; c = c->next) {
    if (!cJSON_IsNumber(c) || c->valuedouble < 0 || c->valuedouble != (double)(int64_t)c->valuedouble) {
      rc = herr_set(e, "%s: token \"%s\" has no non-negative integer id", path, c->string);
      break;
    }
    items[k++] = c;
  }
  if (!rc) qsort(items, n, sizeof *items, cmp_by_id);
  for (size_t i = 0; i < n && !rc; i++) {
    int64_t want = (int64_t)(t->vocab_size + t->n_added);
    if ((int64_t)items[i]->valuedouble != want) {
      rc = herr_set(e, "%s: token \"%s\" has id %lld but added tokens must continue the vocabulary in order (%lld)",
                    path, items[i]->string, (long long)items[i]->valuedouble, (long long)want);
      break;
    }
    size_t before = t->n_added;
    rc = add_one(t, items[i]->string, is_special_text(t, items[i]->string), NULL, e);
    if (!rc && t->n_added == before)
      rc = herr_set(e, "%s: token \"%s\" is already in vocab.json", path, items[i]->string);
  }
  free(items);
done:
  cJSON_Delete(j);
  free(path);
  return rc;
}

/* sanitize_special_tokens(): every special token gets an id and becomes a no-split token. */
static int register_specials(tok_clip *t, herr *e) {
  for (int k = 0; k < CLIP_N_SPECIAL; k++)
    if (t->special[k].text && add_one(t, t->special[k].text, true, &t->special[k], e) != 0) return -1;
  for (size_t i = 0; i < t->n_extra; i++)
    if (add_one(t, t->extra[i].text, true, &t->extra[i], e) != 0) return -1;
  return 0;
}

static int compile_pattern(tok_clip *t, herr *e) {
  int err = 0;
  PCRE2_SIZE off = 0;
  t->re = pcre2_compile((PCRE2_SPTR)CLIP_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err,
                        &off, NULL);
  if (!t->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return herr_set(e, "CLIP pre-tokenizer pattern: PCRE2 error at offset %zu: %s", (size_t)off, (const char *)msg);
  }
  return 0;
}

tok_clip *tok_clip_load(const char *dir, herr *e) {
  if (!fs_is_dir(dir)) {
    herr_set(e, "%s: not a directory (expected a CLIP tokenizer folder)", dir);
    return NULL;
  }
  tok_clip *t = calloc(1, sizeof *t);
  if (!t) abort();
  t->dir = dup_n(dir, strlen(dir));
  t->added = smap_new(16);
  t->trie = nst_new();
  bpe_byte_table(t->bytes);
  if (load_vocab(t, e) != 0 || load_merges(t, e) != 0 || load_specials(t, e) != 0 || load_added_tokens(t, e) != 0 ||
      register_specials(t, e) != 0 || compile_pattern(t, e) != 0) {
    tok_clip_free(t);
    return NULL;
  }
  return t;
}

void tok_clip_free(tok_clip *t) {
  if (!t) return;
  smap_free(t->vocab);
  smap_free(t->ranks);
  smap_free(t->added);
  for (size_t i = 0; i < t->n_names; i++) free(t->names[i]);
  free(t->names);
  nst_free(t->trie);
  for (size_t i = 0; i < t->n_nosplit; i++) free(t->nosplit[i].text);
  free(t->nosplit);
  for (int k = 0; k < CLIP_N_SPECIAL; k++) free(t->special[k].text);
  for (size_t i = 0; i < t->n_extra; i++) free(t->extra[i].text);
  free(t->extra);
  if (t->re) pcre2_code_free(t->re);
  free(t->dir);
  free(t);
}

int tok_clip_add_token(tok_clip *t, const char *token, int64_t *id_out, herr *e) {
  size_t len = token ? strlen(token) : 0;
  if (len == 0) return herr_set(e, "tok_clip_add_token: the token is empty");
  u32vec tmp = {0};
  int rc = utf8_decode(token, len, &tmp, "tok_clip_add_token: token", e);
  u32_free(&tmp);
  if (rc) return -1;
  if (smap_get(t->added, token, len) >= 0 || smap_get(t->vocab, token, len) >= 0)
    return herr_set(e, "tok_clip_add_token: \"%s\" is already in the vocabulary of %s", token, t->dir);
  size_t before = t->n_added;
  if (add_one(t, token, false, NULL, e) != 0) return -1;
  if (t->n_added == before) return herr_set(e, "tok_clip_add_token: \"%s\" is the unknown token of %s", token, t->dir);
  if (id_out) *id_out = smap_get(t->added, token, len);
  return 0;
}

/* embedding_file: maps the diffusers and A1111 textual-inversion layouts onto emb_file — which
 * keys mean what, how A1111 and diffusers name the embedding — on top of the safetensors,
 * torch-zip and restricted-pickle readers and writers. */
#include "harness/model/embedding_file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/pickle_lite.h"
#include "harness/formats/safetensors.h"
#include "harness/formats/torch_zip.h"

static char *dup_str(const char *s) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

/* os.path.splitext(os.path.basename(path))[0], the name A1111 gives an embedding file. */
static char *file_stem(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t lead = 0;
  while (base[lead] == '.') lead++;
  size_t n = dot && dot > base + lead ? (size_t)(dot - base) : strlen(base);
  char *s = malloc(n + 1);
  if (!s) abort();
  memcpy(s, base, n);
  s[n] = '\0';
  return s;
}

void emb_file_free(emb_file *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) {
    free(f->items[i].token);
    free(f->items[i].data);
  }
  free(f->items);
  free(f->format);
  free(f->name);
  free(f->sd_checkpoint);
  free(f->sd_checkpoint_name);
  memset(f, 0, sizeof *f);
  f->step = -1;
}

static emb_vectors *add_item(emb_file *f, const char *token) {
  f->items = realloc(f->items, (f->n + 1) * sizeof *f->items);
  if (!f->items) abort();
  emb_vectors *v = &f->items[f->n++];
  memset(v, 0, sizeof *v);
  v->token = dup_str(token);
  return v;
}

/* [d] is one vector, [n, d] n of them; anything else is not an embedding. */
static int rows_from_shape(const char *path, const char *what, int ndim, const int64_t *shape, int64_t *n, int64_t *d,
                           herr *e) {
  if (ndim == 1) {
    *n = 1;
    *d = shape[0];
  } else if (ndim == 2) {
    *n = shape[0];
    *d = shape[1];
  } else {
    return herr_set(e, "%s: %s has %d dimensions; an embedding is [dim] or [n_vectors, dim]", path, what, ndim);
  }
  if (*n < 1 || *n > EMB_MAX_VECTORS || *d < 1 || *d > EMB_MAX_DIM)
    return herr_set(e, "%s: %s has shape [%lld, %lld]; expected 1..%d vectors of 1..%d values", path, what,
                    (long long)*n, (long long)*d, EMB_MAX_VECTORS, EMB_MAX_DIM);
  return 0;
}

/* ---- torch zip (.pt / .bin) ---- */

typedef struct torch_src {
  const char *path;
  tz_archive *z;
  bool big_endian;
} torch_src;

static float element_f32(const uint8_t *p, st_dtype dt, bool swap) {
  size_t w = st_dtype_size(dt);
  uint8_t b[8];
  for (size_t i = 0; i < w; i++) b[i] = swap ? p[w - 1 - i] : p[i];
  switch (dt) {
    case ST_F32: {
      float f;
      memcpy(&f, b, 4);
      return f;
    }
    case ST_F64: {
      double x;
      memcpy(&x, b, 8);
      return (float)x;
    }
    case ST_F16:
      return st_f16_to_f32((uint16_t)(b[0] | (b[1] << 8)));
    case ST_BF16:
      return st_bf16_to_f32((uint16_t)(b[0] | (b[1] << 8)));
    default:
      return 0.0f;
  }
}

/* Gathers a (possibly strided) tensor into float32 rows, checking it against its storage record. */
static int torch_rows(const torch_src *s, const pk_value *t, const char *what, emb_vectors *out, herr *e) {
  if (rows_from_shape(s->path, what, t->u.tensor.ndim, t->u.tensor.size, &out->n_vectors, &out->dim, e) != 0) return -1;
  const pk_value *st = t->u.tensor.storage;
  const char *prefix = tz_prefix(s->z);
  size_t nlen = strlen(prefix) + strlen(st->u.storage.key) + 8;
  char *rec = malloc(nlen);
  if (!rec) abort();
  snprintf(rec, nlen, "%s%sdata/%s", prefix, *prefix ? "/" : "", st->u.storage.key);
  uint8_t *bytes;
  size_t len;
  if (tz_read(s->z, rec, &bytes, &len, e) != 0) {
    free(rec);
    return -1;
  }
  size_t w = st_dtype_size(st->u.storage.dtype);
  if ((uint64_t)st->u.storage.numel > len / w) {
    herr_set(e, "%s: %s: storage '%s' has %zu bytes, too small for the %lld %s elements its pickle declares", s->path,
             what, rec, len, (long long)st->u.storage.numel, st_dtype_name(st->u.storage.dtype));
    free(bytes);
    free(rec);
    return -1;
  }
  free(rec);
  int64_t rs = t->u.tensor.ndim == 2 ? t->u.tensor.stride[0] : 0;
  int64_t cs = t->u.tensor.stride[t->u.tensor.ndim - 1];
  out->data = malloc((size_t)(out->n_vectors * out->dim) * sizeof(float));
  if (!out->data) abort();
  /* pk_load already proved offset + the view's extent lies inside numel. */
  for (int64_t r = 0; r < out->n_vectors; r++)
    for (int64_t c = 0; c < out->dim; c++) {
      int64_t idx = t->u.tensor.offset + r * rs + c * cs;
      out->data[r * out->dim + c] = element_f32(bytes + (size_t)idx * w, st->u.storage.dtype, s->big_endian);
    }
  free(bytes);
  return 0;
}

static int interpret_pickle(const torch_src *s, const pk_value *root, emb_file *out, herr *e) {
  if (root->kind != PK_DICT)
    return herr_set(e, "%s: the pickle holds a %s, expected a dict of embedding fields", s->path,
                    pk_kind_name(root->kind));
  const pk_value *stp = pk_dict_get(root, "string_to_param");
  const pk_value *emb_params = pk_dict_get(root, "emb_params");
  if (stp) {
    if (stp->kind != PK_DICT)
      return herr_set(e, "%s: 'string_to_param' is a %s, expected a dict", s->path, pk_kind_name(stp->kind));
    if (stp->u.dict.n != 1)
      return herr_set(e, "%s: 'string_to_param' has %zu entries; A1111 embeddings hold exactly one", s->path,
                      stp->u.dict.n);
    const pk_value *t = stp->u.dict.vals[0];
    if (t->kind != PK_TENSOR)
      return herr_set(e, "%s: 'string_to_param' holds a %s, expected a tensor", s->path, pk_kind_name(t->kind));
    const pk_value *name = pk_dict_get(root, "name"), *step = pk_dict_get(root, "step");
    const pk_value *ck = pk_dict_get(root, "sd_checkpoint"), *ckn = pk_dict_get(root, "sd_checkpoint_name");
    out->name = name && name->kind == PK_STR ? dup_str(name->u.str.s) : file_stem(s->path);
    out->step = step && step->kind == PK_INT ? step->u.i : -1;
    out->sd_checkpoint = ck && ck->kind == PK_STR ? dup_str(ck->u.str.s) : NULL;
    out->sd_checkpoint_name = ckn && ckn->kind == PK_STR ? dup_str(ckn->u.str.s) : NULL;
    out->format = dup_str("a1111-pt");
    return torch_rows(s, t, "string_to_param tensor", add_item(out, out->name), e);
  }
  if (emb_params) {
    if (emb_params->kind != PK_TENSOR)
      return herr_set(e, "%s: 'emb_params' is a %s, expected a tensor", s->path, pk_kind_name(emb_params->kind));
    out->name = file_stem(s->path);
    out->format = dup_str("a1111-pt");
    return torch_rows(s, emb_params, "emb_params tensor", add_item(out, out->name), e);
  }
  if (root->u.dict.n == 0) return herr_set(e, "%s: the pickle's dict is empty; no embedding in it", s->path);
  for (size_t i = 0; i < root->u.dict.n; i++) {
    const pk_value *k = root->u.dict.keys[i], *v = root->u.dict.vals[i];
    if (k->kind != PK_STR || v->kind != PK_TENSOR)
      return herr_set(e,
                      "%s: not a textual-inversion embedding: no 'string_to_param' and entry %zu is %s -> %s "
                      "(diffusers files map token -> tensor)",
                      s->path, i, pk_kind_name(k->kind), pk_kind_name(v->kind));
  }
  out->format = dup_str("diffusers");
  out->name = file_stem(s->path);
  for (size_t i = 0; i < root->u.dict.n; i++) {
    const char *tok = root->u.dict.keys[i]->u.str.s;
    char what[300];
    snprintf(what, sizeof what, "tensor '%.256s'", tok);
    if (torch_rows(s, root->u.dict.vals[i], what, add_item(out, tok), e) != 0) return -1;
  }
  return 0;
}

static int read_torch(const char *path, emb_file *out, herr *e) {
  torch_src s = {.path = path, .z = tz_open(path, e)};
  if (!s.z) return -1;
  const char *prefix = tz_prefix(s.z);
  size_t nlen = strlen(prefix) + 16;
  char *pkl = malloc(nlen), *bo = malloc(nlen);
  if (!pkl || !bo) abort();
  snprintf(pkl, nlen, "%s%sdata.pkl", prefix, *prefix ? "/" : "");
  snprintf(bo, nlen, "%s%sbyteorder", prefix, *prefix ? "/" : "");
  int rc = -1;
  uint8_t *data = NULL;
  size_t len = 0;
  pk_doc *doc = NULL;
  if (!tz_has(s.z, pkl)) {
    herr_set(e, "%s: no '%s' in the zip archive; not a torch.save file", path, pkl);
    goto done;
  }
  if (tz_has(s.z, bo)) {
    if (tz_read(s.z, bo, &data, &len, e) != 0) goto done;
    if (strcmp((char *)data, "big") == 0) {
      s.big_endian = true;
    } else if (strcmp((char *)data, "little") != 0) {
      herr_set(e, "%s: '%s' says '%.16s', expected 'little' or 'big'", path, bo, (char *)data);
      goto done;
    }
    free(data);
    data = NULL;
  }
  if (tz_read(s.z, pkl, &data, &len, e) != 0) goto done;
  if (len > EMB_MAX_PICKLE_BYTES) {
    herr_set(e, "%s: '%s' is %zu bytes, more than the %zu accepted for an embedding", path, pkl, len,
             EMB_MAX_PICKLE_BYTES);
    goto done;
  }
  char label[1200];
  snprintf(label, sizeof label, "%s: %s", path, pkl);
  doc = pk_load(data, len, label, e);
  if (!doc) goto done;
  rc = interpret_pickle(&s, pk_root(doc), out, e);
done:
  pk_doc_free(doc);
  free(data);
  free(pkl);
  free(bo);
  tz_close(s.z);
  return rc;
}

/* ---- safetensors ---- */

static int st_rows(const char *path, const st_tensor *t, emb_vectors *out, herr *e) {
  char what[300];
  snprintf(what, sizeof what, "tensor '%.256s'", t->name);
  if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
    return herr_set(e, "%s: %s is %s; embeddings must be F32, F16, BF16 or F64", path, what, st_dtype_name(t->dtype));
  if (rows_from_shape(path, what, t->ndim, t->shape, &out->n_vectors, &out->dim, e) != 0) return -1;
  out->data = malloc((size_t)(out->n_vectors * out->dim) * sizeof(float));
  if (!out->data) abort();
  return st_to_f32(t, out->data, e);
}

static bool is_a1111_tensor_name(const char *n) {
  return strcmp(n, "emb_params") == 0 || strncmp(n, "string_to_param.", 16) == 0;
}

static int read_safetensors(const char *path, emb_file *out, herr *e) {
  st_file *f = st_open(path, e);
  if (!f) return -1;
  int rc = -1;
  size_t n = st_count(f);
  if (n == 0) {
    herr_set(e, "%s: the safetensors file holds no tensors; no embedding in it", path);
    goto done;
  }
  if (st_find(f, "clip_g") || st_find(f, "clip_l")) {
    herr_set(e, "%s: SDXL embeddings (clip_g/clip_l) are not supported; SD 1.x/2.x embeddings hold one tensor", path);
    goto done;
  }
  for (size_t i = 0; i < n && n > 1; i++) {
    if (is_a1111_tensor_name(st_at(f, i)->name)) {
      herr_set(e, "%s: A1111 tensor '%s' comes with %zu other tensors; A1111 embeddings hold exactly one", path,
               st_at(f, i)->name, n - 1);
      goto done;
    }
  }
  out->name = file_stem(path);
  if (n == 1 && is_a1111_tensor_name(st_at(f, 0)->name)) {
    out->format = dup_str("a1111-safetensors");
    const char *step = st_metadata(f, "step");
    if (step) {
      char *end;
      long long v = strtoll(step, &end, 10);
      if (*step && !*end && v >= 0) out->step = v;
    }
    out->sd_checkpoint = dup_str(st_metadata(f, "sd_checkpoint"));
    out->sd_checkpoint_name = dup_str(st_metadata(f, "sd_checkpoint_name"));
    rc = st_rows(path, st_at(f, 0), add_item(out, out->name), e);
    goto done;
  }
  out->format = dup_str("diffusers");
  for (size_t i = 0; i < n; i++)
    if (st_rows(path, st_at(f, i), add_item(out, st_at(f, i)->name), e) != 0) goto done;
  rc = 0;
done:
  st_close(f);
  return rc;
}

int emb_read(const char *path, emb_file *out, herr *e) {
  memset(out, 0, sizeof *out);
  out->step = -1;
  FILE *fp = fopen(path, "rb");
  if (!fp) return herr_errno(e, "cannot open embedding file %s", path);
  uint8_t magic[4] = {0};
  size_t got = fread(magic, 1, 4, fp);
  fclose(fp);
  int rc;
  if (got >= 4 && memcmp(magic, "PK\3\4", 4) == 0) {
    rc = read_torch(path, out, e);
  } else if (got >= 4 && memcmp(magic, "\x80\x02\x8a\x0a", 4) == 0) {
    /* The legacy format opens with a pickled magic number (protocol 2, LONG1 of 10 bytes). */
    rc = herr_set(e,
                  "%s: this is a legacy (pre-1.6, non-zip) torch.save file, which is not supported; re-save it "
                  "with torch >= 1.6 or convert it to safetensors",
                  path);
  } else {
    rc = read_safetensors(path, out, e);
  }
  if (rc != 0) emb_file_free(out);
  return rc;
}

/* ---- writing ---- */

static int check_for_write(const char *path, const emb_file *f, const char *format, herr *e) {
  bool a1111 = strcmp(format, "a1111-pt") == 0 || strcmp(format, "a1111-safetensors") == 0;
  if (!a1111 && strcmp(format, "diffusers") != 0)
    return herr_set(e, "%s: unknown embedding format '%s' (expected diffusers, a1111-pt or a1111-safetensors)", path,
                    format);
  if (f->n == 0) return herr_set(e, "%s: nothing to write: the embedding has no tokens", path);
  if (a1111 && f->n != 1) return herr_set(e, "%s: %s holds exactly one embedding, got %zu tokens", path, format, f->n);
  for (size_t i = 0; i < f->n; i++) {
    const emb_vectors *v = &f->items[i];
    const char *tok = v->token ? v->token : "(null)";
    if (!a1111 && (!v->token || !*v->token)) return herr_set(e, "%s: item %zu has no token name", path, i);
    if (v->n_vectors < 1 || v->n_vectors > EMB_MAX_VECTORS || v->dim < 1 || v->dim > EMB_MAX_DIM || !v->data)
      return herr_set(e, "%s: token '%s' has shape [%lld, %lld]%s; expected 1..%d vectors of 1..%d values", path, tok,
                      (long long)v->n_vectors, (long long)v->dim, v->data ? "" : " and no data", EMB_MAX_VECTORS,
                      EMB_MAX_DIM);
    for (size_t j = 0; j < i && !a1111; j++)
      if (strcmp(f->items[j].token, v->token) == 0) return herr_set(e, "%s: token '%s' appears twice", path, tok);
  }
  return 0;
}

static const char *write_name(const emb_file *f) {
  if (f->name && *f->name) return f->name;
  return f->items[0].token && *f->items[0].token ? f->items[0].token : "embedding";
}

static int write_safetensors(const char *path, const emb_file *f, bool a1111, herr *e) {
  st_tensor *t = calloc(f->n, sizeof *t);
  if (!t) abort();
  for (size_t i = 0; i < f->n; i++) {
    const emb_vectors *v = &f->items[i];
    t[i] = (st_tensor){.name = a1111 ? "string_to_param.*" : v->token,
                       .dtype = ST_F32,
                       .ndim = 2,
                       .shape = {v->n_vectors, v->dim},
                       .data = v->data,
                       .nbytes = (size_t)(v->n_vectors * v->dim) * sizeof(float)};
  }
  const char *keys[4], *vals[4];
  size_t nm = 0;
  char step[32];
  if (a1111) {
    keys[nm] = "name";
    vals[nm++] = write_name(f);
    if (f->step >= 0) {
      snprintf(step, sizeof step, "%lld", (long long)f->step);
      keys[nm] = "step";
      vals[nm++] = step;
    }
    if (f->sd_checkpoint) {
      keys[nm] = "sd_checkpoint";
      vals[nm++] = f->sd_checkpoint;
    }
    if (f->sd_checkpoint_name) {
      keys[nm] = "sd_checkpoint_name";
      vals[nm++] = f->sd_checkpoint_name;
    }
  } else {
    keys[nm] = "format"; /* what diffusers' training script records */
    vals[nm++] = "pt";
  }
  int rc = st_write(path, t, f->n, keys, vals, nm, e);
  free(t);
  return rc;
}

static void pkw_str_memo(pk_writer *w, const char *s) {
  pkw_str(w, s);
  pkw_memoize(w);
}

static void pkw_opt_str(pk_writer *w, const char *s) {
  if (s)
    pkw_str_memo(w, s);
  else
    pkw_none(w);
}

/* The pickle A1111's Embedding.save produces through torch.save (protocol 2). */
static void a1111_pickle(pk_writer *w, const emb_file *f) {
  const emb_vectors *v = &f->items[0];
  pkw_begin(w);
  pkw_empty_dict(w);
  pkw_memoize(w);
  pkw_mark(w);
  pkw_str_memo(w, "string_to_token");
  pkw_empty_dict(w);
  pkw_memoize(w);
  pkw_str_memo(w, "*");
  pkw_int(w, 265);
  pkw_setitem(w);
  pkw_str_memo(w, "string_to_param");
  pkw_empty_dict(w);
  pkw_memoize(w);
  pkw_str_memo(w, "*");
  pkw_global(w, "torch._utils", "_rebuild_tensor_v2");
  pkw_memoize(w);
  pkw_mark(w);
  pkw_mark(w); /* persistent id ('storage', torch.FloatStorage, '0', 'cpu', numel) */
  pkw_str_memo(w, "storage");
  pkw_global(w, "torch", "FloatStorage");
  pkw_memoize(w);
  pkw_str_memo(w, "0");
  pkw_str_memo(w, "cpu");
  pkw_int(w, v->n_vectors * v->dim);
  pkw_tuple(w);
  pkw_memoize(w);
  pkw_binpersid(w);
  pkw_int(w, 0); /* storage offset */
  pkw_int(w, v->n_vectors);
  pkw_int(w, v->dim);
  pkw_tuple2(w);
  pkw_memoize(w);
  pkw_int(w, v->dim); /* contiguous strides */
  pkw_int(w, 1);
  pkw_tuple2(w);
  pkw_memoize(w);
  pkw_bool(w, true); /* A1111 trains the vectors, so they are saved with requires_grad */
  pkw_global(w, "collections", "OrderedDict");
  pkw_memoize(w);
  pkw_empty_tuple(w);
  pkw_reduce(w);
  pkw_memoize(w);
  pkw_tuple(w);
  pkw_memoize(w);
  pkw_reduce(w);
  pkw_memoize(w);
  pkw_setitem(w);
  pkw_str_memo(w, "name");
  pkw_str_memo(w, write_name(f));
  pkw_str_memo(w, "step");
  if (f->step >= 0)
    pkw_int(w, f->step);
  else
    pkw_none(w);
  pkw_str_memo(w, "sd_checkpoint");
  pkw_opt_str(w, f->sd_checkpoint);
  pkw_str_memo(w, "sd_checkpoint_name");
  pkw_opt_str(w, f->sd_checkpoint_name);
  pkw_setitems(w);
  pkw_end(w);
}

static int write_pt(const char *path, const emb_file *f, herr *e) {
  const emb_vectors *v = &f->items[0];
  size_t numel = (size_t)(v->n_vectors * v->dim);
  uint8_t *raw = malloc(numel * 4);
  if (!raw) abort();
  for (size_t i = 0; i < numel; i++) { /* torch stores little-endian regardless of the host */
    uint32_t u;
    memcpy(&u, &v->data[i], 4);
    for (int b = 0; b < 4; b++) raw[i * 4 + (size_t)b] = (uint8_t)(u >> (8 * b));
  }
  pk_writer w;
  a1111_pickle(&w, f);
  tz_entry_in entries[] = {
      {"archive/data.pkl", w.out.data, w.out.len},
      {"archive/byteorder", "little", 6},
      {"archive/data/0", raw, numel * 4},
      {"archive/version", "3\n", 2},
  };
  int rc = tz_write(path, entries, sizeof entries / sizeof entries[0], e);
  sb_free(&w.out);
  free(raw);
  return rc;
}

int emb_write(const char *path, const emb_file *f, const char *format, herr *e) {
  if (!format) format = f->format;
  if (!format) return herr_set(e, "%s: no embedding format given", path);
  if (check_for_write(path, f, format, e) != 0) return -1;
  if (strcmp(format, "a1111-pt") == 0) return write_pt(path, f, e);
  return write_safetensors(path, f, strcmp(format, "a1111-safetensors") == 0, e);
}

int emb_placeholder_tokens(const char *token, int64_t n_vectors, char ***tokens_out, herr *e) {
  *tokens_out = NULL;
  if (!token || !*token) return herr_set(e, "placeholder token is empty");
  if (n_vectors < 1 || n_vectors > EMB_MAX_VECTORS)
    return herr_set(e, "placeholder token '%s': %lld vectors, expected 1..%d", token, (long long)n_vectors,
                    EMB_MAX_VECTORS);
  char **t = calloc((size_t)n_vectors, sizeof *t);
  if (!t) abort();
  t[0] = dup_str(token);
  size_t cap = strlen(token) + 24;
  for (int64_t i = 1; i < n_vectors; i++) {
    t[i] = malloc(cap);
    if (!t[i]) abort();
    snprintf(t[i], cap, "%s_%lld", token, (long long)i);
  }
  *tokens_out = t;
  return 0;
}

void emb_tokens_free(char **tokens, int64_t n) {
  if (!tokens) return;
  for (int64_t i = 0; i < n; i++) free(tokens[i]);
  free(tokens);
}

/* safetensors: opens a file through a read-only mapping and checks every header field against
 * the format's rules before handing out tensor views; writes files atomically. */
#include "harness/formats/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Largest double range where every integer is exact; larger JSON numbers cannot be trusted. */
#define ST_EXACT_INT_MAX 9007199254740992.0

struct st_file {
  char *path;
  void *map;
  size_t map_len;
  size_t n;
  st_tensor *tensors;  /* offset order */
  size_t *by_name;     /* indices into tensors, sorted by name */
  size_t n_meta;
  char **meta_keys;    /* sorted */
  char **meta_values;
};

static const char *const dtype_names[ST_DTYPE_COUNT] = {"F64", "F32", "F16", "BF16", "I64",
                                                         "I32", "I16", "I8",  "U8",   "BOOL"};
static const size_t dtype_sizes[ST_DTYPE_COUNT] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};

size_t st_dtype_size(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtype_sizes[t] : 0; }

const char *st_dtype_name(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtype_names[t] : "?"; }

int st_dtype_from_name(const char *s, st_dtype *out) {
  if (!s) return -1;
  for (int i = 0; i < ST_DTYPE_COUNT; i++)
    if (strcmp(s, dtype_names[i]) == 0) {
      if (out) *out = (st_dtype)i;
      return 0;
    }
  return -1;
}

/* numel of a shape; -1 when a dimension is negative or the product overflows int64. */
static int64_t shape_numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return -1;
    if (__builtin_mul_overflow(n, shape[i], &n)) return -1;
  }
  return n;
}

int64_t st_numel(const st_tensor *t) {
  if (!t || t->ndim < 0 || t->ndim > ST_MAX_DIMS) return -1;
  return shape_numel(t->ndim, t->shape);
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, cap - k, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* ---- reading ---- */

static bool valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (size_t j = 1; j < len; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

/* A JSON number that is an exact non-negative integer (JSON has no integer type; cJSON keeps a double). */
static bool json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > ST_EXACT_INT_MAX || floor(d) != d) return false;
  *out = (uint64_t)d;
  return true;
}

static const char *json_kind(const cJSON *v) {
  if (!v) return "nothing";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  return "an invalid value";
}

/* The one field `key` of a tensor's object; a field given twice is an error, as in the
 * reference parser. */
static int tensor_field(const char *path, const char *name, const cJSON *obj, const char *key, const cJSON **out,
                        herr *e) {
  *out = NULL;
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (!c->string || strcmp(c->string, key) != 0) continue;
    if (*out) return herr_set(e, "%s: tensor '%s' has field \"%s\" twice", path, name, key);
    *out = c;
  }
  if (!*out) return herr_set(e, "%s: tensor '%s' has no \"%s\" field", path, name, key);
  return 0;
}

static int parse_tensor(const char *path, const cJSON *item, const uint8_t *buffer, uint64_t buf_len,
                        st_tensor *t, uint64_t *begin_out, herr *e) {
  const char *name = item->string;
  if (!cJSON_IsObject(item))
    return herr_set(e, "%s: tensor '%s' must be an object {dtype, shape, data_offsets}, got %s", path, name,
                    json_kind(item));
  const cJSON *dt, *sh, *off;
  if (tensor_field(path, name, item, "dtype", &dt, e) || tensor_field(path, name, item, "shape", &sh, e) ||
      tensor_field(path, name, item, "data_offsets", &off, e))
    return -1;
  if (!cJSON_IsString(dt))
    return herr_set(e, "%s: tensor '%s': dtype must be a string, got %s", path, name, json_kind(dt));
  if (st_dtype_from_name(dt->valuestring, &t->dtype) != 0)
    return herr_set(e, "%s: tensor '%s' has unknown dtype '%s', expected one of F64, F32, F16, BF16, I64, I32, "
                    "I16, I8, U8, BOOL", path, name, dt->valuestring);
  if (!cJSON_IsArray(sh))
    return herr_set(e, "%s: tensor '%s': shape must be an array of integers, got %s", path, name, json_kind(sh));
  int nd = cJSON_GetArraySize(sh);
  if (nd > ST_MAX_DIMS)
    return herr_set(e, "%s: tensor '%s' has %d dimensions, at most %d are supported", path, name, nd, ST_MAX_DIMS);
  t->ndim = nd;
  int i = 0;
  for (const cJSON *d = sh->child; d; d = d->next, i++) {
    uint64_t v;
    if (!json_uint(d, &v)) {
      if (cJSON_IsNumber(d))
        return herr_set(e, "%s: tensor '%s': shape[%d] must be a non-negative integer, got %.17g", path, name, i,
                        d->valuedouble);
      return herr_set(e, "%s: tensor '%s': shape[%d] must be a non-negative integer, got %s", path, name, i,
                      json_kind(d));
    }
    t->shape[i] = (int64_t)v;
  }
  for (; i < ST_MAX_DIMS; i++) t->shape[i] = 0;
  int64_t numel = shape_numel(t->ndim, t->shape);
  uint64_t want;
  if (numel < 0 || __builtin_mul_overflow((uint64_t)numel, (uint64_t)dtype_sizes[t->dtype], &want)) {
    char s[256];
    format_shape(s, sizeof s, t->ndim, t->shape);
    return herr_set(e, "%s: tensor '%s': shape %s overflows 64 bits", path, name, s);
  }
  uint64_t b, en;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &b) ||
      !json_uint(off->child->next, &en))
    return herr_set(e, "%s: tensor '%s': data_offsets must be [begin, end] with non-negative integers", path, name);
  if (b > en)
    return herr_set(e, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, name,
                    (unsigned long long)b, (unsigned long long)en);
  if (en > buf_len)
    return herr_set(e, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the %llu-byte data buffer",
                    path, name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)buf_len);
  if (en - b != want) {
    char s[256];
    format_shape(s, sizeof s, t->ndim, t->shape);
    return herr_set(e, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s shape %s needs %llu", path,
                    name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b), dt->valuestring,
                    s, (unsigned long long)want);
  }
  t->data = buffer + b;
  t->nbytes = (size_t)want;
  *begin_out = b;
  return 0;
}

/* A tensor's place while checking the buffer's layout and name uniqueness. */
typedef struct order_key {
  uint64_t begin, end;
  size_t idx;
  const char *name;
} order_key;

static int cmp_offsets(const void *a, const void *b) {
  const order_key *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_names(const void *a, const void *b) {
  const order_key *x = a, *y = b;
  return strcmp(x->name, y->name);
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int parse_metadata(st_file *f, const cJSON *meta, herr *e) {
  if (cJSON_IsNull(meta)) return 0; /* the reference reads a null __metadata__ as absent */
  if (!cJSON_IsObject(meta))
    return herr_set(e, "%s: \"__metadata__\" must be an object of string values, got %s", f->path, json_kind(meta));
  size_t n = (size_t)cJSON_GetArraySize(meta);
  f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
  f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
  if (!f->meta_keys || !f->meta_values) abort();
  /* Each key/value pair is stored as "key\0value" so one sort keeps them together. */
  for (const cJSON *c = meta->child; c; c = c->next) {
    if (!cJSON_IsString(c))
      return herr_set(e, "%s: \"__metadata__\" value for '%s' must be a string, got %s", f->path, c->string,
                      json_kind(c));
    size_t kl = strlen(c->string), vl = strlen(c->valuestring);
    char *kv = malloc(kl + vl + 2);
    if (!kv) abort();
    memcpy(kv, c->string, kl + 1);
    memcpy(kv + kl + 1, c->valuestring, vl + 1);
    f->meta_keys[f->n_meta++] = kv;
  }
  qsort(f->meta_keys, f->n_meta, sizeof *f->meta_keys, cmp_str_ptr);
  for (size_t i = 0; i < f->n_meta; i++) {
    if (i > 0 && strcmp(f->meta_keys[i - 1], f->meta_keys[i]) == 0)
      return herr_set(e, "%s: \"__metadata__\" has key '%s' twice", f->path, f->meta_keys[i]);
    f->meta_values[i] = f->meta_keys[i] + strlen(f->meta_keys[i]) + 1;
  }
  return 0;
}

static int parse_header(st_file *f, const char *json, size_t json_len, const uint8_t *buffer, uint64_t buf_len,
                        herr *e) {
  if (!valid_utf8((const unsigned char *)json, json_len))
    return herr_set(e, "%s: the header is not valid UTF-8", f->path);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
  if (!root) {
    const char *at = end ? end : cJSON_GetErrorPtr();
    size_t pos = at && at >= json && at <= json + json_len ? (size_t)(at - json) : 0;
    return herr_set(e, "%s: the header is not valid JSON (error near byte %zu of %zu)", f->path, pos, json_len);
  }
  int rc = -1;
  /* The reference writer pads the header with spaces; any JSON whitespace is accepted after it. */
  for (const char *p = end; p < json + json_len; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      herr_set(e, "%s: the header has extra bytes after its JSON object (at byte %zu of %zu)", f->path,
               (size_t)(p - json), json_len);
      goto out;
    }
  if (!cJSON_IsObject(root)) {
    herr_set(e, "%s: the header must be a JSON object, got %s", f->path, json_kind(root));
    goto out;
  }
  size_t count = 0;
  const cJSON *meta = NULL;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0) {
      if (meta) {
        herr_set(e, "%s: the header has \"__metadata__\" twice", f->path);
        goto out;
      }
      meta = c;
    } else {
      count++;
    }
  }
  if (meta && parse_metadata(f, meta, e) != 0) goto out;
  f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
  f->by_name = calloc(count ? count : 1, sizeof *f->by_name);
  st_tensor *raw = calloc(count ? count : 1, sizeof *raw);
  order_key *keys = calloc(count ? count : 1, sizeof *keys);
  if (!f->tensors || !f->by_name || !raw || !keys) abort();
  size_t k = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (c == meta) continue;
    uint64_t begin = 0;
    if (parse_tensor(f->path, c, buffer, buf_len, &raw[k], &begin, e) != 0) goto out_free;
    keys[k].begin = begin;
    keys[k].end = begin + raw[k].nbytes;
    keys[k].idx = k;
    keys[k].name = c->string;
    k++;
  }
  /* Duplicate names first: a duplicate would otherwise be reported as an overlap. */
  qsort(keys, count, sizeof *keys, cmp_names);
  for (size_t i = 1; i < count; i++)
    if (strcmp(keys[i - 1].name, keys[i].name) == 0) {
      herr_set(e, "%s: tensor '%s' is defined twice in the header", f->path, keys[i].name);
      goto out_free;
    }
  qsort(keys, count, sizeof *keys, cmp_offsets);
  uint64_t at = 0;
  for (size_t i = 0; i < count; i++) {
    if (keys[i].begin < at) {
      herr_set(e, "%s: tensor '%s' (bytes %llu..%llu) overlaps tensor '%s' (which ends at %llu)", f->path,
               keys[i].name, (unsigned long long)keys[i].begin, (unsigned long long)keys[i].end, keys[i - 1].name,
               (unsigned long long)at);
      goto out_free;
    }
    if (keys[i].begin > at) {
      if (i == 0)
        herr_set(e, "%s: tensor '%s' begins at byte %llu, expected 0: the data buffer has a hole before it", f->path,
                 keys[i].name, (unsigned long long)keys[i].begin);
      else
        herr_set(e, "%s: tensor '%s' begins at byte %llu, expected %llu: a hole after tensor '%s'", f->path,
                 keys[i].name, (unsigned long long)keys[i].begin, (unsigned long long)at, keys[i - 1].name);
      goto out_free;
    }
    at = keys[i].end;
  }
  if (at != buf_len) {
    if (count == 0)
      herr_set(e, "%s: the header has no tensors but the data buffer holds %llu bytes", f->path,
               (unsigned long long)buf_len);
    else
      herr_set(e, "%s: the tensors end at byte %llu (last: '%s'), but the data buffer holds %llu bytes", f->path,
               (unsigned long long)at, keys[count - 1].name, (unsigned long long)buf_len);
    goto out_free;
  }
  /* Names are copied out of the cJSON tree, which is freed below. */
  for (size_t i = 0; i < count; i++) {
    st_tensor *t = &f->tensors[i];
    *t = raw[keys[i].idx];
    t->name = strdup(keys[i].name);
    if (!t->name) abort();
    f->n = i + 1;
  }
  for (size_t i = 0; i < count; i++) keys[i] = (order_key){0, 0, i, f->tensors[i].name};
  qsort(keys, count, sizeof *keys, cmp_names);
  for (size_t i = 0; i < count; i++) f->by_name[i] = keys[i].idx;
  rc = 0;
out_free:
  free(raw);
  free(keys);
out:
  cJSON_Delete(root);
  return rc;
}

st_file *st_open(const char *path, herr *e) {
  st_file *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->path = strdup(path);
  if (!f->path) abort();
  f->map = MAP_FAILED;
  char *json = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    herr_errno(e, "cannot open %s", path);
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    herr_errno(e, "cannot stat %s", path);
    close(fd);
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    herr_set(e, "%s: not a regular file", path);
    close(fd);
    goto fail;
  }
  uint64_t size = (uint64_t)sb.st_size;
  if (size < 8) {
    close(fd);
    herr_set(e, "%s: file of %llu bytes is too short for a safetensors header (8-byte length, then JSON)", path,
             (unsigned long long)size);
    goto fail;
  }
  f->map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f->map == MAP_FAILED) {
    herr_errno(e, "cannot map %s", path);
    goto fail;
  }
  f->map_len = (size_t)size;
  const uint8_t *base = f->map;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];
  if (n < 2) {
    herr_set(e, "%s: header length %llu is too small for a JSON object", path, (unsigned long long)n);
    goto fail;
  }
  if (n > ST_MAX_HEADER) {
    herr_set(e, "%s: header length %llu exceeds the 100 MB limit (not a safetensors file?)", path,
             (unsigned long long)n);
    goto fail;
  }
  if (8 + n > size) {
    herr_set(e, "%s: header length %llu runs past the end of the %llu-byte file (truncated?)", path,
             (unsigned long long)n, (unsigned long long)size);
    goto fail;
  }
  json = malloc((size_t)n + 1);
  if (!json) abort();
  memcpy(json, base + 8, (size_t)n);
  json[n] = '\0';
  if (memchr(json, '\0', (size_t)n)) {
    herr_set(e, "%s: the header contains a NUL byte", path);
    goto fail;
  }
  if (parse_header(f, json, (size_t)n, base + 8 + n, size - 8 - n, e) != 0) goto fail;
  free(json);
  return f;
fail:
  free(json);
  st_close(f);
  return NULL;
}

void st_close(st_file *f) {
  if (!f) return;
  if (f->map != MAP_FAILED && f->map) munmap(f->map, f->map_len);
  for (size_t i = 0; i < f->n; i++) free((char *)f->tensors[i].name);
  free(f->tensors);
  free(f->by_name);
  for (size_t i = 0; i < f->n_meta; i++) free(f->meta_keys[i]);
  free(f->meta_keys);
  free(f->meta_values);
  free(f->path);
  free(f);
}

size_t st_count(const st_file *f) { return f ? f->n : 0; }

const st_tensor *st_at(const st_file *f, size_t i) { return f && i < f->n ? &f->tensors[i] : NULL; }

const st_tensor *st_find(const st_file *f, const char *name) {
  if (!f || !name) return NULL;
  size_t lo = 0, hi = f->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const st_tensor *t = &f->tensors[f->by_name[mid]];
    int c = strcmp(name, t->name);
    if (c == 0) return t;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

const char *st_path(const st_file *f) { return f ? f->path : NULL; }

const char *st_metadata(const st_file *f, const char *key) {
  if (!f || !key || f->n_meta == 0) return NULL;
  char **hit = bsearch(&key, f->meta_keys, f->n_meta, sizeof *f->meta_keys, cmp_str_ptr);
  return hit ? f->meta_values[hit - f->meta_keys] : NULL;
}

const st_tensor *st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                           herr *e) {
  if (!f || !name) {
    herr_set(e, "st_expect: no file or no tensor name given");
    return NULL;
  }
  const st_tensor *t = st_find(f, name);
  if (!t) {
    herr_set(e, "%s: no tensor '%s' (the file holds %zu tensors)", st_path(f), name, st_count(f));
    return NULL;
  }
  if (dtype != ST_DTYPE_ANY && t->dtype != dtype) {
    herr_set(e, "%s: tensor '%s' has dtype %s, expected %s", f->path, name, st_dtype_name(t->dtype),
             st_dtype_name(dtype));
    return NULL;
  }
  if (ndim >= 0) {
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
      char got[256], want[256];
      format_shape(got, sizeof got, t->ndim, t->shape);
      format_shape(want, sizeof want, ndim > ST_MAX_DIMS ? ST_MAX_DIMS : ndim, shape);
      herr_set(e, "%s: tensor '%s' has shape %s, expected %s", f->path, name, got, want);
      return NULL;
    }
  }
  return t;
}

/* ---- conversion ---- */

float st_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13); /* inf, or NaN keeping its payload */
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {
    /* Subnormal: renormalise so the leading 1 becomes the implicit bit. */
    int shift = 0;
    while (!(man & 0x400)) {
      man <<= 1;
      shift++;
    }
    man &= 0x3FF;
    bits = sign | ((uint32_t)(113 - shift) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

float st_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

int st_to_f32(const st_tensor *t, float *out, herr *e) {
  int64_t numel = st_numel(t);
  const char *name = t && t->name ? t->name : "?";
  if (numel < 0) return herr_set(e, "tensor '%s': invalid shape", name);
  if ((size_t)numel * st_dtype_size(t->dtype) != t->nbytes)
    return herr_set(e, "tensor '%s': %zu bytes do not match its shape and dtype %s", name, t->nbytes,
                    st_dtype_name(t->dtype));
  size_t n = (size_t)numel;
  const unsigned char *p = t->data;
  switch (t->dtype) {
    case ST_F32:
      if (n) memcpy(out, p, n * sizeof(float));
      return 0;
    case ST_F64:
      for (size_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, p + 8 * i, sizeof d);
        out[i] = (float)d;
      }
      return 0;
    case ST_F16:
      for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        out[i] = st_f16_to_f32(h);
      }
      return 0;
    case ST_BF16:
      for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, sizeof h);
        out[i] = st_bf16_to_f32(h);
      }
      return 0;
    default:
      return herr_set(e, "tensor '%s' has dtype %s, expected a floating-point dtype (F32, F16, BF16 or F64)", name,
                      st_dtype_name(t->dtype));
  }
}

/* ---- writing ---- */

static int write_all(int fd, const void *data, size_t len, const char *tmp, herr *e) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return herr_errno(e, "cannot write %s", tmp);
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int check_for_write(const char *path, const st_tensor *tensors, size_t n, const char *const *meta_keys,
                           const char *const *meta_values, size_t n_meta, herr *e) {
  for (size_t i = 0; i < n; i++) {
    const st_tensor *t = &tensors[i];
    if (!t->name) return herr_set(e, "writing %s: tensor #%zu has no name", path, i);
    if (strcmp(t->name, "__metadata__") == 0)
      return herr_set(e, "writing %s: \"__metadata__\" cannot be a tensor name", path);
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT)
      return herr_set(e, "writing %s: tensor '%s' has an invalid dtype (%d)", path, t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
      return herr_set(e, "writing %s: tensor '%s' has %d dimensions, expected 0 to %d", path, t->name, t->ndim,
                      ST_MAX_DIMS);
    int64_t numel = shape_numel(t->ndim, t->shape);
    uint64_t want;
    char s[256];
    format_shape(s, sizeof s, t->ndim, t->shape);
    if (numel < 0 || __builtin_mul_overflow((uint64_t)numel, (uint64_t)st_dtype_size(t->dtype), &want))
      return herr_set(e, "writing %s: tensor '%s' has an invalid shape %s", path, t->name, s);
    if (want != t->nbytes)
      return herr_set(e, "writing %s: tensor '%s' has %zu bytes, but %s shape %s needs %llu", path, t->name,
                      t->nbytes, st_dtype_name(t->dtype), s, (unsigned long long)want);
    if (want > 0 && !t->data) return herr_set(e, "writing %s: tensor '%s' has no data", path, t->name);
  }
  if (n > 0) {
    order_key *keys = calloc(n, sizeof *keys);
    if (!keys) abort();
    for (size_t i = 0; i < n; i++) keys[i].name = tensors[i].name;
    qsort(keys, n, sizeof *keys, cmp_names);
    for (size_t i = 1; i < n; i++)
      if (strcmp(keys[i - 1].name, keys[i].name) == 0) {
        herr_set(e, "writing %s: tensor '%s' is given twice", path, keys[i].name);
        free(keys);
        return -1;
      }
    free(keys);
  }
  for (size_t i = 0; i < n_meta; i++) {
    if (!meta_keys[i] || !meta_values[i]) return herr_set(e, "writing %s: metadata entry #%zu is NULL", path, i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(meta_keys[i], meta_keys[j]) == 0)
        return herr_set(e, "writing %s: metadata key '%s' is given twice", path, meta_keys[i]);
  }
  return 0;
}

int st_write(const char *path, const st_tensor *tensors, size_t n, const char *const *meta_keys,
             const char *const *meta_values, size_t n_meta, herr *e) {
  if (check_for_write(path, tensors, n, meta_keys, meta_values, n_meta, e) != 0) return -1;
  strbuf h = STRBUF_INIT;
  sb_append_char(&h, '{');
  if (n_meta > 0) {
    sb_append(&h, "\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
      if (i) sb_append_char(&h, ',');
      sb_append_quoted(&h, meta_keys[i]);
      sb_append_char(&h, ':');
      sb_append_quoted(&h, meta_values[i]);
    }
    sb_append_char(&h, '}');
  }
  uint64_t off = 0;
  for (size_t i = 0; i < n; i++) {
    const st_tensor *t = &tensors[i];
    if (i || n_meta) sb_append_char(&h, ',');
    sb_append_quoted(&h, t->name);
    sb_appendf(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) sb_appendf(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    sb_appendf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
               (unsigned long long)(off + t->nbytes));
    off += t->nbytes;
  }
  sb_append_char(&h, '}');
  /* Spaces pad the header so the data buffer starts 8-byte aligned, as the reference writer does. */
  while (h.len % 8) sb_append_char(&h, ' ');
  uint64_t hlen = h.len;
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)(hlen >> (8 * i));

  static unsigned counter;
  size_t tn = strlen(path) + 64;
  char *tmp = malloc(tn);
  if (!tmp) abort();
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, tn, "%s.tmp.%ld.%u", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  int rc = -1;
  if (fd < 0) {
    herr_errno(e, "cannot create %s", tmp);
    goto out;
  }
  if (write_all(fd, len_bytes, 8, tmp, e) || write_all(fd, h.data, h.len, tmp, e)) goto fail_fd;
  for (size_t i = 0; i < n; i++)
    if (tensors[i].nbytes && write_all(fd, tensors[i].data, tensors[i].nbytes, tmp, e)) goto fail_fd;
  if (fsync(fd) != 0) {
    herr_errno(e, "cannot flush %s", tmp);
    goto fail_fd;
  }
  if (close(fd) != 0) {
    fd = -1;
    herr_errno(e, "cannot close %s", tmp);
    goto fail_tmp;
  }
  fd = -1;
  if (fs_rename_durable(tmp, path, e) != 0) goto fail_tmp;
  rc = 0;
  goto out;
fail_fd:
  close(fd);
fail_tmp:
  unlink(tmp);
out:
  free(tmp);
  sb_free(&h);
  return rc;
}

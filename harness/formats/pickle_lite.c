/* pickle_lite: interprets pickle opcodes into plain values. Globals resolve only against a
 * fixed whitelist, REDUCE is evaluated here for those few callables, and every length, memo
 * index and container size is bounded, so a hostile data.pkl can fail but never run code. */
#include "harness/formats/pickle_lite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pk_doc {
  pk_value **all; /* every value made, for freeing */
  size_t n_all, cap_all;
  pk_value *root;
};

typedef struct pk_ctx {
  const uint8_t *p;
  size_t len, pos, op_at;
  const char *label;
  pk_doc *doc;
  pk_value **stack;
  size_t sp, scap;
  size_t marks[PK_MAX_MARKS];
  size_t n_marks;
  pk_value **memo;
  size_t memo_cap, memo_count;
  uint64_t key_compares; /* bounds the quadratic cost of repeated-key checks */
  herr *e;
} pk_ctx;

#define PK_MAX_KEY_COMPARES 50000000u

static int fail(pk_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pk_ctx *c, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return herr_set(c->e, "%s: byte %zu: %s", c->label, c->op_at, msg);
}

const char *pk_kind_name(pk_kind k) {
  static const char *const names[] = {"None",  "bool", "int",  "float",  "str",     "bytes",
                                      "tuple", "list", "dict", "global", "storage", "tensor"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static pk_value *new_value(pk_ctx *c, pk_kind kind) {
  pk_doc *d = c->doc;
  if (d->n_all == d->cap_all) {
    d->cap_all = d->cap_all ? d->cap_all * 2 : 64;
    d->all = realloc(d->all, d->cap_all * sizeof *d->all);
    if (!d->all) abort();
  }
  pk_value *v = calloc(1, sizeof *v);
  if (!v) abort();
  v->kind = kind;
  d->all[d->n_all++] = v;
  return v;
}

static void free_value(pk_value *v) {
  switch (v->kind) {
    case PK_STR:
    case PK_BYTES:
      free(v->u.str.s);
      break;
    case PK_TUPLE:
    case PK_LIST:
      free(v->u.seq.items);
      break;
    case PK_DICT:
      free(v->u.dict.keys);
      free(v->u.dict.vals);
      break;
    case PK_STORAGE:
      free(v->u.storage.key);
      free(v->u.storage.location);
      break;
    default:
      break;
  }
  free(v);
}

void pk_doc_free(pk_doc *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n_all; i++) free_value(d->all[i]);
  free(d->all);
  free(d);
}

const pk_value *pk_root(const pk_doc *d) {
  return d ? d->root : NULL;
}

/* ---- input ---- */

static int need(pk_ctx *c, uint64_t n, const char *what) {
  if (n > c->len - c->pos)
    return fail(c, "%s needs %llu bytes but only %zu remain (truncated pickle?)", what, (unsigned long long)n,
                c->len - c->pos);
  return 0;
}

static uint64_t rd_le(pk_ctx *c, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | c->p[c->pos + (size_t)i];
  c->pos += (size_t)n;
  return v;
}

/* ---- stack ---- */

static int push(pk_ctx *c, pk_value *v) {
  if (c->sp == PK_MAX_STACK) return fail(c, "stack deeper than %d values", PK_MAX_STACK);
  if (c->sp == c->scap) {
    c->scap = c->scap ? c->scap * 2 : 64;
    c->stack = realloc(c->stack, c->scap * sizeof *c->stack);
    if (!c->stack) abort();
  }
  c->stack[c->sp++] = v;
  return 0;
}

static size_t floor_of_stack(const pk_ctx *c) {
  return c->n_marks ? c->marks[c->n_marks - 1] : 0;
}

static int pop(pk_ctx *c, pk_value **v) {
  if (c->sp <= floor_of_stack(c)) return fail(c, "stack underflow");
  *v = c->stack[--c->sp];
  return 0;
}

static int top(pk_ctx *c, pk_value **v) {
  if (c->sp <= floor_of_stack(c)) return fail(c, "stack underflow");
  *v = c->stack[c->sp - 1];
  return 0;
}

/* Pops back to the last MARK; the items are stack[*base .. old sp). */
static int pop_mark(pk_ctx *c, size_t *base) {
  if (c->n_marks == 0) return fail(c, "no MARK to pop back to");
  *base = c->marks[--c->n_marks];
  return 0;
}

/* ---- containers ---- */

static int seq_push(pk_ctx *c, pk_value *s, pk_value *item) {
  if (s->u.seq.n == PK_MAX_CONTAINER)
    return fail(c, "%s longer than %d items", pk_kind_name(s->kind), PK_MAX_CONTAINER);
  if (s->u.seq.n == s->u.seq.cap) {
    s->u.seq.cap = s->u.seq.cap ? s->u.seq.cap * 2 : 4;
    s->u.seq.items = realloc(s->u.seq.items, s->u.seq.cap * sizeof *s->u.seq.items);
    if (!s->u.seq.items) abort();
  }
  s->u.seq.items[s->u.seq.n++] = item;
  return 0;
}

static pk_value *make_seq(pk_ctx *c, pk_kind kind, pk_value *const *items, size_t n) {
  pk_value *s = new_value(c, kind);
  if (n) {
    s->u.seq.items = malloc(n * sizeof *items);
    if (!s->u.seq.items) abort();
    memcpy(s->u.seq.items, items, n * sizeof *items);
  }
  s->u.seq.n = s->u.seq.cap = n;
  return s;
}

static bool same_key(const pk_value *a, const pk_value *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
    case PK_NONE:
      return true;
    case PK_BOOL:
      return a->u.b == b->u.b;
    case PK_INT:
      return a->u.i == b->u.i;
    case PK_STR:
    case PK_BYTES:
      return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    default:
      return a == b;
  }
}

static int dict_set(pk_ctx *c, pk_value *d, pk_value *k, pk_value *v) {
  if (d->kind != PK_DICT) return fail(c, "SETITEM on a %s, expected a dict", pk_kind_name(d->kind));
  if (k->kind == PK_LIST || k->kind == PK_DICT)
    return fail(c, "unhashable %s used as a dict key", pk_kind_name(k->kind));
  /* A repeated key keeps its first position and takes the new value, as in Python. */
  c->key_compares += d->u.dict.n;
  if (c->key_compares > PK_MAX_KEY_COMPARES) return fail(c, "too many dict insertions (hostile pickle?)");
  for (size_t i = 0; i < d->u.dict.n; i++) {
    if (same_key(d->u.dict.keys[i], k)) {
      d->u.dict.vals[i] = v;
      return 0;
    }
  }
  if (d->u.dict.n == PK_MAX_CONTAINER) return fail(c, "dict with more than %d entries", PK_MAX_CONTAINER);
  if (d->u.dict.n == d->u.dict.cap) {
    d->u.dict.cap = d->u.dict.cap ? d->u.dict.cap * 2 : 8;
    d->u.dict.keys = realloc(d->u.dict.keys, d->u.dict.cap * sizeof *d->u.dict.keys);
    d->u.dict.vals = realloc(d->u.dict.vals, d->u.dict.cap * sizeof *d->u.dict.vals);
    if (!d->u.dict.keys || !d->u.dict.vals) abort();
  }
  d->u.dict.keys[d->u.dict.n] = k;
  d->u.dict.vals[d->u.dict.n++] = v;
  return 0;
}

const pk_value *pk_dict_get(const pk_value *d, const char *key) {
  if (!d || d->kind != PK_DICT) return NULL;
  size_t n = strlen(key);
  for (size_t i = 0; i < d->u.dict.n; i++) {
    const pk_value *k = d->u.dict.keys[i];
    if (k->kind == PK_STR && k->u.str.len == n && memcmp(k->u.str.s, key, n) == 0) return d->u.dict.vals[i];
  }
  return NULL;
}

/* ---- memo ---- */

static int memo_put(pk_ctx *c, uint64_t idx) {
  if (idx >= PK_MAX_MEMO) return fail(c, "memo index %llu beyond the limit %d", (unsigned long long)idx, PK_MAX_MEMO);
  pk_value *v = NULL;
  if (top(c, &v) != 0) return -1;
  if (idx >= c->memo_cap) {
    size_t cap = c->memo_cap ? c->memo_cap : 64;
    while (cap <= idx) cap *= 2;
    c->memo = realloc(c->memo, cap * sizeof *c->memo);
    if (!c->memo) abort();
    memset(c->memo + c->memo_cap, 0, (cap - c->memo_cap) * sizeof *c->memo);
    c->memo_cap = cap;
  }
  if (!c->memo[idx]) c->memo_count++;
  c->memo[idx] = v;
  return 0;
}

static int memo_get(pk_ctx *c, uint64_t idx) {
  if (idx >= c->memo_cap || !c->memo[idx]) return fail(c, "memo index %llu was never set", (unsigned long long)idx);
  return push(c, c->memo[idx]);
}

/* ---- scalars and strings ---- */

static bool valid_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    size_t k;
    uint32_t cp;
    if (b < 0x80) {
      i++;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      k = 1;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      k = 2;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      k = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (n - i <= k) return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    i += k + 1;
  }
  return true;
}

static int read_string(pk_ctx *c, uint64_t n, pk_kind kind) {
  if (need(c, n, kind == PK_STR ? "string" : "bytes") != 0) return -1;
  const uint8_t *s = c->p + c->pos;
  if (kind == PK_STR) {
    if (memchr(s, 0, (size_t)n)) return fail(c, "string contains a NUL byte");
    if (!valid_utf8(s, (size_t)n)) return fail(c, "string is not valid UTF-8");
  }
  pk_value *v = new_value(c, kind);
  v->u.str.s = malloc((size_t)n + 1);
  if (!v->u.str.s) abort();
  memcpy(v->u.str.s, s, (size_t)n);
  v->u.str.s[n] = '\0';
  v->u.str.len = (size_t)n;
  c->pos += (size_t)n;
  return push(c, v);
}

static int push_int(pk_ctx *c, int64_t i) {
  pk_value *v = new_value(c, PK_INT);
  v->u.i = i;
  return push(c, v);
}

/* LONG1/LONG4: little-endian two's complement of n bytes; values beyond int64 are refused. */
static int read_long(pk_ctx *c, uint64_t n) {
  if (n > 8) return fail(c, "integer of %llu bytes does not fit in 64 bits", (unsigned long long)n);
  if (need(c, n, "integer") != 0) return -1;
  if (n == 0) return push_int(c, 0);
  uint64_t u = rd_le(c, (int)n);
  if (n < 8 && (u >> (8 * n - 1)) & 1) u |= ~(uint64_t)0 << (8 * n);
  return push_int(c, (int64_t)u);
}

/* ---- globals: the whitelist ---- */

static int resolve_global(pk_ctx *c, const char *module, const char *name) {
  static const struct {
    const char *module, *name;
    pk_global_id id;
    st_dtype dtype;
  } allowed[] = {
      {"collections", "OrderedDict", PK_G_ORDERED_DICT, ST_F32},
      {"torch._utils", "_rebuild_tensor_v2", PK_G_REBUILD_TENSOR_V2, ST_F32},
      {"torch._utils", "_rebuild_parameter", PK_G_REBUILD_PARAMETER, ST_F32},
      {"torch._utils", "_rebuild_parameter_with_state", PK_G_REBUILD_PARAMETER_WITH_STATE, ST_F32},
      {"torch", "FloatStorage", PK_G_STORAGE_TYPE, ST_F32},
      {"torch", "HalfStorage", PK_G_STORAGE_TYPE, ST_F16},
      {"torch", "BFloat16Storage", PK_G_STORAGE_TYPE, ST_BF16},
      {"torch", "DoubleStorage", PK_G_STORAGE_TYPE, ST_F64},
  };
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
    if (strcmp(allowed[i].module, module) == 0 && strcmp(allowed[i].name, name) == 0) {
      pk_value *v = new_value(c, PK_GLOBAL);
      v->u.global.id = allowed[i].id;
      v->u.global.dtype = allowed[i].dtype;
      v->u.global.name = allowed[i].name;
      return push(c, v);
    }
  }
  return fail(c,
              "global '%s.%s' is not allowed (only collections.OrderedDict, torch._utils._rebuild_tensor_v2 / "
              "_rebuild_parameter and torch Float/Half/BFloat16/DoubleStorage are accepted; nothing is executed)",
              module, name);
}

/* GLOBAL's text form: "module\nname\n". */
static int read_line(pk_ctx *c, char *buf, size_t cap) {
  size_t i = 0;
  for (;;) {
    if (c->pos >= c->len) return fail(c, "GLOBAL runs past the end of the pickle");
    char ch = (char)c->p[c->pos++];
    if (ch == '\n') break;
    if (i + 1 >= cap) return fail(c, "GLOBAL name longer than %zu characters", cap - 1);
    if (ch == '\0') return fail(c, "GLOBAL name contains a NUL byte");
    buf[i++] = ch;
  }
  buf[i] = '\0';
  return 0;
}

/* ---- REDUCE / BINPERSID: the only places anything is "called" ---- */

static int int_tuple(pk_ctx *c, const pk_value *t, const char *what, int64_t *out, int *n) {
  if (t->kind != PK_TUPLE) return fail(c, "tensor %s is a %s, expected a tuple", what, pk_kind_name(t->kind));
  if (t->u.seq.n > PK_MAX_DIMS)
    return fail(c, "tensor %s has %zu dimensions (at most %d)", what, t->u.seq.n, PK_MAX_DIMS);
  for (size_t i = 0; i < t->u.seq.n; i++) {
    const pk_value *v = t->u.seq.items[i];
    if (v->kind != PK_INT || v->u.i < 0) return fail(c, "tensor %s entry %zu is not a non-negative int", what, i);
    out[i] = v->u.i;
  }
  *n = (int)t->u.seq.n;
  return 0;
}

int64_t pk_tensor_numel(const pk_value *t) {
  int64_t n = 1;
  for (int i = 0; i < t->u.tensor.ndim; i++) {
    int64_t s = t->u.tensor.size[i];
    if (s != 0 && n > INT64_MAX / s) return -1;
    n *= s;
  }
  return n;
}

static int rebuild_tensor(pk_ctx *c, const pk_value *args) {
  size_t n = args->u.seq.n;
  pk_value *const *a = args->u.seq.items;
  if (n != 6 && n != 7) return fail(c, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", n);
  if (a[0]->kind != PK_STORAGE)
    return fail(c, "_rebuild_tensor_v2: argument 1 is a %s, expected a storage", pk_kind_name(a[0]->kind));
  if (a[1]->kind != PK_INT || a[1]->u.i < 0)
    return fail(c, "_rebuild_tensor_v2: storage offset is not a non-negative int");
  if (a[4]->kind != PK_BOOL)
    return fail(c, "_rebuild_tensor_v2: requires_grad is a %s, expected a bool", pk_kind_name(a[4]->kind));
  if (a[5]->kind != PK_DICT)
    return fail(c, "_rebuild_tensor_v2: backward hooks are a %s, expected a dict", pk_kind_name(a[5]->kind));
  pk_value *t = new_value(c, PK_TENSOR);
  int nd_stride;
  if (int_tuple(c, a[2], "size", t->u.tensor.size, &t->u.tensor.ndim) != 0 ||
      int_tuple(c, a[3], "stride", t->u.tensor.stride, &nd_stride) != 0)
    return -1;
  if (nd_stride != t->u.tensor.ndim)
    return fail(c, "tensor size has %d dimensions but stride has %d", t->u.tensor.ndim, nd_stride);
  t->u.tensor.storage = a[0];
  t->u.tensor.offset = a[1]->u.i;
  t->u.tensor.requires_grad = a[4]->u.b;
  int64_t numel = pk_tensor_numel(t);
  if (numel < 0) return fail(c, "tensor element count overflows 64 bits");
  if (numel > 0) {
    /* Highest element index the view touches must lie inside the declared storage. */
    uint64_t last = (uint64_t)t->u.tensor.offset;
    for (int i = 0; i < t->u.tensor.ndim; i++) {
      uint64_t span = (uint64_t)(t->u.tensor.size[i] - 1);
      uint64_t st = (uint64_t)t->u.tensor.stride[i];
      if (st != 0 && span > (UINT64_MAX - last) / st) return fail(c, "tensor extent overflows 64 bits");
      last += span * st;
    }
    if (last >= (uint64_t)a[0]->u.storage.numel)
      return fail(c,
                  "tensor (offset %lld, %lld elements) reaches element %llu but storage '%s' holds only %lld "
                  "elements",
                  (long long)t->u.tensor.offset, (long long)numel, (unsigned long long)last, a[0]->u.storage.key,
                  (long long)a[0]->u.storage.numel);
  }
  return push(c, t);
}

static int rebuild_parameter(pk_ctx *c, const pk_value *args, size_t want) {
  size_t n = args->u.seq.n;
  pk_value *const *a = args->u.seq.items;
  if (n != want) return fail(c, "_rebuild_parameter takes %zu arguments, got %zu", want, n);
  if (a[0]->kind != PK_TENSOR || a[1]->kind != PK_BOOL)
    return fail(c, "_rebuild_parameter expects (tensor, bool, ...), got (%s, %s, ...)", pk_kind_name(a[0]->kind),
                pk_kind_name(a[1]->kind));
  pk_value *t = new_value(c, PK_TENSOR);
  t->u.tensor = a[0]->u.tensor;
  t->u.tensor.requires_grad = a[1]->u.b;
  t->u.tensor.is_parameter = true;
  return push(c, t);
}

static int op_reduce(pk_ctx *c) {
  pk_value *args = NULL, *fn = NULL;
  if (pop(c, &args) != 0 || pop(c, &fn) != 0) return -1;
  if (fn->kind != PK_GLOBAL) return fail(c, "REDUCE on a %s, expected an allowed global", pk_kind_name(fn->kind));
  if (args->kind != PK_TUPLE) return fail(c, "REDUCE arguments are a %s, expected a tuple", pk_kind_name(args->kind));
  switch (fn->u.global.id) {
    case PK_G_ORDERED_DICT: {
      if (args->u.seq.n != 0) return fail(c, "OrderedDict() with arguments is not supported");
      pk_value *d = new_value(c, PK_DICT);
      d->u.dict.ordered = true;
      return push(c, d);
    }
    case PK_G_REBUILD_TENSOR_V2:
      return rebuild_tensor(c, args);
    case PK_G_REBUILD_PARAMETER:
      return rebuild_parameter(c, args, 3);
    case PK_G_REBUILD_PARAMETER_WITH_STATE:
      return rebuild_parameter(c, args, 4);
    case PK_G_STORAGE_TYPE:
      break;
  }
  return fail(c, "torch.%s cannot be called, only named in a persistent id", fn->u.global.name);
}

static bool safe_key(const char *s) {
  if (!*s || strlen(s) > 64) return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
  return true;
}

static int op_binpersid(pk_ctx *c) {
  pk_value *pid = NULL;
  if (pop(c, &pid) != 0) return -1;
  if (pid->kind != PK_TUPLE || pid->u.seq.n != 5)
    return fail(c, "persistent id is not a 5-tuple ('storage', type, key, location, numel)");
  pk_value *const *a = pid->u.seq.items;
  if (a[0]->kind != PK_STR || strcmp(a[0]->u.str.s, "storage") != 0)
    return fail(c, "persistent id does not start with 'storage'");
  if (a[1]->kind != PK_GLOBAL || a[1]->u.global.id != PK_G_STORAGE_TYPE)
    return fail(c, "persistent id's storage type is not one of torch Float/Half/BFloat16/DoubleStorage");
  if (a[2]->kind != PK_STR || !safe_key(a[2]->u.str.s))
    return fail(c, "persistent id's storage key is not a short alphanumeric string");
  if (a[3]->kind != PK_STR)
    return fail(c, "persistent id's location is a %s, expected a str", pk_kind_name(a[3]->kind));
  if (a[4]->kind != PK_INT || a[4]->u.i < 0) return fail(c, "persistent id's element count is not a non-negative int");
  pk_value *s = new_value(c, PK_STORAGE);
  s->u.storage.dtype = a[1]->u.global.dtype;
  s->u.storage.key = strdup(a[2]->u.str.s);
  s->u.storage.location = strdup(a[3]->u.str.s);
  if (!s->u.storage.key || !s->u.storage.location) abort();
  s->u.storage.numel = a[4]->u.i;
  return push(c, s);
}

/* ---- the opcode loop ---- */

static int op_collect(pk_ctx *c, pk_kind kind) {
  size_t base = 0;
  if (pop_mark(c, &base) != 0) return -1;
  size_t n = c->sp - base;
  if (n > PK_MAX_CONTAINER) return fail(c, "%s longer than %d items", pk_kind_name(kind), PK_MAX_CONTAINER);
  if (kind == PK_DICT) {
    if (n % 2) return fail(c, "DICT with an odd number of items");
    pk_value *d = new_value(c, PK_DICT);
    for (size_t i = base; i < c->sp; i += 2)
      if (dict_set(c, d, c->stack[i], c->stack[i + 1]) != 0) return -1;
    c->sp = base;
    return push(c, d);
  }
  pk_value *s = make_seq(c, kind, c->stack + base, n);
  c->sp = base;
  return push(c, s);
}

static int op_tuple_n(pk_ctx *c, size_t n) {
  if (c->sp - floor_of_stack(c) < n) return fail(c, "stack underflow");
  pk_value *s = make_seq(c, PK_TUPLE, c->stack + c->sp - n, n);
  c->sp -= n;
  return push(c, s);
}

static int op_setitems(pk_ctx *c) {
  size_t base = 0;
  if (pop_mark(c, &base) != 0) return -1;
  if ((c->sp - base) % 2) return fail(c, "SETITEMS with an odd number of items");
  if (base <= floor_of_stack(c)) return fail(c, "SETITEMS without a dict below its MARK");
  pk_value *d = c->stack[base - 1];
  for (size_t i = base; i < c->sp; i += 2)
    if (dict_set(c, d, c->stack[i], c->stack[i + 1]) != 0) return -1;
  c->sp = base;
  return 0;
}

static int op_appends(pk_ctx *c) {
  size_t base = 0;
  if (pop_mark(c, &base) != 0) return -1;
  if (base <= floor_of_stack(c)) return fail(c, "APPENDS without a list below its MARK");
  pk_value *l = c->stack[base - 1];
  if (l->kind != PK_LIST) return fail(c, "APPENDS on a %s, expected a list", pk_kind_name(l->kind));
  for (size_t i = base; i < c->sp; i++)
    if (seq_push(c, l, c->stack[i]) != 0) return -1;
  c->sp = base;
  return 0;
}

static int op_build(pk_ctx *c) {
  pk_value *state = NULL, *obj = NULL;
  if (pop(c, &state) != 0 || top(c, &obj) != 0) return -1;
  bool empty = state->kind == PK_NONE || (state->kind == PK_DICT && state->u.dict.n == 0) ||
               (state->kind == PK_TUPLE && state->u.seq.n == 0);
  if (!empty)
    return fail(c, "BUILD with a %s state on a %s is not supported", pk_kind_name(state->kind),
                pk_kind_name(obj->kind));
  return 0;
}

static int step(pk_ctx *c, uint8_t op, bool *stop) {
  pk_value *v = NULL, *k = NULL;
  switch (op) {
    case 0x80: /* PROTO */
      if (need(c, 1, "PROTO") != 0) return -1;
      if (c->p[c->pos] > 5) return fail(c, "pickle protocol %u is newer than 5", c->p[c->pos]);
      c->pos++;
      return 0;
    case 0x95: /* FRAME: framing is only a read-ahead hint */
      if (need(c, 8, "FRAME") != 0) return -1;
      c->pos += 8;
      return 0;
    case '.': /* STOP */
      if (pop(c, &v) != 0) return -1;
      c->doc->root = v;
      *stop = true;
      return 0;
    case '(': /* MARK */
      if (c->n_marks == PK_MAX_MARKS) return fail(c, "more than %d nested MARKs", PK_MAX_MARKS);
      c->marks[c->n_marks++] = c->sp;
      return 0;
    case '}':
      return push(c, new_value(c, PK_DICT));
    case ']':
      return push(c, new_value(c, PK_LIST));
    case ')':
      return push(c, new_value(c, PK_TUPLE));
    case 'N':
      return push(c, new_value(c, PK_NONE));
    case 0x88:
    case 0x89:
      v = new_value(c, PK_BOOL);
      v->u.b = op == 0x88;
      return push(c, v);
    case 'X':
      return need(c, 4, "BINUNICODE") ? -1 : read_string(c, rd_le(c, 4), PK_STR);
    case 0x8c:
      return need(c, 1, "SHORT_BINUNICODE") ? -1 : read_string(c, rd_le(c, 1), PK_STR);
    case 0x8d:
      return need(c, 8, "BINUNICODE8") ? -1 : read_string(c, rd_le(c, 8), PK_STR);
    case 'U':
      return need(c, 1, "SHORT_BINSTRING") ? -1 : read_string(c, rd_le(c, 1), PK_STR);
    case 'T': {
      if (need(c, 4, "BINSTRING") != 0) return -1;
      int32_t n = (int32_t)(uint32_t)rd_le(c, 4);
      if (n < 0) return fail(c, "BINSTRING with negative length");
      return read_string(c, (uint64_t)n, PK_STR);
    }
    case 'C':
      return need(c, 1, "SHORT_BINBYTES") ? -1 : read_string(c, rd_le(c, 1), PK_BYTES);
    case 'B':
      return need(c, 4, "BINBYTES") ? -1 : read_string(c, rd_le(c, 4), PK_BYTES);
    case 0x8e:
      return need(c, 8, "BINBYTES8") ? -1 : read_string(c, rd_le(c, 8), PK_BYTES);
    case 'K':
      return need(c, 1, "BININT1") ? -1 : push_int(c, (int64_t)rd_le(c, 1));
    case 'M':
      return need(c, 2, "BININT2") ? -1 : push_int(c, (int64_t)rd_le(c, 2));
    case 'J':
      return need(c, 4, "BININT") ? -1 : push_int(c, (int32_t)(uint32_t)rd_le(c, 4));
    case 0x8a:
      return need(c, 1, "LONG1") ? -1 : read_long(c, rd_le(c, 1));
    case 0x8b: {
      if (need(c, 4, "LONG4") != 0) return -1;
      int32_t n = (int32_t)(uint32_t)rd_le(c, 4);
      if (n < 0) return fail(c, "LONG4 with negative length");
      return read_long(c, (uint64_t)n);
    }
    case 'G': {
      if (need(c, 8, "BINFLOAT") != 0) return -1;
      uint64_t u = 0;
      for (int i = 0; i < 8; i++) u = (u << 8) | c->p[c->pos++];
      v = new_value(c, PK_FLOAT);
      memcpy(&v->u.f, &u, sizeof u);
      return push(c, v);
    }
    case 0x85:
      return op_tuple_n(c, 1);
    case 0x86:
      return op_tuple_n(c, 2);
    case 0x87:
      return op_tuple_n(c, 3);
    case 't':
      return op_collect(c, PK_TUPLE);
    case 'l':
      return op_collect(c, PK_LIST);
    case 'd':
      return op_collect(c, PK_DICT);
    case 's':
      if (pop(c, &v) != 0 || pop(c, &k) != 0) return -1;
      {
        pk_value *d = NULL;
        if (top(c, &d) != 0) return -1;
        return dict_set(c, d, k, v);
      }
    case 'u':
      return op_setitems(c);
    case 'a':
      if (pop(c, &v) != 0 || top(c, &k) != 0) return -1;
      if (k->kind != PK_LIST) return fail(c, "APPEND on a %s, expected a list", pk_kind_name(k->kind));
      return seq_push(c, k, v);
    case 'e':
      return op_appends(c);
    case '0':
      return pop(c, &v);
    case '1': {
      size_t base = 0;
      if (pop_mark(c, &base) != 0) return -1;
      c->sp = base;
      return 0;
    }
    case '2':
      return top(c, &v) ? -1 : push(c, v);
    case 'q':
      return need(c, 1, "BINPUT") ? -1 : memo_put(c, rd_le(c, 1));
    case 'r':
      return need(c, 4, "LONG_BINPUT") ? -1 : memo_put(c, rd_le(c, 4));
    case 0x94:
      return memo_put(c, c->memo_count);
    case 'h':
      return need(c, 1, "BINGET") ? -1 : memo_get(c, rd_le(c, 1));
    case 'j':
      return need(c, 4, "LONG_BINGET") ? -1 : memo_get(c, rd_le(c, 4));
    case 'c': {
      char module[256], name[256];
      if (read_line(c, module, sizeof module) != 0 || read_line(c, name, sizeof name) != 0) return -1;
      return resolve_global(c, module, name);
    }
    case 0x93: /* STACK_GLOBAL */
      if (pop(c, &v) != 0 || pop(c, &k) != 0) return -1;
      if (k->kind != PK_STR || v->kind != PK_STR) return fail(c, "STACK_GLOBAL needs two strings");
      return resolve_global(c, k->u.str.s, v->u.str.s);
    case 'R':
      return op_reduce(c);
    case 'b':
      return op_build(c);
    case 'Q':
      return op_binpersid(c);
    case 0x81:
    case 0x92:
    case 'i':
    case 'o':
      return fail(c, "opcode 0x%02x constructs an object, which is not allowed", op);
    default:
      return fail(c, "unsupported pickle opcode 0x%02x", op);
  }
}

pk_doc *pk_load(const uint8_t *data, size_t len, const char *label, herr *e) {
  pk_doc *d = calloc(1, sizeof *d);
  if (!d) abort();
  pk_ctx c = {.p = data, .len = len, .label = label, .doc = d, .e = e};
  bool stop = false;
  int rc = 0;
  while (!stop && rc == 0) {
    c.op_at = c.pos;
    if (c.pos >= c.len) {
      rc = fail(&c, "pickle ends without STOP (truncated?)");
      break;
    }
    rc = step(&c, c.p[c.pos++], &stop);
  }
  free(c.stack);
  free(c.memo);
  if (rc != 0) {
    pk_doc_free(d);
    return NULL;
  }
  return d;
}

/* ---- writer ---- */

static void put_byte(pk_writer *w, uint8_t b) {
  sb_append_n(&w->out, (const char *)&b, 1);
}

static void put_le(pk_writer *w, uint64_t v, int n) {
  for (int i = 0; i < n; i++) put_byte(w, (uint8_t)(v >> (8 * i)));
}

void pkw_begin(pk_writer *w) {
  w->out = (strbuf)STRBUF_INIT;
  w->next_memo = 0;
  put_byte(w, 0x80);
  put_byte(w, 2);
}

void pkw_end(pk_writer *w) {
  put_byte(w, '.');
}

void pkw_memoize(pk_writer *w) {
  if (w->next_memo < 256) {
    put_byte(w, 'q');
    put_byte(w, (uint8_t)w->next_memo);
  } else {
    put_byte(w, 'r');
    put_le(w, w->next_memo, 4);
  }
  w->next_memo++;
}

void pkw_mark(pk_writer *w) {
  put_byte(w, '(');
}
void pkw_empty_dict(pk_writer *w) {
  put_byte(w, '}');
}
void pkw_empty_tuple(pk_writer *w) {
  put_byte(w, ')');
}
void pkw_setitem(pk_writer *w) {
  put_byte(w, 's');
}
void pkw_setitems(pk_writer *w) {
  put_byte(w, 'u');
}
void pkw_tuple(pk_writer *w) {
  put_byte(w, 't');
}
void pkw_tuple2(pk_writer *w) {
  put_byte(w, 0x86);
}
void pkw_none(pk_writer *w) {
  put_byte(w, 'N');
}
void pkw_bool(pk_writer *w, bool v) {
  put_byte(w, v ? 0x88 : 0x89);
}
void pkw_reduce(pk_writer *w) {
  put_byte(w, 'R');
}
void pkw_binpersid(pk_writer *w) {
  put_byte(w, 'Q');
}

void pkw_str(pk_writer *w, const char *s) {
  size_t n = strlen(s);
  put_byte(w, 'X');
  put_le(w, n, 4);
  sb_append_n(&w->out, s, n);
}

/* The shortest form Python's protocol-2 pickler would choose. */
void pkw_int(pk_writer *w, int64_t v) {
  if (v >= 0 && v <= 0xFF) {
    put_byte(w, 'K');
    put_le(w, (uint64_t)v, 1);
  } else if (v >= 0 && v <= 0xFFFF) {
    put_byte(w, 'M');
    put_le(w, (uint64_t)v, 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    put_byte(w, 'J');
    put_le(w, (uint64_t)(uint32_t)(int32_t)v, 4);
  } else {
    int n = 8;
    /* Drop sign-extension bytes while the remaining top bit still gives the sign. */
    while (n > 1) {
      int64_t shifted = v >> (8 * (n - 1) - 1);
      if (shifted != 0 && shifted != -1) break;
      n--;
    }
    put_byte(w, 0x8a);
    put_byte(w, (uint8_t)n);
    put_le(w, (uint64_t)v, n);
  }
}

void pkw_global(pk_writer *w, const char *module, const char *name) {
  put_byte(w, 'c');
  sb_append(&w->out, module);
  sb_append_char(&w->out, '\n');
  sb_append(&w->out, name);
  sb_append_char(&w->out, '\n');
}

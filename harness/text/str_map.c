/* String -> int64 hash map: FNV-1a, linear probing, power-of-two table kept under 50% full. */
#include "harness/text/str_map.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
  char *key; /* NULL: empty */
  size_t len;
  uint64_t hash;
  int64_t value;
} slot;

struct str_map {
  slot *slots;
  size_t cap, count;
};

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

str_map *smap_new(size_t expected) {
  str_map *m = calloc(1, sizeof *m);
  if (!m) abort();
  m->cap = 16;
  while (m->cap < expected * 2 + 2) m->cap *= 2;
  m->slots = calloc(m->cap, sizeof *m->slots);
  if (!m->slots) abort();
  return m;
}

void smap_free(str_map *m) {
  if (!m) return;
  for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
  free(m->slots);
  free(m);
}

static slot *find(slot *slots, size_t cap, const char *key, size_t len, uint64_t h) {
  size_t i = (size_t)h & (cap - 1);
  for (;;) {
    slot *s = &slots[i];
    if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)) return s;
    i = (i + 1) & (cap - 1);
  }
}

static void grow(str_map *m) {
  size_t cap = m->cap * 2;
  slot *slots = calloc(cap, sizeof *slots);
  if (!slots) abort();
  for (size_t i = 0; i < m->cap; i++) {
    slot *o = &m->slots[i];
    if (o->key) *find(slots, cap, o->key, o->len, o->hash) = *o;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
}

int smap_put(str_map *m, const char *key, size_t len, int64_t value) {
  if ((m->count + 1) * 2 > m->cap) grow(m);
  uint64_t h = fnv1a(key, len);
  slot *s = find(m->slots, m->cap, key, len, h);
  if (s->key) {
    s->value = value;
    return 0;
  }
  s->key = malloc(len + 1);
  if (!s->key) abort();
  memcpy(s->key, key, len);
  s->key[len] = '\0';
  s->len = len;
  s->hash = h;
  s->value = value;
  m->count++;
  return 1;
}

int64_t smap_get(const str_map *m, const char *key, size_t len) {
  const slot *s = find(m->slots, m->cap, key, len, fnv1a(key, len));
  return s->key ? s->value : -1;
}

size_t smap_count(const str_map *m) { return m->count; }

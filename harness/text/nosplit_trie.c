/* No-split token trie with transformers 4.33's Trie.split semantics, ported state by state: the
 * first partial match to complete wins, then the earliest-starting longest extension of it. */
#include "harness/text/nosplit_trie.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct edge {
  uint32_t cp;
  size_t to;
} edge;

typedef struct node {
  edge *kids;
  size_t n_kids, cap_kids;
  int tag; /* -1: not the end of a word */
} node;

struct nosplit_trie {
  node *nodes;
  size_t n, cap;
};

static size_t new_node(nosplit_trie *t) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 16;
    node *nn = realloc(t->nodes, t->cap * sizeof *nn);
    if (!nn) abort();
    t->nodes = nn;
  }
  t->nodes[t->n] = (node){NULL, 0, 0, -1};
  return t->n++;
}

nosplit_trie *nst_new(void) {
  nosplit_trie *t = calloc(1, sizeof *t);
  if (!t) abort();
  new_node(t);
  return t;
}

void nst_free(nosplit_trie *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n; i++) free(t->nodes[i].kids);
  free(t->nodes);
  free(t);
}

/* Child index or SIZE_MAX. */
static size_t child(const nosplit_trie *t, size_t at, uint32_t cp) {
  const node *nd = &t->nodes[at];
  for (size_t i = 0; i < nd->n_kids; i++)
    if (nd->kids[i].cp == cp) return nd->kids[i].to;
  return SIZE_MAX;
}

void nst_add(nosplit_trie *t, const uint32_t *w, size_t n, int tag) {
  if (n == 0) return;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t nx = child(t, at, w[i]);
    if (nx == SIZE_MAX) {
      nx = new_node(t); /* may move t->nodes: index, not pointer */
      node *nd = &t->nodes[at];
      if (nd->n_kids == nd->cap_kids) {
        nd->cap_kids = nd->cap_kids ? nd->cap_kids * 2 : 4;
        edge *k = realloc(nd->kids, nd->cap_kids * sizeof *k);
        if (!k) abort();
        nd->kids = k;
      }
      nd->kids[nd->n_kids++] = (edge){w[i], nx};
    }
    at = nx;
  }
  if (t->nodes[at].tag < 0) t->nodes[at].tag = tag;
}

int nst_lookup(const nosplit_trie *t, const uint32_t *w, size_t n) {
  if (n == 0) return -1;
  size_t at = 0;
  for (size_t i = 0; i < n && at != SIZE_MAX; i++) at = child(t, at, w[i]);
  return at == SIZE_MAX ? -1 : t->nodes[at].tag;
}

typedef struct state {
  size_t start, at;
} state;

static void push_off(size_t **offs, size_t *n, size_t *cap, size_t v) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    size_t *o = realloc(*offs, *cap * sizeof *o);
    if (!o) abort();
    *offs = o;
  }
  (*offs)[(*n)++] = v;
}

void nst_split(const nosplit_trie *t, const uint32_t *text, size_t n, nst_span **spans, size_t *n_spans) {
  /* Partial matches in the order they began (the reference's OrderedDict keyed by start). */
  state *states = malloc((n + 1) * sizeof *states);
  bool *drop = malloc((n + 1) * sizeof *drop);
  if (!states || !drop) abort();
  size_t ns = 0;
  size_t *offs = NULL, n_offs = 0, cap_offs = 0;
  push_off(&offs, &n_offs, &cap_offs, 0);
  size_t skip = 0;
  const node *nodes = t->nodes;

  for (size_t cur = 0; cur < n; cur++) {
    if (skip && cur < skip) continue;
    uint32_t ch = text[cur];
    bool reset = false;
    for (size_t si = 0; si < ns; si++) {
      size_t start = states[si].start;
      drop[si] = false;
      if (nodes[states[si].at].tag >= 0) {
        /* A complete match: look for the longest one among matches starting no later. */
        size_t end = cur;
        for (size_t li = 0; li < ns; li++) {
          size_t lookstart = states[li].start, look = states[li].at, ahead;
          if (lookstart > start) break;
          if (lookstart < start) /* already advanced past cur in this round */
            ahead = end = cur + 1;
          else
            ahead = end = cur;
          if (nodes[look].tag >= 0) {
            start = lookstart;
            end = ahead;
            skip = ahead;
          }
          while (ahead < n) {
            size_t nx = child(t, look, text[ahead]);
            if (nx == SIZE_MAX) break;
            look = nx;
            ahead++;
            if (nodes[look].tag >= 0) {
              start = lookstart;
              end = ahead;
              skip = ahead;
            }
          }
        }
        push_off(&offs, &n_offs, &cap_offs, start);
        push_off(&offs, &n_offs, &cap_offs, end);
        reset = true;
        break;
      }
      size_t nx = child(t, states[si].at, ch);
      if (nx != SIZE_MAX)
        states[si].at = nx;
      else
        drop[si] = true;
    }
    if (reset) {
      ns = 0;
    } else {
      size_t k = 0;
      for (size_t si = 0; si < ns; si++)
        if (!drop[si]) states[k++] = states[si];
      ns = k;
    }
    if (cur >= skip) {
      size_t nx = child(t, 0, ch);
      if (nx != SIZE_MAX) states[ns++] = (state){cur, nx};
    }
  }
  for (size_t si = 0; si < ns; si++) {
    if (nodes[states[si].at].tag >= 0) {
      push_off(&offs, &n_offs, &cap_offs, states[si].start);
      push_off(&offs, &n_offs, &cap_offs, n);
      break;
    }
  }
  push_off(&offs, &n_offs, &cap_offs, n);

  /* cut_text: consecutive non-empty pieces; offsets that go backwards are ignored. */
  nst_span *out = malloc((n_offs + 1) * sizeof *out);
  if (!out) abort();
  size_t no = 0, prev = 0;
  for (size_t i = 0; i < n_offs; i++) {
    size_t e = offs[i];
    if (prev >= e) continue;
    out[no++] = (nst_span){prev, e};
    prev = e;
  }
  free(offs);
  free(states);
  free(drop);
  *spans = out;
  *n_spans = no;
}

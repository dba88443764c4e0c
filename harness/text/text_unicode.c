/* Unicode helpers for the CLIP text path: strict UTF-8, character classes, Python's str.lower()
 * and NFC, over the generated tables of unicode_tables.c. */
#include "harness/text/text_unicode.h"

#include <stdlib.h>

#include "harness/text/unicode_data.h"

void u32_push(u32vec *a, uint32_t c) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    uint32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) abort();
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = c;
}

void u32_free(u32vec *a) {
  free(a->v);
  a->v = NULL;
  a->n = a->cap = 0;
}

int utf8_decode(const char *s, size_t n, u32vec *out, const char *what, herr *e) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    uint32_t c = p[i];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
      u32_push(out, c);
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, c &= 0x07;
    } else {
      return herr_set(e, "%s: invalid UTF-8 at byte %zu (byte 0x%02X cannot start a character)", what, i, p[i]);
    }
    if (i + len > n) return herr_set(e, "%s: invalid UTF-8 at byte %zu (truncated %zu-byte sequence)", what, i, len);
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        return herr_set(e, "%s: invalid UTF-8 at byte %zu (byte 0x%02X is not a continuation byte)", what, i + k,
                        p[i + k]);
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    if (c < min) return herr_set(e, "%s: invalid UTF-8 at byte %zu (overlong encoding)", what, i);
    if (c > 0x10FFFF) return herr_set(e, "%s: invalid UTF-8 at byte %zu (code point past U+10FFFF)", what, i);
    if (c >= 0xD800 && c <= 0xDFFF)
      return herr_set(e, "%s: invalid UTF-8 at byte %zu (encoded surrogate U+%04X)", what, i, (unsigned)c);
    u32_push(out, c);
    i += len;
  }
  return 0;
}

size_t utf8_len(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void utf8_append(strbuf *sb, uint32_t cp) {
  char b[4];
  size_t n = utf8_len(cp);
  if (n == 1) {
    b[0] = (char)cp;
  } else if (n == 2) {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
  } else if (n == 3) {
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
  } else {
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
  }
  sb_append_n(sb, b, n);
}

static bool in_ranges(const uni_range *r, size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < r[mid].lo)
      hi = mid;
    else if (cp > r[mid].hi)
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

bool uni_is_category_c(uint32_t cp) { return in_ranges(uni_control, uni_control_n, cp); }
bool uni_is_zs(uint32_t cp) { return in_ranges(uni_zs, uni_zs_n, cp); }
bool uni_is_pyspace(uint32_t cp) { return in_ranges(uni_pyspace, uni_pyspace_n, cp); }

bool uni_is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static const uni_lower_entry *lower_entry(uint32_t cp) {
  size_t lo = 0, hi = uni_lower_map_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < uni_lower_map[mid].cp)
      hi = mid;
    else if (cp > uni_lower_map[mid].cp)
      lo = mid + 1;
    else
      return &uni_lower_map[mid];
  }
  return NULL;
}

/* CPython's Final_Sigma test: cased (case-ignorable)* SIGMA, not followed by (case-ignorable)* cased. */
static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
  size_t j = i;
  uint32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = s[--j];
    if (!in_ranges(uni_case_ignorable, uni_case_ignorable_n, c)) {
      found = true;
      break;
    }
  }
  if (!found || !in_ranges(uni_cased, uni_cased_n, c)) return false;
  for (j = i + 1; j < n; j++) {
    c = s[j];
    if (!in_ranges(uni_case_ignorable, uni_case_ignorable_n, c)) return !in_ranges(uni_cased, uni_cased_n, c);
  }
  return true;
}

void uni_lower(const uint32_t *in, size_t n, u32vec *out) {
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c < 0x80) {
      u32_push(out, c >= 'A' && c <= 'Z' ? c + 32 : c);
      continue;
    }
    if (c == 0x3A3) {
      u32_push(out, final_sigma(in, n, i) ? 0x3C2 : 0x3C3);
      continue;
    }
    const uni_lower_entry *m = lower_entry(c);
    if (!m) {
      u32_push(out, c);
      continue;
    }
    for (int k = 0; k < 3 && m->to[k]; k++) u32_push(out, m->to[k]);
  }
}

static uint8_t ccc_of(uint32_t cp) {
  size_t lo = 0, hi = uni_ccc_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < uni_ccc[mid].lo)
      hi = mid;
    else if (cp > uni_ccc[mid].hi)
      lo = mid + 1;
    else
      return uni_ccc[mid].ccc;
  }
  return 0;
}

enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7, H_LCOUNT = 19, H_VCOUNT = 21,
       H_TCOUNT = 28, H_NCOUNT = H_VCOUNT * H_TCOUNT, H_SCOUNT = H_LCOUNT * H_NCOUNT };

static void decompose(uint32_t c, u32vec *out) {
  if (c >= H_SBASE && c < H_SBASE + H_SCOUNT) {
    uint32_t s = c - H_SBASE;
    u32_push(out, H_LBASE + s / H_NCOUNT);
    u32_push(out, H_VBASE + (s % H_NCOUNT) / H_TCOUNT);
    if (s % H_TCOUNT) u32_push(out, H_TBASE + s % H_TCOUNT);
    return;
  }
  size_t lo = 0, hi = uni_decomp_map_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c < uni_decomp_map[mid].cp) {
      hi = mid;
    } else if (c > uni_decomp_map[mid].cp) {
      lo = mid + 1;
    } else {
      for (uint32_t k = 0; k < uni_decomp_map[mid].len; k++) u32_push(out, uni_decomp_seq[uni_decomp_map[mid].off + k]);
      return;
    }
  }
  u32_push(out, c);
}

/* The primary composite of (a, b), or 0 when there is none. */
static uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
    return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
  if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 && b > H_TBASE &&
      b < H_TBASE + H_TCOUNT)
    return a + (b - H_TBASE);
  size_t lo = 0, hi = uni_comp_map_n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const uni_comp *m = &uni_comp_map[mid];
    if (a < m->a || (a == m->a && b < m->b))
      hi = mid;
    else if (a > m->a || b > m->b)
      lo = mid + 1;
    else
      return m->composite;
  }
  return 0;
}

void uni_nfc(const uint32_t *in, size_t n, u32vec *out) {
  u32vec d = {0};
  for (size_t i = 0; i < n; i++) decompose(in[i], &d);
  /* Canonical ordering: stable sort of each run of non-starters by combining class. */
  for (size_t i = 1; i < d.n; i++) {
    uint8_t ci = ccc_of(d.v[i]);
    if (!ci) continue;
    size_t j = i;
    while (j > 0) {
      uint8_t cj = ccc_of(d.v[j - 1]);
      if (cj <= ci) break;
      uint32_t t = d.v[j];
      d.v[j] = d.v[j - 1];
      d.v[j - 1] = t;
      j--;
    }
  }

  size_t starter = SIZE_MAX;
  int last_class = -1;
  for (size_t i = 0; i < d.n; i++) {
    uint32_t c = d.v[i];
    int cls = ccc_of(c);
    if (starter != SIZE_MAX) {
      uint32_t comp = compose(out->v[starter], c);
      /* last_class == 0: c follows the starter directly; last_class < cls: not blocked. */
      if (comp && (last_class < cls || last_class == 0)) {
        out->v[starter] = comp;
        continue;
      }
    }
    if (cls == 0) {
      starter = out->n;
      last_class = 0;
    } else {
      last_class = cls;
      if (starter == SIZE_MAX) last_class = 256;
    }
    u32_push(out, c);
  }
  u32_free(&d);
}

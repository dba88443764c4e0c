/* dataset_split: the seeded, stratified assignment of cases to train/val/test and the
 * textual-inversion subset, and the selection of cases by split and label. */
#include <stdlib.h>
#include <string.h>

#include "harness/data/dataset.h"

/* The paper (de Wilde et al., §3) learns each class embedding from 100 images of that class
 * and trains the classifier on the real training images plus synthetic ones; the embedding
 * images are part of the training data, never of validation or test, so nothing the generator
 * saw can leak into model selection or the reported AUC. Drawing them from the train split
 * (overlap 1) is that protocol; overlap 0 is the stricter variant for ablations. */
void ds_split_config_paper(ds_split_config *c) {
  c->embed_per_class = 100;
  c->train = 200;
  c->val = 200;
  c->test = 200;
  c->embed_overlap_train = 1;
}

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* A case's place in the seeded order depends on the seed and its own id only, so the order is
 * independent of the manifest's row order, and adding cases does not reshuffle the others. */
static uint64_t id_key(const char *id, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
  return mix64(h ^ mix64(seed + 0x9e3779b97f4a7c15ULL));
}

typedef struct keyed {
  uint64_t key;
  const char *id;
  size_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return strcmp(x->id, y->id); /* ids are unique, so the order is total */
}

/* Positives among the first `count` of a pool of `total` with `pos` positives, rounded half
 * up. Taking splits as cumulative prefixes (test, then val, then train) and differencing keeps
 * every split within half a case of the pool's ratio and the totals within what exists. */
static size_t pos_share(size_t count, size_t pos, size_t total) {
  if (!total) return 0;
  return (size_t)((2 * (unsigned long long)count * pos + total) / (2 * (unsigned long long)total));
}

int ds_assign_splits(ds_manifest *m, const ds_split_config *c, uint64_t seed, herr *e) {
  if (c->train < 0 || c->val < 0 || c->test < 0 || c->embed_per_class < 0)
    return herr_set(e, "dataset splits: counts must be >= 0 (train %d, val %d, test %d, embed_per_class %d)",
                    c->train, c->val, c->test, c->embed_per_class);
  keyed *pool[2];
  size_t have[2] = {0, 0};
  for (int l = 0; l < 2; l++) {
    pool[l] = malloc((m->n ? m->n : 1) * sizeof *pool[l]);
    if (!pool[l]) abort();
  }
  for (size_t i = 0; i < m->n; i++) {
    ds_case *k = &m->cases[i];
    k->split[0] = '\0';
    k->embed = 0;
    if (!k->ok || k->label < 0) continue;
    pool[k->label][have[k->label]++] = (keyed){id_key(k->case_id, seed), k->case_id, i};
  }
  size_t total = have[0] + have[1];
  size_t want = (size_t)c->train + (size_t)c->val + (size_t)c->test;
  /* Per split in draw order (test, val, train), the positives by cumulative rounding. The embed
   * subset of overlap 0 comes after train from what is left, a fixed count per class. */
  const size_t counts[3] = {(size_t)c->test, (size_t)c->val, (size_t)c->train};
  static const char *const names[3] = {"test", "val", "train"};
  size_t npos[3], cum = 0, cum_pos = 0;
  for (int s = 0; s < 3; s++) {
    cum += counts[s];
    size_t p = pos_share(cum, have[1], total);
    npos[s] = p - cum_pos;
    cum_pos = p;
  }
  size_t need_pos = cum_pos, need_neg = want - cum_pos;
  size_t embed = (size_t)c->embed_per_class;
  int rc = 0;
  if (want > total) {
    rc = herr_set(e,
                  "dataset splits: train %d + val %d + test %d need %zu ok cases with a known label, but only %zu "
                  "are available (%zu positive, %zu negative)",
                  c->train, c->val, c->test, want, total, have[1], have[0]);
  } else if (c->embed_overlap_train && (npos[2] < embed || counts[2] - npos[2] < embed)) {
    rc = herr_set(e,
                  "dataset splits: the embedding subset needs %zu cases of each class from the train split, which "
                  "holds %zu positive and %zu negative (raise train, or set embed_overlap_train to 0)",
                  embed, npos[2], counts[2] - npos[2]);
  } else if (!c->embed_overlap_train && (need_pos + embed > have[1] || need_neg + embed > have[0])) {
    rc = herr_set(e,
                  "dataset splits: the splits plus a disjoint embedding subset of %zu per class need %zu positive "
                  "and %zu negative cases, but %zu positive and %zu negative are available",
                  embed, need_pos + embed, need_neg + embed, have[1], have[0]);
  }
  if (!rc) {
    for (int l = 0; l < 2; l++) qsort(pool[l], have[l], sizeof *pool[l], cmp_keyed);
    size_t next[2] = {0, 0};
    for (int s = 0; s < 3; s++) {
      size_t take[2] = {counts[s] - npos[s], npos[s]};
      for (int l = 0; l < 2; l++) {
        size_t first = next[l];
        for (size_t j = 0; j < take[l]; j++) strcpy(m->cases[pool[l][next[l]++].idx].split, names[s]);
        /* With overlap, the embedding cases are the first of the train split in the seeded order. */
        if (s == 2 && c->embed_overlap_train)
          for (size_t j = 0; j < embed; j++) m->cases[pool[l][first + j].idx].embed = 1;
      }
    }
    if (!c->embed_overlap_train)
      for (int l = 0; l < 2; l++)
        for (size_t j = 0; j < embed; j++) m->cases[pool[l][next[l]++].idx].embed = 1;
  }
  free(pool[0]);
  free(pool[1]);
  return rc;
}

int ds_select(const ds_manifest *m, const char *split, int label, size_t **idx, size_t *n, herr *e) {
  *idx = NULL;
  *n = 0;
  int embed = !strcmp(split, "embed");
  if (!embed && strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test"))
    return herr_set(e, "dataset: no split '%s' (expected train, val, test or embed)", split);
  if (label < -1 || label > 1) return herr_set(e, "dataset: label %d (expected 0, 1 or -1 for any)", label);
  size_t count = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < m->n; i++) {
      const ds_case *c = &m->cases[i];
      if (!c->ok || (label >= 0 && c->label != label)) continue;
      if (embed ? !c->embed : strcmp(c->split, split)) continue;
      if (pass) (*idx)[(*n)++] = i;
      else count++;
    }
    if (!pass) {
      if (!count) return 0;
      *idx = malloc(count * sizeof **idx);
      if (!*idx) abort();
    }
  }
  return 0;
}

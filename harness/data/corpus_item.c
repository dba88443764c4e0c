/* corpus_item: what each corpus item shows and its caption, drawn from (seed, index). */
#include <stdio.h>
#include <string.h>

#include "harness/data/corpus.h"
#include "harness/util/rng.h"

static const char *const colour_names[CORPUS_N_COLOURS] = {"red",   "green", "blue",   "yellow",
                                                           "white", "black", "orange", "purple"};
static const float colour_rgb[CORPUS_N_COLOURS][3] = {
    {0.90f, 0.10f, 0.10f}, {0.10f, 0.75f, 0.15f}, {0.10f, 0.25f, 0.95f}, {0.98f, 0.90f, 0.10f},
    {0.97f, 0.97f, 0.97f}, {0.05f, 0.05f, 0.05f}, {1.00f, 0.55f, 0.00f}, {0.55f, 0.10f, 0.75f}};
static const char *const shape_names[CORPUS_N_SHAPES] = {"circle", "square", "triangle"};

const char *corpus_colour_name(int i) { return i >= 0 && i < CORPUS_N_COLOURS ? colour_names[i] : "?"; }
void corpus_colour_rgb(int i, float rgb[3]) {
  if (i < 0 || i >= CORPUS_N_COLOURS) i = 0;
  memcpy(rgb, colour_rgb[i], sizeof colour_rgb[i]);
}
const char *corpus_shape_name(corpus_shape s) { return (int)s >= 0 && s < CORPUS_N_SHAPES ? shape_names[s] : "?"; }

static int other_colour(rng *r, int not_this) {
  int c = (int)rng_below(r, CORPUS_N_COLOURS - 1);
  return c >= not_this ? c + 1 : c;
}

static double in_range(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

/* Textures take 30% of the corpus: their captions name the pattern and both colours. */
static void make_texture(rng *r, corpus_item *it) {
  it->texture = (corpus_texture)(1 + rng_below(r, CORPUS_N_TEXTURES - 1));
  it->bg = (int)rng_below(r, CORPUS_N_COLOURS);
  it->bg2 = other_colour(r, it->bg);
  const char *a = colour_names[it->bg], *b = colour_names[it->bg2];
  switch (it->texture) {
    case CORPUS_HSTRIPES: snprintf(it->caption, sizeof it->caption, "horizontal %s and %s stripes", a, b); break;
    case CORPUS_VSTRIPES: snprintf(it->caption, sizeof it->caption, "vertical %s and %s stripes", a, b); break;
    case CORPUS_CHECKER: snprintf(it->caption, sizeof it->caption, "a %s and %s checkerboard", a, b); break;
    default: snprintf(it->caption, sizeof it->caption, "%s dots on %s %s background", b, a[0] == 'o' ? "an" : "a", a); break;
  }
}

/* Places n objects of half-size rad without overlap, inside the region a layout word names. */
static void place(rng *r, corpus_item *it, int layout) {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (layout == 1) x1 = 0.5;      /* on the left */
  else if (layout == 2) x0 = 0.5; /* on the right */
  else if (layout == 3) y1 = 0.5; /* at the top */
  else if (layout == 4) y0 = 0.5; /* at the bottom */
  const double m = it->r + 0.03;
  for (int k = 0; k < it->n_objects; k++) {
    for (int tries = 0; tries < 64; tries++) {
      it->cx[k] = in_range(r, x0 + m, x1 - m > x0 + m ? x1 - m : x0 + m);
      it->cy[k] = in_range(r, y0 + m, y1 - m > y0 + m ? y1 - m : y0 + m);
      int ok = 1;
      for (int j = 0; j < k; j++) {
        double dx = it->cx[k] - it->cx[j], dy = it->cy[k] - it->cy[j];
        if (dx * dx + dy * dy < (2.2 * it->r) * (2.2 * it->r)) ok = 0;
      }
      if (ok) break;
    }
  }
}

static void make_objects(rng *r, corpus_item *it) {
  static const char *const counts[] = {"", "a", "two", "three"};
  static const char *const layouts[] = {"", " on the left", " on the right", " at the top", " at the bottom"};
  it->texture = CORPUS_PLAIN;
  const double u = rng_uniform(r);
  it->n_objects = u < 0.6 ? 1 : u < 0.85 ? 2 : 3;
  it->shape = (corpus_shape)rng_below(r, CORPUS_N_SHAPES);
  it->colour = (int)rng_below(r, CORPUS_N_COLOURS);
  it->bg = other_colour(r, it->colour);
  it->small = it->n_objects > 1 ? rng_uniform(r) < 0.7 : rng_uniform(r) < 0.3;
  it->r = it->small ? in_range(r, 0.10, 0.14) : in_range(r, it->n_objects > 1 ? 0.16 : 0.22, it->n_objects > 1 ? 0.19 : 0.32);
  /* Only single objects that fit a half get a layout word, and half of them do. */
  const int layout = it->n_objects == 1 && it->r < 0.22 && rng_uniform(r) < 0.5 ? 1 + (int)rng_below(r, 4) : 0;
  place(r, it, layout);
  const int size_word = rng_uniform(r) < 0.5; /* the size is named in half the captions */
  const int with_bg = rng_uniform(r) < 0.65;
  char bgs[48] = "";
  if (with_bg)
    snprintf(bgs, sizeof bgs, " on %s %s background", colour_names[it->bg][0] == 'o' ? "an" : "a", colour_names[it->bg]);
  const char *size = size_word ? (it->small ? "small " : "large ") : "";
  /* "an orange circle", but "a large orange circle" */
  const char *count = it->n_objects == 1 && !*size && colour_names[it->colour][0] == 'o' ? "an" : counts[it->n_objects];
  snprintf(it->caption, sizeof it->caption, "%s %s%s %s%s%s%s", count, size, colour_names[it->colour],
           shape_names[it->shape], it->n_objects > 1 ? "s" : "", layouts[layout], bgs);
}

void corpus_item_make(uint64_t seed, uint64_t index, corpus_item *out) {
  memset(out, 0, sizeof *out);
  rng r;
  rng_seed(&r, seed, index);
  if (rng_uniform(&r) < 0.3)
    make_texture(&r, out);
  else
    make_objects(&r, out);
}

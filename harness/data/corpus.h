/* corpus: the procedural, captioned colour-image set the embedded tiny model is pretrained on
 * (a stand-in for natural images, no medical content): coloured shapes on coloured backgrounds,
 * in counts, sizes and positions, and textures (stripes, checkerboards, dots), each image with a
 * caption that names what is drawn. Item i depends only on (seed, i). */
#ifndef MDH_DATA_CORPUS_H
#define MDH_DATA_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

#define CORPUS_N_COLOURS 8
#define CORPUS_CAPTION_MAX 128
#define CORPUS_MAX_OBJECTS 3

typedef enum corpus_shape { CORPUS_CIRCLE, CORPUS_SQUARE, CORPUS_TRIANGLE, CORPUS_N_SHAPES } corpus_shape;
typedef enum corpus_texture {
  CORPUS_PLAIN, CORPUS_HSTRIPES, CORPUS_VSTRIPES, CORPUS_CHECKER, CORPUS_DOTS, CORPUS_N_TEXTURES
} corpus_texture;

/* What one item shows: a background (plain colour or a two-colour texture) and up to
 * CORPUS_MAX_OBJECTS shapes of one colour, shape and size. */
typedef struct corpus_item {
  corpus_texture texture;
  int bg, bg2;              /* colour indices; bg2 only for textures */
  int n_objects;            /* 0 for texture items */
  corpus_shape shape;
  int colour;
  int small;                /* 1: small shapes */
  double cx[CORPUS_MAX_OBJECTS], cy[CORPUS_MAX_OBJECTS], r; /* centres and half-size, in [0, 1] units */
  char caption[CORPUS_CAPTION_MAX];
} corpus_item;

/* Colour names ("red") and their sRGB values in [0, 1]. */
const char *corpus_colour_name(int i);
void corpus_colour_rgb(int i, float rgb[3]);
const char *corpus_shape_name(corpus_shape s);

/* Draws item `index` of the corpus with `seed`: its content and caption. */
void corpus_item_make(uint64_t seed, uint64_t index, corpus_item *out);

/* Renders an item as [size, size, 3] float32 in [0, 1] (HWC), anti-aliased by 4x4 supersampling.
 * size in [8, 1024]. */
int corpus_item_render(const corpus_item *it, int size, float *rgb, herr *e);

#endif

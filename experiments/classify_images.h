/* classify_images: the classifier's images held in memory as resized 8-bit RGB (a 2,200-image
 * arm at 196 x 196 is ~250 MB this way, four times less than as floats), and the float batches
 * [B, 3, S, S] built from them for training and scoring. */
#ifndef MDH_EXPERIMENTS_CLASSIFY_IMAGES_H
#define MDH_EXPERIMENTS_CLASSIFY_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "harness/image/resize.h"
#include "harness/util/herr.h"

typedef struct clf_images {
  int size;        /* side S of every image */
  img_filter filter;
  size_t n, cap;
  uint8_t *pixels; /* n * S * S * 3, HWC */
  int *labels;     /* n */
} clf_images;

/* An empty cache of S x S images resized with `filter`. */
void clf_images_init(clf_images *c, int size, img_filter filter);
void clf_images_free(clf_images *c);
/* Reads a PNG (grey is replicated, alpha dropped), resizes it with Pillow's 8-bit path and
 * appends it; errors name the file. */
int clf_images_add_png(clf_images *c, const char *path, int label, herr *e);
/* Images idx[0..B) as float32 [B, 3, S, S] in [0, 1] (x / 255). */
void clf_images_batch(const clf_images *c, const size_t *idx, int B, float *out);
/* (x - mean[c]) / std[c] per channel, in place, on [B, 3, S, S]. */
void clf_normalize(float *x, int B, int S, const float mean[3], const float std[3]);

#endif

/* ti_dataset: the images textual inversion trains on — a folder of PNGs with optional caption
 * files — loaded as square, resized, optionally mirrored CHW float tensors in [-1, 1]. */
#ifndef MDH_TRAIN_TI_DATASET_H
#define MDH_TRAIN_TI_DATASET_H

#include <stddef.h>

#include "harness/image/resize.h"
#include "harness/util/herr.h"
#include "harness/util/rng.h"

typedef struct ti_image {
  char *path;
  char *caption; /* "" when none */
} ti_image;

typedef struct ti_image_set {
  size_t n;
  ti_image *items;
} ti_image_set;

/* All .png files of dir (any case of ".png"; sorted by name with strcmp, not recursive; hidden
 * files such as macOS "._x.png" skipped); the caption of x.png is x.txt beside it (trimmed, ""
 * when absent). A folder without PNGs is an error naming it. */
int ti_image_set_from_dir(const char *dir, ti_image_set *out, herr *e);
/* Appends a copy of path and caption (NULL caption counts as ""). */
int ti_image_set_add(ti_image_set *s, const char *path, const char *caption, herr *e);
void ti_image_set_free(ti_image_set *s);

typedef enum ti_crop { TI_CROP_CENTER = 0, TI_CROP_RANDOM } ti_crop;

/* Loads image i (grey/RGBA/16-bit converted to RGB as PIL's convert("RGB"): alpha dropped),
 * crops a square of side min(w, h) (centred at ((w - side) / 2, (h - side) / 2) as diffusers, or
 * at x0 = rng_below(r, w - side + 1) then y0 = rng_below(r, h - side + 1): always two draws),
 * resizes it to size x size on 8-bit values as PIL does (img_resize_u8), mirrors it when hflip,
 * and writes CHW float32 x / 127.5 - 1 into out[3 * size * size]. r may be NULL for
 * TI_CROP_CENTER. Errors name the file. */
int ti_image_load(const ti_image_set *s, size_t i, int size, ti_crop crop, img_filter filter, int hflip, rng *r,
                  float *out, herr *e);

#endif

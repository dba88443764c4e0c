/* png: 8-bit PNG images (grey, RGB, RGBA) read and written with libpng, with tEXt chunks so a
 * generated image can carry its generation parameters (the A1111 "parameters" key). */
#ifndef MDH_FORMATS_PNG_H
#define MDH_FORMATS_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

#define PNG_MAX_SIDE 65536u

typedef struct png_text_kv {
  const char *key;   /* 1..79 Latin-1 characters, as the PNG specification requires */
  const char *value; /* written as UTF-8 in an iTXt chunk when not plain ASCII, else tEXt */
} png_text_kv;

/* An image in memory: rows top to bottom, channels interleaved, no padding. */
typedef struct png_image8 {
  uint32_t width, height;
  int channels; /* 1, 3 or 4 */
  uint8_t *pixels; /* width * height * channels bytes, owned */
  /* Text chunks found on read (owned; NULL-terminated arrays of n_text entries). */
  size_t n_text;
  char **text_keys, **text_values;
} png_image8;

/* Writes `pixels` atomically (temporary file, fsync, rename) with the given text chunks. */
int png_write8(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
               const png_text_kv *text, size_t n_text, herr *e);

/* Reads any PNG, converted to 8 bits per channel (16-bit is scaled, palettes expanded, grey with
 * alpha becomes RGBA). Sizes above PNG_MAX_SIDE or a corrupt stream are errors naming the file. */
int png_read8(const char *path, png_image8 *out, herr *e);
void png_image8_free(png_image8 *img);
/* The value of text chunk `key` of a read image, or NULL. */
const char *png_image8_text(const png_image8 *img, const char *key);

/* Float [H, W, C] in [0, 1] to 8 bits as diffusers' numpy_to_pil does: round(x * 255) after
 * clamping (NaN becomes 0). */
void png_from_unit_float(const float *in, size_t n, uint8_t *out);

#endif

/* classify_images: PNG → resized 8-bit RGB cache → float batches. */
#include "experiments/classify_images.h"

#include <stdlib.h>
#include <string.h>

#include "harness/formats/png.h"

void clf_images_init(clf_images *c, int size, img_filter filter) {
  memset(c, 0, sizeof *c);
  c->size = size;
  c->filter = filter;
}

void clf_images_free(clf_images *c) {
  free(c->pixels);
  free(c->labels);
  memset(c, 0, sizeof *c);
}

int clf_images_add_png(clf_images *c, const char *path, int label, herr *e) {
  png_image8 img;
  if (png_read8(path, &img, e)) return -1;
  size_t w = img.width, h = img.height, np = w * h;
  uint8_t *rgb = malloc(np * 3);
  if (!rgb) abort();
  for (size_t i = 0; i < np; i++)
    for (int k = 0; k < 3; k++) rgb[3 * i + k] = img.pixels[i * (size_t)img.channels + (img.channels >= 3 ? k : 0)];
  png_image8_free(&img);
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->pixels = realloc(c->pixels, c->cap * (size_t)c->size * (size_t)c->size * 3);
    c->labels = realloc(c->labels, c->cap * sizeof *c->labels);
    if (!c->pixels || !c->labels) abort();
  }
  uint8_t *dst = c->pixels + c->n * (size_t)c->size * (size_t)c->size * 3;
  int rc = img_resize_u8(rgb, (int)w, (int)h, 3, dst, c->size, c->size, c->filter, e);
  free(rgb);
  if (rc) return herr_prefix(e, "%s: ", path);
  c->labels[c->n++] = label;
  return 0;
}

void clf_images_batch(const clf_images *c, const size_t *idx, int B, float *out) {
  size_t plane = (size_t)c->size * (size_t)c->size;
  for (int b = 0; b < B; b++) {
    const uint8_t *src = c->pixels + idx[b] * plane * 3;
    float *dst = out + (size_t)b * 3 * plane;
    for (size_t p = 0; p < plane; p++)
      for (int k = 0; k < 3; k++) dst[(size_t)k * plane + p] = (float)src[3 * p + (size_t)k] / 255.0f;
  }
}

void clf_normalize(float *x, int B, int S, const float mean[3], const float std[3]) {
  size_t plane = (size_t)S * (size_t)S;
  for (int b = 0; b < B; b++)
    for (int k = 0; k < 3; k++) {
      float *p = x + ((size_t)b * 3 + (size_t)k) * plane, m = mean[k], inv = 1.0f / std[k];
      for (size_t i = 0; i < plane; i++) p[i] = (p[i] - m) * inv;
    }
}

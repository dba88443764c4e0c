/* corpus_render: rasterises a corpus item (anti-aliased by supersampling). */
#include <math.h>
#include <string.h>

#include "harness/data/corpus.h"

#define SS 4

static int inside_shape(const corpus_item *it, int k, double x, double y) {
  const double dx = x - it->cx[k], dy = y - it->cy[k], r = it->r;
  switch (it->shape) {
    case CORPUS_CIRCLE: return dx * dx + dy * dy <= r * r;
    case CORPUS_SQUARE: return fabs(dx) <= r * 0.85 && fabs(dy) <= r * 0.85;
    default: {
      /* upright triangle: apex at the top, base at the bottom */
      const double top = -r, bottom = r * 0.8;
      if (dy < top || dy > bottom) return 0;
      const double half = r * (dy - top) / (bottom - top);
      return fabs(dx) <= half;
    }
  }
}

static int texture_second(const corpus_item *it, double x, double y) {
  switch (it->texture) {
    case CORPUS_HSTRIPES: return ((int)floor(y * 8.0)) & 1;
    case CORPUS_VSTRIPES: return ((int)floor(x * 8.0)) & 1;
    case CORPUS_CHECKER: return (((int)floor(x * 4.0)) + ((int)floor(y * 4.0))) & 1;
    case CORPUS_DOTS: {
      const double fx = x * 5.0 - floor(x * 5.0) - 0.5, fy = y * 5.0 - floor(y * 5.0) - 0.5;
      return fx * fx + fy * fy <= 0.28 * 0.28;
    }
    default: return 0;
  }
}

int corpus_item_render(const corpus_item *it, int size, float *rgb, herr *e) {
  if (size < 8 || size > 1024) return herr_set(e, "corpus: image size %d outside [8, 1024]", size);
  float bg[3], bg2[3], fg[3];
  corpus_colour_rgb(it->bg, bg);
  corpus_colour_rgb(it->bg2, bg2);
  corpus_colour_rgb(it->colour, fg);
  for (int py = 0; py < size; py++)
    for (int px = 0; px < size; px++) {
      float acc[3] = {0, 0, 0};
      for (int sy = 0; sy < SS; sy++)
        for (int sx = 0; sx < SS; sx++) {
          const double x = (px + (sx + 0.5) / SS) / size, y = (py + (sy + 0.5) / SS) / size;
          const float *c = texture_second(it, x, y) ? bg2 : bg;
          for (int k = 0; k < it->n_objects; k++)
            if (inside_shape(it, k, x, y)) c = fg;
          for (int ch = 0; ch < 3; ch++) acc[ch] += c[ch];
        }
      float *o = rgb + ((size_t)py * size + px) * 3;
      for (int ch = 0; ch < 3; ch++) o[ch] = acc[ch] / (SS * SS);
    }
  return 0;
}

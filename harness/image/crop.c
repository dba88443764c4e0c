/* crop: rectangular windows and left-right mirroring of interleaved (HWC) images. */
#include "harness/image/crop.h"

#include <string.h>

static int check_window(const void *src, int sw, int sh, int c, int x0, int y0, int cw, int ch, const void *dst,
                        herr *e) {
  if (!src || !dst) return herr_set(e, "crop: missing source or destination buffer");
  if (c < 1 || c > 4) return herr_set(e, "crop: %d channels (expected 1 to 4)", c);
  if (sw < 1 || sh < 1) return herr_set(e, "crop: image size %dx%d is empty", sw, sh);
  if (cw < 1 || ch < 1 || x0 < 0 || y0 < 0 || x0 > sw - cw || y0 > sh - ch)
    return herr_set(e, "crop: window %dx%d at (%d, %d) is not inside the %dx%d image", cw, ch, x0, y0, sw, sh);
  return 0;
}

static void crop_rows(const char *src, int sw, int x0, int y0, int cw, int ch, size_t px, char *dst) {
  for (int y = 0; y < ch; y++)
    memcpy(dst + (size_t)y * (size_t)cw * px, src + ((size_t)(y0 + y) * (size_t)sw + (size_t)x0) * px,
           (size_t)cw * px);
}

int img_crop_f32(const float *src, int sw, int sh, int c, int x0, int y0, int cw, int ch, float *dst, herr *e) {
  if (check_window(src, sw, sh, c, x0, y0, cw, ch, dst, e)) return -1;
  crop_rows((const char *)src, sw, x0, y0, cw, ch, (size_t)c * sizeof(float), (char *)dst);
  return 0;
}

int img_crop_u8(const uint8_t *src, int sw, int sh, int c, int x0, int y0, int cw, int ch, uint8_t *dst, herr *e) {
  if (check_window(src, sw, sh, c, x0, y0, cw, ch, dst, e)) return -1;
  crop_rows((const char *)src, sw, x0, y0, cw, ch, (size_t)c, (char *)dst);
  return 0;
}

static void hflip_any(char *img, int w, int h, size_t px) {
  char tmp[4 * sizeof(float)];
  for (int y = 0; y < h; y++) {
    char *row = img + (size_t)y * (size_t)w * px;
    for (int a = 0, b = w - 1; a < b; a++, b--) {
      memcpy(tmp, row + (size_t)a * px, px);
      memcpy(row + (size_t)a * px, row + (size_t)b * px, px);
      memcpy(row + (size_t)b * px, tmp, px);
    }
  }
}

void img_hflip_f32(float *img, int w, int h, int c) {
  if (img && w > 0 && h > 0 && c >= 1 && c <= 4) hflip_any((char *)img, w, h, (size_t)c * sizeof(float));
}

void img_hflip_u8(uint8_t *img, int w, int h, int c) {
  if (img && w > 0 && h > 0 && c >= 1 && c <= 4) hflip_any((char *)img, w, h, (size_t)c);
}

/* crop: rectangular crops and horizontal mirroring of interleaved (HWC) float images. */
#ifndef MDH_IMAGE_CROP_H
#define MDH_IMAGE_CROP_H

#include <stdint.h>

#include "harness/util/herr.h"

/* Copies the cw x ch window at (x0, y0) of src (sw x sh, c channels) into dst (cw * ch * c).
 * The window must lie inside the image. */
int img_crop_f32(const float *src, int sw, int sh, int c, int x0, int y0, int cw, int ch, float *dst, herr *e);
/* The same for 8-bit images. */
int img_crop_u8(const uint8_t *src, int sw, int sh, int c, int x0, int y0, int cw, int ch, uint8_t *dst, herr *e);
/* Mirrors img left-right in place. */
void img_hflip_f32(float *img, int w, int h, int c);
void img_hflip_u8(uint8_t *img, int w, int h, int c);

#endif

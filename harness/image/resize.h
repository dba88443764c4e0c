/* resize: image resampling with Pillow's semantics (Resample.c: separable, antialiased when
 * downscaling, horizontal pass then vertical), so resized training images match PIL's. */
#ifndef MDH_IMAGE_RESIZE_H
#define MDH_IMAGE_RESIZE_H

#include <stdint.h>

#include "harness/util/herr.h"

typedef enum img_filter { IMG_NEAREST = 0, IMG_BILINEAR, IMG_BICUBIC, IMG_LANCZOS } img_filter;

/* "nearest", "bilinear", "bicubic", "lanczos" (case-insensitive); other names are an error. */
int img_filter_parse(const char *name, img_filter *out, herr *e);
/* The lower-case name of f ("?" when out of range). */
const char *img_filter_name(img_filter f);

/* Interleaved channels (HWC), channels 1..4; dst holds dw * dh * channels floats. Same size is a
 * copy. Sizes must be 1..65536 each. */
int img_resize_f32(const float *src, int sw, int sh, int channels, float *dst, int dw, int dh, img_filter f,
                   herr *e);
/* Pillow's 8-bit path: fixed-point coefficients (22 fraction bits), rounding and clipping after
 * each pass (the intermediate image is 8-bit), so results equal PIL's Image.resize for L/RGB. */
int img_resize_u8(const uint8_t *src, int sw, int sh, int channels, uint8_t *dst, int dw, int dh, img_filter f,
                  herr *e);

#endif

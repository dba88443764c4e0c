/* resize: Pillow's separable resampling (libImaging/Resample.c and the NEAREST scale path of
 * Geometry.c) reimplemented, for float images and for the 8-bit fixed-point path. */
#include "harness/image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESIZE_MAX_SIDE 65536
/* Pillow's 8-bit path: 8 result bits plus 2 bits of headroom for negative lobes and sums above 1. */
#define PRECISION_BITS (32 - 8 - 2)

static const char *const filter_names[] = {"nearest", "bilinear", "bicubic", "lanczos"};

int img_filter_parse(const char *name, img_filter *out, herr *e) {
  for (int i = 0; i < 4; i++)
    if (name && !strcasecmp(name, filter_names[i])) {
      *out = (img_filter)i;
      return 0;
    }
  return herr_set(e, "unknown resampling filter '%s' (expected nearest, bilinear, bicubic or lanczos)",
                  name ? name : "(null)");
}

const char *img_filter_name(img_filter f) { return (unsigned)f < 4 ? filter_names[f] : "?"; }

static double filter_support(img_filter f) {
  switch (f) {
    case IMG_BILINEAR: return 1.0;
    case IMG_BICUBIC: return 2.0;
    default: return 3.0;
  }
}

static double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return sin(x) / x;
}

static double filter_eval(img_filter f, double x) {
  switch (f) {
    case IMG_BILINEAR:
      x = fabs(x);
      return x < 1.0 ? 1.0 - x : 0.0;
    case IMG_BICUBIC: {
      const double a = -0.5; /* Pillow's choice; Keys' kernel */
      x = fabs(x);
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    }
    default: /* lanczos, a = 3; the window is half-open as in Pillow */
      return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
  }
}

/* One axis's taps: output i reads `count[i]` inputs from `first[i]` with weights k[i * ksize ..]. */
typedef struct taps {
  int ksize;
  int *first, *count;
  double *k;
  int32_t *k8; /* fixed-point copy for the 8-bit path */
} taps;

static void taps_free(taps *t) {
  free(t->first);
  free(t->count);
  free(t->k);
  free(t->k8);
}

static int taps_compute(int in_size, int out_size, img_filter f, taps *t, herr *e) {
  memset(t, 0, sizeof *t);
  /* Pillow widens the kernel by the scale when shrinking: that is its antialiasing. */
  double scale = (double)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = filter_support(f) * filterscale;
  t->ksize = (int)ceil(support) * 2 + 1;
  size_t nk = (size_t)out_size * (size_t)t->ksize;
  t->first = malloc((size_t)out_size * sizeof *t->first);
  t->count = malloc((size_t)out_size * sizeof *t->count);
  t->k = calloc(nk, sizeof *t->k);
  t->k8 = calloc(nk, sizeof *t->k8);
  if (!t->first || !t->count || !t->k || !t->k8) {
    taps_free(t);
    return herr_set(e, "resize %d -> %d: out of memory for the filter taps", in_size, out_size);
  }
  double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale;
    /* (int) truncates like Pillow's "round the value" casts; negatives clamp to 0 anyway. */
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double *k = t->k + (size_t)xx * (size_t)t->ksize;
    double ww = 0.0;
    for (int x = 0; x < xmax; x++) {
      double w = filter_eval(f, (x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++)
      if (ww != 0.0) k[x] /= ww;
    int32_t *k8 = t->k8 + (size_t)xx * (size_t)t->ksize;
    for (int x = 0; x < xmax; x++)
      k8[x] = (int32_t)(k[x] < 0 ? -0.5 + k[x] * (1 << PRECISION_BITS) : 0.5 + k[x] * (1 << PRECISION_BITS));
    t->first[xx] = xmin;
    t->count[xx] = xmax;
  }
  return 0;
}

static uint8_t clip8(int64_t ss) {
  if (ss < 0) return 0;
  ss >>= PRECISION_BITS;
  return ss > 255 ? 255 : (uint8_t)ss;
}

/* Rows [y0, y1) of src (w_in wide) resampled horizontally into dst (rows from 0). */
static void horiz_f32(const float *src, int w_in, int y0, int y1, int c, const taps *t, int w_out, float *dst) {
  for (int y = y0; y < y1; y++) {
    const float *row = src + (size_t)y * (size_t)w_in * (size_t)c;
    float *out = dst + (size_t)(y - y0) * (size_t)w_out * (size_t)c;
    for (int xx = 0; xx < w_out; xx++) {
      const double *k = t->k + (size_t)xx * (size_t)t->ksize;
      const float *in = row + (size_t)t->first[xx] * (size_t)c;
      double s[4] = {0.0, 0.0, 0.0, 0.0}; /* per channel, taps in Pillow's order */
      for (int x = 0; x < t->count[xx]; x++)
        for (int ch = 0; ch < c; ch++) s[ch] += in[(size_t)x * (size_t)c + (size_t)ch] * k[x];
      for (int ch = 0; ch < c; ch++) out[(size_t)xx * (size_t)c + (size_t)ch] = (float)s[ch];
    }
  }
}

/* Whole rows at a time (acc holds one output row): the same sums in the same order as
 * Pillow's per-pixel loop, but reading the source row by row. */
static void vert_f32(const float *src, int w, int c, const taps *t, int row_shift, int h_out, float *dst,
                     double *acc) {
  size_t stride = (size_t)w * (size_t)c;
  for (int yy = 0; yy < h_out; yy++) {
    const double *k = t->k + (size_t)yy * (size_t)t->ksize;
    const float *in = src + (size_t)(t->first[yy] - row_shift) * stride;
    float *out = dst + (size_t)yy * stride;
    for (size_t i = 0; i < stride; i++) acc[i] = 0.0;
    for (int y = 0; y < t->count[yy]; y++) {
      const float *row = in + (size_t)y * stride;
      for (size_t i = 0; i < stride; i++) acc[i] += row[i] * k[y];
    }
    for (size_t i = 0; i < stride; i++) out[i] = (float)acc[i];
  }
}

static void horiz_u8(const uint8_t *src, int w_in, int y0, int y1, int c, const taps *t, int w_out, uint8_t *dst) {
  for (int y = y0; y < y1; y++) {
    const uint8_t *row = src + (size_t)y * (size_t)w_in * (size_t)c;
    uint8_t *out = dst + (size_t)(y - y0) * (size_t)w_out * (size_t)c;
    for (int xx = 0; xx < w_out; xx++) {
      const int32_t *k = t->k8 + (size_t)xx * (size_t)t->ksize;
      const uint8_t *in = row + (size_t)t->first[xx] * (size_t)c;
      int64_t s[4];
      for (int ch = 0; ch < 4; ch++) s[ch] = 1 << (PRECISION_BITS - 1);
      for (int x = 0; x < t->count[xx]; x++)
        for (int ch = 0; ch < c; ch++) s[ch] += (int64_t)in[(size_t)x * (size_t)c + (size_t)ch] * k[x];
      for (int ch = 0; ch < c; ch++) out[(size_t)xx * (size_t)c + (size_t)ch] = clip8(s[ch]);
    }
  }
}

static void vert_u8(const uint8_t *src, int w, int c, const taps *t, int row_shift, int h_out, uint8_t *dst,
                    int64_t *acc) {
  size_t stride = (size_t)w * (size_t)c;
  for (int yy = 0; yy < h_out; yy++) {
    const int32_t *k = t->k8 + (size_t)yy * (size_t)t->ksize;
    const uint8_t *in = src + (size_t)(t->first[yy] - row_shift) * stride;
    uint8_t *out = dst + (size_t)yy * stride;
    for (size_t i = 0; i < stride; i++) acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < t->count[yy]; y++) {
      const uint8_t *row = in + (size_t)y * stride;
      for (size_t i = 0; i < stride; i++) acc[i] += (int64_t)row[i] * k[y];
    }
    for (size_t i = 0; i < stride; i++) out[i] = clip8(acc[i]);
  }
}

/* Pillow's NEAREST resize is an affine scale sampling at pixel centres, with the source
 * position accumulated step by step in double (reproduced, as it decides ties). */
static void nearest_index_table(int in_size, int out_size, int *tab) {
  double a = (double)in_size / out_size;
  double xo = a * 0.5;
  for (int x = 0; x < out_size; x++) {
    int xin = xo < 0.0 ? 0 : (int)xo;
    tab[x] = xin >= in_size ? in_size - 1 : xin;
    xo += a;
  }
}

static int check_args(const void *src, int sw, int sh, int channels, const void *dst, int dw, int dh, img_filter f,
                      herr *e) {
  if (!src || !dst) return herr_set(e, "resize: missing source or destination buffer");
  if (channels < 1 || channels > 4) return herr_set(e, "resize: %d channels (expected 1 to 4)", channels);
  if (sw < 1 || sh < 1 || sw > RESIZE_MAX_SIDE || sh > RESIZE_MAX_SIDE)
    return herr_set(e, "resize: source size %dx%d (expected 1..%d per side)", sw, sh, RESIZE_MAX_SIDE);
  if (dw < 1 || dh < 1 || dw > RESIZE_MAX_SIDE || dh > RESIZE_MAX_SIDE)
    return herr_set(e, "resize: target size %dx%d (expected 1..%d per side)", dw, dh, RESIZE_MAX_SIDE);
  if ((unsigned)f > IMG_LANCZOS) return herr_set(e, "resize: unknown filter %d", (int)f);
  return 0;
}

/* The shared driver: element type chosen by `u8`. */
static int resize_any(const void *src, int sw, int sh, int c, void *dst, int dw, int dh, img_filter f, int u8,
                      herr *e) {
  if (check_args(src, sw, sh, c, dst, dw, dh, f, e)) return -1;
  size_t esz = u8 ? 1 : sizeof(float);
  if (sw == dw && sh == dh) {
    memcpy(dst, src, (size_t)sw * (size_t)sh * (size_t)c * esz);
    return 0;
  }
  if (f == IMG_NEAREST) {
    int *xt = malloc((size_t)dw * sizeof *xt), *yt = malloc((size_t)dh * sizeof *yt);
    if (!xt || !yt) {
      free(xt);
      free(yt);
      return herr_set(e, "resize: out of memory");
    }
    nearest_index_table(sw, dw, xt);
    nearest_index_table(sh, dh, yt);
    size_t px = (size_t)c * esz;
    for (int y = 0; y < dh; y++) {
      const char *row = (const char *)src + (size_t)yt[y] * (size_t)sw * px;
      char *out = (char *)dst + (size_t)y * (size_t)dw * px;
      for (int x = 0; x < dw; x++)
        for (size_t b = 0; b < px; b++) out[(size_t)x * px + b] = row[(size_t)xt[x] * px + b];
    }
    free(xt);
    free(yt);
    return 0;
  }
  taps tv, th;
  int need_h = dw != sw, need_v = dh != sh;
  if (taps_compute(sh, dh, f, &tv, e)) return -1;
  /* Only the source rows the vertical pass reads go through the horizontal pass (as Pillow). */
  int y_first = need_v ? tv.first[0] : 0;
  int y_last = need_v ? tv.first[dh - 1] + tv.count[dh - 1] : sh;
  void *tmp = NULL;
  const void *vin = src;
  int vin_shift = 0;
  if (need_h) {
    if (taps_compute(sw, dw, f, &th, e)) {
      taps_free(&tv);
      return -1;
    }
    void *hout = need_v ? malloc((size_t)dw * (size_t)(y_last - y_first) * (size_t)c * esz) : dst;
    if (!hout) {
      taps_free(&tv);
      taps_free(&th);
      return herr_set(e, "resize: out of memory for the intermediate image");
    }
    if (u8)
      horiz_u8(src, sw, y_first, y_last, c, &th, dw, hout);
    else
      horiz_f32(src, sw, y_first, y_last, c, &th, dw, hout);
    taps_free(&th);
    if (need_v) tmp = hout;
    vin = hout;
    vin_shift = y_first;
  }
  if (need_v) {
    void *acc = malloc((size_t)dw * (size_t)c * 8); /* one row of int64 or double sums */
    if (!acc) {
      free(tmp);
      taps_free(&tv);
      return herr_set(e, "resize: out of memory for a row of sums");
    }
    if (u8)
      vert_u8(vin, dw, c, &tv, vin_shift, dh, dst, acc);
    else
      vert_f32(vin, dw, c, &tv, vin_shift, dh, dst, acc);
    free(acc);
  }
  free(tmp);
  taps_free(&tv);
  return 0;
}

int img_resize_f32(const float *src, int sw, int sh, int channels, float *dst, int dw, int dh, img_filter f,
                   herr *e) {
  return resize_any(src, sw, sh, channels, dst, dw, dh, f, 0, e);
}

int img_resize_u8(const uint8_t *src, int sw, int sh, int channels, uint8_t *dst, int dw, int dh, img_filter f,
                  herr *e) {
  return resize_any(src, sw, sh, channels, dst, dw, dh, f, 1, e);
}

/* png: libpng encoding into memory (then one atomic write) and decoding with every libpng
 * error turned into a message that names the file. */
#include "harness/formats/png.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/fsutil.h"

typedef struct membuf {
  uint8_t *data;
  size_t len, cap;
  bool oom;
} membuf;

/* libpng reports through a callback; keep its text so the error can name the cause. */
typedef struct png_ctx {
  char msg[256];
  membuf out;
} png_ctx;

static void on_error(png_structp p, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(p);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }

static void mem_write(png_structp p, png_bytep data, png_size_t len) {
  png_ctx *c = png_get_io_ptr(p);
  membuf *b = &c->out;
  if (b->oom) return;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + len) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      b->oom = true;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void mem_flush(png_structp p) { (void)p; }

static bool is_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return false;
  return true;
}

static int color_type(int channels) {
  return channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
}

int png_write8(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
               const png_text_kv *text, size_t n_text, herr *e) {
  if (channels != 1 && channels != 3 && channels != 4)
    return herr_set(e, "%s: a PNG has 1, 3 or 4 channels here, not %d", path, channels);
  if (width == 0 || height == 0 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
    return herr_set(e, "%s: image size %ux%u is outside 1..%u", path, width, height, PNG_MAX_SIDE);
  for (size_t i = 0; i < n_text; i++) {
    size_t k = text[i].key ? strlen(text[i].key) : 0;
    if (k < 1 || k > 79 || !is_ascii(text[i].key))
      return herr_set(e, "%s: PNG text key '%s' must be 1 to 79 ASCII characters", path,
                      text[i].key ? text[i].key : "");
  }
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = p ? png_create_info_struct(p) : NULL;
  png_text *chunks = calloc(n_text ? n_text : 1, sizeof *chunks);
  png_bytep *rows = malloc(height * sizeof *rows);
  if (!p || !info || !chunks || !rows) {
    png_destroy_write_struct(&p, &info);
    free(chunks);
    free(rows);
    return herr_set(e, "%s: out of memory encoding a PNG", path);
  }
  if (setjmp(png_jmpbuf(p))) {
    png_destroy_write_struct(&p, &info);
    free(chunks);
    free(rows);
    free(ctx.out.data);
    return herr_set(e, "%s: encoding the PNG failed: %s", path, ctx.msg);
  }
  png_set_write_fn(p, &ctx, mem_write, mem_flush);
  png_set_IHDR(p, info, width, height, 8, color_type(channels), PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  for (size_t i = 0; i < n_text; i++) {
    /* tEXt is Latin-1; UTF-8 prompts go in iTXt so that readers decode them correctly. */
    chunks[i].compression = is_ascii(text[i].value) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
    chunks[i].key = (png_charp)text[i].key;
    chunks[i].text = (png_charp)text[i].value;
  }
  if (n_text) png_set_text(p, info, chunks, (int)n_text);
  png_write_info(p, info);
  size_t stride = (size_t)width * (size_t)channels;
  for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * stride);
  png_write_image(p, rows);
  png_write_end(p, info);
  png_destroy_write_struct(&p, &info);
  free(chunks);
  free(rows);
  if (ctx.out.oom) {
    free(ctx.out.data);
    return herr_set(e, "%s: out of memory encoding a PNG", path);
  }
  int rc = fs_write_atomic(path, ctx.out.data, ctx.out.len, e);
  free(ctx.out.data);
  return rc;
}

void png_image8_free(png_image8 *img) {
  if (!img) return;
  free(img->pixels);
  for (size_t i = 0; i < img->n_text; i++) {
    free(img->text_keys[i]);
    free(img->text_values[i]);
  }
  free(img->text_keys);
  free(img->text_values);
  memset(img, 0, sizeof *img);
}

const char *png_image8_text(const png_image8 *img, const char *key) {
  for (size_t i = 0; i < img->n_text; i++)
    if (!strcmp(img->text_keys[i], key)) return img->text_values[i];
  return NULL;
}

static int copy_text(png_structp p, png_infop info, png_image8 *out) {
  png_textp t = NULL;
  int n = 0;
  png_get_text(p, info, &t, &n);
  if (n <= 0) return 0;
  out->text_keys = calloc((size_t)n, sizeof *out->text_keys);
  out->text_values = calloc((size_t)n, sizeof *out->text_values);
  if (!out->text_keys || !out->text_values) return -1;
  for (int i = 0; i < n; i++) {
    out->text_keys[i] = strdup(t[i].key ? t[i].key : "");
    out->text_values[i] = strdup(t[i].text ? t[i].text : "");
    if (!out->text_keys[i] || !out->text_values[i]) return -1;
    out->n_text = (size_t)i + 1;
  }
  return 0;
}

int png_read8(const char *path, png_image8 *out, herr *e) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return herr_errno(e, "%s", path);
  uint8_t sig[8];
  if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
    fclose(f);
    return herr_set(e, "%s: not a PNG file (bad signature)", path);
  }
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = p ? png_create_info_struct(p) : NULL;
  png_bytep *volatile rows = NULL;
  if (!p || !info) {
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    return herr_set(e, "%s: out of memory decoding a PNG", path);
  }
  if (setjmp(png_jmpbuf(p))) {
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    free(rows);
    png_image8_free(out);
    return herr_set(e, "%s: corrupt or truncated PNG: %s", path, ctx.msg);
  }
  png_init_io(p, f);
  png_set_sig_bytes(p, 8);
  /* Refuse absurd sizes before any allocation (a decompression bomb must not take the box). */
  png_set_user_limits(p, PNG_MAX_SIDE, PNG_MAX_SIDE);
  png_read_info(p, info);
  uint32_t w = png_get_image_width(p, info), h = png_get_image_height(p, info);
  int ct = png_get_color_type(p, info), depth = png_get_bit_depth(p, info);
  if (depth == 16) png_set_strip_16(p);
  if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
  if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(p);
  if (png_get_valid(p, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(p);
  if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(p);
  png_set_interlace_handling(p);
  png_read_update_info(p, info);
  int channels = png_get_channels(p, info);
  if (channels < 1 || channels > 4 || channels == 2) png_error(p, "unsupported channel layout");
  size_t stride = (size_t)w * (size_t)channels;
  if (png_get_rowbytes(p, info) != stride) png_error(p, "unexpected row size");
  out->width = w;
  out->height = h;
  out->channels = channels;
  out->pixels = malloc(stride * h);
  rows = malloc(h * sizeof *rows);
  if (!out->pixels || !rows) png_error(p, "out of memory");
  for (uint32_t y = 0; y < h; y++) rows[y] = out->pixels + (size_t)y * stride;
  png_read_image(p, rows);
  png_read_end(p, info);
  if (copy_text(p, info, out)) png_error(p, "out of memory for text chunks");
  png_destroy_read_struct(&p, &info, NULL);
  free(rows);
  fclose(f);
  return 0;
}

void png_from_unit_float(const float *in, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) {
    float v = in[i];
    if (!(v > 0.0f)) v = 0.0f; /* also NaN */
    if (v > 1.0f) v = 1.0f;
    /* numpy's round() is half-to-even; rintf in the default rounding mode matches it. */
    out[i] = (uint8_t)rintf(v * 255.0f);
  }
}

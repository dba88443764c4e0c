/* report_grid: one PNG per generate stage — a row of real training images of the class (from
 * the data stage's manifest, train split) above rows of the generated ones — with every image
 * resized to one thumbnail size (Pillow-equivalent bilinear), so the two can be compared side
 * by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report/report_doc.h"
#include "harness/data/dataset.h"
#include "harness/formats/png.h"
#include "harness/image/resize.h"
#include "harness/util/fsutil.h"

#define THUMB 96 /* px, the side of every thumbnail */
#define GAP 4    /* px between thumbnails */
#define BAND 16  /* px between the real row and the generated rows */

typedef struct canvas {
  uint8_t *px;
  int w, h;
} canvas;

/* Draws image `path` fitted into the thumbnail at (x, y) (RGB, grey replicated, alpha dropped). */
static int draw_thumb(canvas *cv, const char *path, int x, int y, herr *e) {
  png_image8 img;
  if (png_read8(path, &img, e)) return -1;
  int ch = img.channels, sw = (int)img.width, sh = (int)img.height;
  int dw = sw >= sh ? THUMB : (int)((long)THUMB * sw / sh), dh = sw >= sh ? (int)((long)THUMB * sh / sw) : THUMB;
  if (dw < 1) dw = 1;
  if (dh < 1) dh = 1;
  uint8_t *small = malloc((size_t)dw * (size_t)dh * (size_t)ch);
  if (!small) abort();
  int rc = img_resize_u8(img.pixels, sw, sh, ch, small, dw, dh, IMG_BILINEAR, e);
  if (rc) herr_prefix(e, "%s: ", path);
  int ox = x + (THUMB - dw) / 2, oy = y + (THUMB - dh) / 2;
  for (int r = 0; !rc && r < dh; r++)
    for (int q = 0; q < dw; q++) {
      const uint8_t *s = small + ((size_t)r * (size_t)dw + (size_t)q) * (size_t)ch;
      uint8_t *d = cv->px + ((size_t)(oy + r) * (size_t)cv->w + (size_t)(ox + q)) * 3;
      d[0] = s[0], d[1] = ch >= 3 ? s[1] : s[0], d[2] = ch >= 3 ? s[2] : s[0];
    }
  free(small);
  png_image8_free(&img);
  return rc;
}

/* Paths of up to max ok cases of `m` with the split (NULL: any) and label (-1: any). */
static size_t pick(const ds_manifest *m, const char *split, int label, char **out, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < m->n && n < max; i++) {
    const ds_case *k = &m->cases[i];
    if (!k->ok || (split && strcmp(k->split, split)) || (label >= 0 && k->label != label)) continue;
    out[n++] = ds_case_path(m, k->image);
  }
  return n;
}

static int read_manifest(const rp_results *r, long stage, ds_manifest *m) {
  if (stage < 0 || r->stages[stage].state != STAGE_COMPLETE) return -1;
  char *dir = rp_stage_dir(r, (size_t)stage), *art = fs_join(dir, "artifacts");
  int rc = ds_manifest_read(art, m, NULL);
  free(dir), free(art);
  return rc;
}

static int grid_for(rp_ctx *c, const rp_point *p, size_t gen, herr *e) {
  const rp_results *r = c->res;
  const rp_stage *st = &r->stages[gen];
  size_t per_row = c->opts->grid_images ? c->opts->grid_images : 8;
  char st_text[1024], caption[2000];
  ds_manifest gm = {0}, dm = {0};
  if (read_manifest(r, (long)gen, &gm)) {
    rd_para(&c->doc, "%s (class %s): %s — no generated images.", st->id, st->variant,
            rp_state_text(st, st_text, sizeof st_text));
    return 0;
  }
  int label = gm.n ? gm.cases[0].label : -1;
  char **real = calloc(per_row, sizeof *real), **syn = calloc(per_row, sizeof *syn);
  if (!real || !syn) abort();
  size_t nsyn = pick(&gm, NULL, -1, syn, per_row), nreal = 0;
  bool have_real = !read_manifest(r, p->data, &dm);
  if (have_real) nreal = pick(&dm, "train", label, real, per_row);
  size_t cols = nreal > nsyn ? nreal : nsyn;
  int rc = 0;
  if (cols) {
    canvas cv = {.w = (int)cols * (THUMB + GAP) + GAP, .h = GAP + THUMB + BAND + THUMB + GAP};
    if (!nreal) cv.h = GAP + THUMB + GAP;
    cv.px = malloc((size_t)cv.w * (size_t)cv.h * 3);
    if (!cv.px) abort();
    memset(cv.px, 0xff, (size_t)cv.w * (size_t)cv.h * 3);
    for (size_t i = 0; i < nreal && !rc; i++) rc = draw_thumb(&cv, real[i], GAP + (int)i * (THUMB + GAP), GAP, e);
    int y = nreal ? GAP + THUMB + BAND : GAP;
    for (size_t i = 0; i < nsyn && !rc; i++) rc = draw_thumb(&cv, syn[i], GAP + (int)i * (THUMB + GAP), y, e);
    char rel[200];
    snprintf(rel, sizeof rel, "images/grid_%s.png", st->id);
    char *path = fs_join(c->dir, rel);
    png_text_kv text[] = {{"Comment", "harness report: real training images (top row) and generated images"}};
    if (!rc) rc = png_write8(path, cv.px, (uint32_t)cv.w, (uint32_t)cv.h, 3, text, 1, e);
    free(path);
    free(cv.px);
    if (!rc) {
      int n = snprintf(caption, sizeof caption, "Class %s (label %d), %s: ", st->variant, label, st->id);
      if (nreal)
        n += snprintf(caption + n, sizeof caption - (size_t)n,
                      "top row: %zu real training images of the class; bottom row: the first %zu generated images.",
                      nreal, nsyn);
      else
        n += snprintf(caption + n, sizeof caption - (size_t)n,
                      "the first %zu generated images (no real images: the data stage is not complete).", nsyn);
      rd_image(&c->doc, rel, caption);
      c->sum->grids++;
    }
  }
  for (size_t i = 0; i < per_row; i++) free(real[i]), free(syn[i]);
  free(real), free(syn);
  ds_manifest_free(&gm);
  if (have_real) ds_manifest_free(&dm);
  return rc;
}

int rp_section_grids(rp_ctx *c, herr *e) {
  const rp_results *r = c->res;
  bool any = false;
  for (size_t i = 0; i < r->npoints && !any; i++) any = r->points[i].ngenerates > 0;
  if (!any) return 0;
  rd_heading(&c->doc, 2, "images", "Generated and real images");
  bool *seen = calloc(r->nstages, sizeof *seen);
  if (!seen) abort();
  int rc = 0;
  for (size_t i = 0; i < r->npoints && !rc; i++) {
    const rp_point *p = &r->points[i];
    bool heading = false;
    for (size_t g = 0; g < p->ngenerates && !rc; g++) {
      if (seen[p->generates[g]]) continue;
      seen[p->generates[g]] = true;
      if (!heading) {
        rd_heading(&c->doc, 3, NULL, "Setting of point %zu: %s", i, p->label);
        heading = true;
      }
      rc = grid_for(c, p, p->generates[g], e);
    }
  }
  free(seen);
  return rc;
}

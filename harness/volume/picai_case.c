/* One PI-CAI case through the paper's recipe: read, check that every volume lies on T2W's
 * anatomy, resample onto the cropped target grid, normalise, choose the slice, build the RGB
 * image. Any problem ends the case with a reason; nothing is guessed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/png.h"
#include "harness/image/resize.h"
#include "harness/volume/picai.h"
#include "harness/volume/volume.h"

void picai_params_paper(picai_params *p) {
  *p = (picai_params){
      .spacing = {0.5, 0.5, 3.0}, .size = {300, 300, 30}, .image_side = 512, .direction_tol = 5.0, .min_overlap = 0.5};
}

const char *picai_skip_name(picai_skip k) {
  static const char *names[] = {"ok",
                                "missing sequence",
                                "missing label",
                                "unreadable or invalid file",
                                "geometry mismatch",
                                "no usable slice",
                                "label conflict"};
  return (unsigned)k < PICAI_SKIP_KINDS ? names[k] : "?";
}

static void skip(picai_result *r, picai_skip kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void skip(picai_result *r, picai_skip kind, const char *fmt, ...) {
  r->ok = false;
  r->kind = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->reason, sizeof r->reason, fmt, ap);
  va_end(ap);
}

/* Everything a step needs: the target grid, T2W's coverage of it. */
typedef struct case_ctx {
  const picai_params *p;
  vol3 grid;
  uint8_t *t2w_inside;
  size_t t2w_count;
  size_t nvox;
} case_ctx;

/* Reads `path` and resamples it onto the grid into *dst (data allocated here); checks its
 * direction and coverage against T2W's unless it is T2W itself. */
static int load_on_grid(case_ctx *cx, const char *what, const char *path, const vol3 *t2w_geom, vol_interp interp,
                        vol3 *dst, uint8_t *inside, int *label_any, picai_result *r) {
  herr e;
  herr_clear(&e);
  vol3 src;
  if (vol_read(path, &src, &e)) {
    skip(r, PICAI_SKIP_BAD_FILE, "%s: %s", what, e.msg);
    return -1;
  }
  int rc = -1;
  if (t2w_geom) {
    double ang = vol_direction_angle_deg(&src, t2w_geom);
    if (ang > cx->p->direction_tol) {
      skip(r, PICAI_SKIP_GEOMETRY,
           "geometry mismatch: %s direction differs from T2W's by %.1f degrees (tolerance %.1f)", what, ang,
           cx->p->direction_tol);
      goto done;
    }
  }
  if (label_any) {
    size_t n = vol_voxels(&src);
    *label_any = 0;
    for (size_t i = 0; i < n && !*label_any; i++) *label_any = src.data[i] > 0;
  }
  *dst = cx->grid;
  dst->data = NULL;
  if (vol_alloc(dst, &e) || vol_resample(&src, dst, interp, inside, NULL, &e)) {
    skip(r, PICAI_SKIP_BAD_FILE, "%s: %s", what, e.msg);
    goto done;
  }
  if (t2w_geom) {
    /* Coverage of the part of the crop that T2W covers. */
    size_t both = 0;
    for (size_t i = 0; i < cx->nvox; i++) both += cx->t2w_inside[i] && inside[i];
    double frac = cx->t2w_count ? (double)both / (double)cx->t2w_count : 0;
    if (both == 0) {
      skip(r, PICAI_SKIP_GEOMETRY, "geometry mismatch: %s does not overlap T2W in world space", what);
      goto done;
    }
    if (frac < cx->p->min_overlap) {
      skip(r, PICAI_SKIP_GEOMETRY, "geometry mismatch: %s covers only %.0f%% of T2W's crop (minimum %.0f%%)", what,
           100 * frac, 100 * cx->p->min_overlap);
      goto done;
    }
  }
  rc = 0;
done:
  if (rc) vol_free(dst);
  vol_free(&src);
  return rc;
}

/* The middle of the k-range where counts > 0; -1 when empty. */
static int middle_slice(const size_t *counts, size_t nz) {
  long first = -1, last = -1;
  for (size_t k = 0; k < nz; k++)
    if (counts[k]) {
      if (first < 0) first = (long)k;
      last = (long)k;
    }
  return first < 0 ? -1 : (int)((first + last) / 2);
}

static int largest_slice(const size_t *counts, size_t nz) {
  int best = -1;
  for (size_t k = 0; k < nz; k++)
    if (counts[k] && (best < 0 || counts[k] > counts[best])) best = (int)k;
  return best;
}

void picai_process_case(const picai_case *c, const picai_params *p, picai_result *r) {
  memset(r, 0, sizeof *r);
  r->label = -1;
  r->slice = -1;
  const char *names[3] = {"T2W", "ADC", "HBV"};
  const char *paths[3] = {c->t2w, c->adc, c->hbv};
  for (int s = 0; s < 3; s++)
    if (!paths[s]) {
      skip(r, PICAI_SKIP_MISSING_FILE, "missing %s sequence", names[s]);
      return;
    }
  if (!c->lesion) {
    skip(r, PICAI_SKIP_MISSING_LABEL, "no %s csPCa lesion delineation", c->lesion_set ? c->lesion_set : "human-expert");
    return;
  }

  case_ctx cx = {.p = p};
  vol3 seq[3], lesion, gland;
  memset(seq, 0, sizeof seq);
  memset(&lesion, 0, sizeof lesion);
  memset(&gland, 0, sizeof gland);
  uint8_t *inside = NULL;
  herr e;
  herr_clear(&e);

  vol3 t2w_geom;
  {
    vol3 t2w;
    if (vol_read(c->t2w, &t2w, &e)) {
      skip(r, PICAI_SKIP_BAD_FILE, "T2W: %s", e.msg);
      return;
    }
    t2w_geom = t2w;
    t2w_geom.data = NULL;
    if (vol_grid_spaced_crop(&t2w, p->spacing, p->size, &cx.grid, &e)) {
      vol_free(&t2w);
      skip(r, PICAI_SKIP_BAD_FILE, "T2W: %s", e.msg);
      return;
    }
    cx.nvox = vol_voxels(&cx.grid);
    cx.t2w_inside = malloc(cx.nvox);
    inside = malloc(cx.nvox);
    if (!cx.t2w_inside || !inside) abort();
    seq[0] = cx.grid;
    seq[0].data = NULL;
    if (vol_alloc(&seq[0], &e) || vol_resample(&t2w, &seq[0], VOL_LINEAR, cx.t2w_inside, &cx.t2w_count, &e)) {
      vol_free(&t2w);
      skip(r, PICAI_SKIP_BAD_FILE, "T2W: %s", e.msg);
      goto done;
    }
    vol_free(&t2w);
    if (vol_normalize_minmax(seq[0].data, cx.t2w_inside, cx.nvox, &e)) {
      skip(r, PICAI_SKIP_BAD_FILE, "T2W: %s", e.msg);
      goto done;
    }
  }
  for (int s = 1; s < 3; s++) {
    if (load_on_grid(&cx, names[s], paths[s], &t2w_geom, VOL_LINEAR, &seq[s], inside, NULL, r)) goto done;
    if (vol_normalize_minmax(seq[s].data, inside, cx.nvox, &e)) {
      skip(r, PICAI_SKIP_BAD_FILE, "%s: %s", names[s], e.msg);
      goto done;
    }
  }

  int positive = 0;
  if (load_on_grid(&cx, "lesion delineation", c->lesion, &t2w_geom, VOL_NEAREST, &lesion, inside, &positive, r))
    goto done;
  r->label = positive;
  size_t nz = cx.grid.n[2];
  size_t *counts = calloc(nz, sizeof *counts);
  if (!counts) abort();
  if (positive) {
    vol_slice_counts(&lesion, counts);
    r->slice = largest_slice(counts, nz);
    if (r->slice < 0)
      skip(r, PICAI_SKIP_NO_SLICE, "the csPCa lesion lies outside the target crop (or is too thin for %.1f mm slices)",
           p->spacing[2]);
  } else if (!c->gland) {
    skip(r, PICAI_SKIP_MISSING_LABEL, "negative case without a whole-gland segmentation");
  } else if (load_on_grid(&cx, "whole-gland segmentation", c->gland, &t2w_geom, VOL_NEAREST, &gland, inside, NULL, r) ==
             0) {
    vol_slice_counts(&gland, counts);
    r->slice = middle_slice(counts, nz);
    if (r->slice < 0) skip(r, PICAI_SKIP_NO_SLICE, "the whole-gland segmentation is empty inside the target crop");
  }
  free(counts);
  if (r->slice < 0) goto done;

  /* T2W, ADC, HBV as R, G, B of slice k: rows along j, columns along i (axial view, patient
   * left on the image's right for an LPS-aligned T2W). */
  {
    size_t w = cx.grid.n[0], h = cx.grid.n[1], plane = w * h, k = (size_t)r->slice;
    float *rgbf = malloc(plane * 3 * sizeof *rgbf);
    uint8_t *rgb8 = malloc(plane * 3);
    if (!rgbf || !rgb8) abort();
    for (size_t i = 0; i < plane; i++)
      for (int s = 0; s < 3; s++) rgbf[i * 3 + s] = seq[s].data[k * plane + i];
    png_from_unit_float(rgbf, plane * 3, rgb8);
    free(rgbf);
    size_t side = (size_t)p->image_side;
    r->rgb = malloc(side * side * 3);
    if (!r->rgb) abort();
    if (img_resize_u8(rgb8, (int)w, (int)h, 3, r->rgb, p->image_side, p->image_side, IMG_LANCZOS, &e)) {
      free(r->rgb);
      r->rgb = NULL;
      skip(r, PICAI_SKIP_BAD_FILE, "resize: %s", e.msg);
    } else {
      r->ok = true;
    }
    free(rgb8);
  }
done:
  for (int s = 0; s < 3; s++) vol_free(&seq[s]);
  vol_free(&lesion);
  vol_free(&gland);
  free(inside);
  free(cx.t2w_inside);
}

/* Small volumes with known geometry for the volume, resampling and PI-CAI preparation tests:
 * oblique directions, a world-space ramp, a box "lesion" at a known slice. */
#ifndef MDH_TEST_VOL_FIXTURE_H
#define MDH_TEST_VOL_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/volume/volume.h"

/* Direction: rotation by `deg` about the world z axis, then by `tilt` about x. */
static inline void fx_direction(double deg, double tilt, double dir[9]) {
  double a = deg * M_PI / 180, t = tilt * M_PI / 180;
  double rz[9] = {cos(a), -sin(a), 0, sin(a), cos(a), 0, 0, 0, 1};
  double rx[9] = {1, 0, 0, 0, cos(t), -sin(t), 0, sin(t), cos(t)};
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) {
      double s = 0;
      for (int m = 0; m < 3; m++) s += rx[r * 3 + m] * rz[m * 3 + c];
      dir[r * 3 + c] = s;
    }
}

static inline vol3 fx_volume(size_t nx, size_t ny, size_t nz, double sx, double sy, double sz, double ox, double oy,
                             double oz, double deg, double tilt) {
  vol3 v;
  vol_geometry_identity(&v, nx, ny, nz);
  v.spacing[0] = sx, v.spacing[1] = sy, v.spacing[2] = sz;
  v.origin[0] = ox, v.origin[1] = oy, v.origin[2] = oz;
  fx_direction(deg, tilt, v.dir);
  if (vol_alloc(&v, NULL)) abort();
  return v;
}

/* f(world) = 100 + 2 x - 3 y + 5 z, sampled at every voxel centre. */
static inline double fx_ramp(const double w[3]) {
  return 100 + 2 * w[0] - 3 * w[1] + 5 * w[2];
}

static inline void fx_fill_ramp(vol3 *v) {
  size_t q = 0;
  for (size_t k = 0; k < v->n[2]; k++)
    for (size_t j = 0; j < v->n[1]; j++)
      for (size_t i = 0; i < v->n[0]; i++, q++) {
        double idx[3] = {(double)i, (double)j, (double)k}, w[3];
        vol_index_to_world(v, idx, w);
        v->data[q] = (float)fx_ramp(w);
      }
}

/* Sets every voxel whose world position lies in the box [lo, hi] to `value`. */
static inline void fx_fill_box(vol3 *v, const double lo[3], const double hi[3], float value) {
  size_t q = 0;
  for (size_t k = 0; k < v->n[2]; k++)
    for (size_t j = 0; j < v->n[1]; j++)
      for (size_t i = 0; i < v->n[0]; i++, q++) {
        double idx[3] = {(double)i, (double)j, (double)k}, w[3];
        vol_index_to_world(v, idx, w);
        if (w[0] >= lo[0] && w[0] <= hi[0] && w[1] >= lo[1] && w[1] <= hi[1] && w[2] >= lo[2] && w[2] <= hi[2])
          v->data[q] = value;
      }
}

/* Bytes of a file (malloc'd) and its length, or NULL. */
static inline unsigned char *fx_slurp(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  if (fread(b, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  *len = (size_t)n;
  return b;
}

static inline void fx_spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len) abort();
  fclose(f);
}

/* Keeps the first `keep` bytes of a file. */
static inline void fx_truncate(const char *path, size_t keep) {
  size_t len;
  unsigned char *b = fx_slurp(path, &len);
  if (!b) abort();
  fx_spit(path, b, keep < len ? keep : len);
  free(b);
}

#endif

/* A mini PI-CAI tree. Every case: T2W 64 x 64 x 10 at (0.5, 0.5, 3.6) mm rotated 3 degrees
 * about z (zlib .mha), ADC and HBV 32 x 32 x 10 at (1, 1, 3.6) mm rotated 2 degrees (raw .mha),
 * the whole gland (AI/Guerbet23, .nii.gz) over T2W slices 2..7. A positive has its lesion
 * (value 3, ISUP 3) over T2W slices 4..6, largest on slice 5: on the default target grid
 * (3 mm, 30 slices, 9 of padding before) that is target slice 15; the gland's middle is 14. */
#include "harness/util/fsutil.h"

typedef enum fx_kind {
  FX_POSITIVE,
  FX_NEGATIVE,
  FX_TRUNCATED_ADC,
  FX_ONLY_AI_LABEL,
  FX_HBV_ELSEWHERE,
  FX_HBV_TILTED
} fx_kind;

#define FX_T2W_ORIGIN_Z (-20.0)
#define FX_LESION_SLICE 15
#define FX_GLAND_MIDDLE 14

static inline void fx_write_or_die(int rc) {
  if (rc) abort();
}

static inline void fx_picai_case(const char *images, const char *labels, const char *id, fx_kind kind) {
  char pid[64], path[1024];
  snprintf(pid, sizeof pid, "%.*s", (int)strcspn(id, "_"), id);
  snprintf(path, sizeof path, "%s/%s", images, pid);
  fs_mkdir_p(path, NULL);
  const double oz = FX_T2W_ORIGIN_Z;
  vol3 t2w = fx_volume(64, 64, 10, 0.5, 0.5, 3.6, -16, -16, oz, 3, 0);
  fx_fill_ramp(&t2w);
  snprintf(path, sizeof path, "%s/%s/%s_t2w.mha", images, pid, id);
  fx_write_or_die(vol_write_metaimage(path, &t2w, true, NULL));
  for (int s = 0; s < 2; s++) {
    vol3 v = fx_volume(32, 32, 10, 1, 1, 3.6, -16, -16, oz, 2, 0);
    if (s == 1 && kind == FX_HBV_ELSEWHERE) v.origin[0] += 500;
    if (s == 1 && kind == FX_HBV_TILTED) fx_direction(0, 30, v.dir);
    fx_fill_ramp(&v);
    for (size_t i = 0; i < vol_voxels(&v); i++) v.data[i] = s ? 2000 - v.data[i] : v.data[i] * 3;
    snprintf(path, sizeof path, "%s/%s/%s_%s.mha", images, pid, id, s ? "hbv" : "adc");
    fx_write_or_die(vol_write_metaimage(path, &v, false, NULL));
    if (s == 0 && kind == FX_TRUNCATED_ADC) fx_truncate(path, 2000);
    vol_free(&v);
  }
  vol3 mask = t2w;
  mask.data = NULL;
  fx_write_or_die(vol_alloc(&mask, NULL));
  double glo[3] = {-8, -8, oz + 2 * 3.6 - 0.1}, ghi[3] = {8, 8, oz + 7 * 3.6 + 0.1};
  fx_fill_box(&mask, glo, ghi, 1);
  snprintf(path, sizeof path, "%s/anatomical_delineations/whole_gland/AI/Guerbet23", labels);
  fs_mkdir_p(path, NULL);
  snprintf(path, sizeof path, "%s/anatomical_delineations/whole_gland/AI/Guerbet23/%s.nii.gz", labels, id);
  fx_write_or_die(vol_write_nifti(path, &mask, NULL));
  memset(mask.data, 0, vol_voxels(&mask) * sizeof(float));
  if (kind == FX_POSITIVE || kind == FX_ONLY_AI_LABEL) {
    double lo[3] = {-3, -3, oz + 4 * 3.6 - 0.1}, hi[3] = {3, 3, oz + 6 * 3.6 + 0.1};
    double lo5[3] = {-6, -6, oz + 5 * 3.6 - 0.1}, hi5[3] = {6, 6, oz + 5 * 3.6 + 0.1};
    fx_fill_box(&mask, lo, hi, 3);
    fx_fill_box(&mask, lo5, hi5, 3);
  }
  const char *sub = kind == FX_ONLY_AI_LABEL ? "csPCa_lesion_delineations/AI/Bosma22a"
                                             : "csPCa_lesion_delineations/human_expert/resampled";
  snprintf(path, sizeof path, "%s/%s", labels, sub);
  fs_mkdir_p(path, NULL);
  snprintf(path, sizeof path, "%s/%s/%s.nii.gz", labels, sub, id);
  fx_write_or_die(vol_write_nifti(path, &mask, NULL));
  vol_free(&mask);
  vol_free(&t2w);
}

/* volume: allocation, index <-> world mapping, geometry checks and the reader chosen by the
 * file's extension. */
#include "harness/volume/volume.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t vol_voxels(const vol3 *v) {
  size_t n = 1;
  for (int a = 0; a < 3; a++) {
    if (v->n[a] == 0) return 0;
    if (n > SIZE_MAX / v->n[a]) return SIZE_MAX; /* saturates; callers compare with a limit */
    n *= v->n[a];
  }
  return n;
}

int vol_alloc(vol3 *v, herr *e) {
  size_t n = vol_voxels(v);
  if (n == 0 || n > VOL_MAX_VOXELS)
    return herr_set(e, "volume of %zu x %zu x %zu voxels: expected 1..%zu voxels", v->n[0], v->n[1], v->n[2],
                    VOL_MAX_VOXELS);
  free(v->data);
  v->data = calloc(n, sizeof *v->data);
  if (!v->data) return herr_set(e, "out of memory for %zu voxels", n);
  return 0;
}

void vol_free(vol3 *v) {
  if (!v) return;
  free(v->data);
  v->data = NULL;
}

void vol_geometry_identity(vol3 *v, size_t nx, size_t ny, size_t nz) {
  memset(v, 0, sizeof *v);
  v->n[0] = nx, v->n[1] = ny, v->n[2] = nz;
  for (int a = 0; a < 3; a++) {
    v->spacing[a] = 1.0;
    v->dir[a * 3 + a] = 1.0;
  }
}

void vol_index_to_world(const vol3 *v, const double idx[3], double world[3]) {
  for (int r = 0; r < 3; r++) {
    double s = v->origin[r];
    for (int c = 0; c < 3; c++) s += v->dir[r * 3 + c] * v->spacing[c] * idx[c];
    world[r] = s;
  }
}

int vol_mat3_inverse(const double m[9], double inv[9]) {
  double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (!isfinite(det) || fabs(det) < 1e-12) return -1;
  double d = 1.0 / det;
  inv[0] = c00 * d;
  inv[1] = (m[2] * m[7] - m[1] * m[8]) * d;
  inv[2] = (m[1] * m[5] - m[2] * m[4]) * d;
  inv[3] = c01 * d;
  inv[4] = (m[0] * m[8] - m[2] * m[6]) * d;
  inv[5] = (m[2] * m[3] - m[0] * m[5]) * d;
  inv[6] = c02 * d;
  inv[7] = (m[1] * m[6] - m[0] * m[7]) * d;
  inv[8] = (m[0] * m[4] - m[1] * m[3]) * d;
  return 0;
}

int vol_world_to_index(const vol3 *v, const double world[3], double idx[3]) {
  double inv[9];
  if (vol_mat3_inverse(v->dir, inv) != 0) return -1;
  double d[3] = {world[0] - v->origin[0], world[1] - v->origin[1], world[2] - v->origin[2]};
  for (int r = 0; r < 3; r++)
    idx[r] = (inv[r * 3] * d[0] + inv[r * 3 + 1] * d[1] + inv[r * 3 + 2] * d[2]) / v->spacing[r];
  return 0;
}

double vol_direction_angle_deg(const vol3 *a, const vol3 *b) {
  double worst = 0;
  for (int c = 0; c < 3; c++) {
    double dot = 0, na = 0, nb = 0;
    for (int r = 0; r < 3; r++) {
      dot += a->dir[r * 3 + c] * b->dir[r * 3 + c];
      na += a->dir[r * 3 + c] * a->dir[r * 3 + c];
      nb += b->dir[r * 3 + c] * b->dir[r * 3 + c];
    }
    double cosv = dot / sqrt(na * nb);
    if (!isfinite(cosv)) return 180.0;
    if (cosv > 1) cosv = 1;
    if (cosv < -1) cosv = -1;
    double ang = acos(cosv) * 180.0 / M_PI;
    if (ang > worst) worst = ang;
  }
  return worst;
}

int vol_check_geometry(const vol3 *v, const char *what, herr *e) {
  for (int a = 0; a < 3; a++) {
    if (!isfinite(v->spacing[a]) || v->spacing[a] <= 0)
      return herr_set(e, "%s: spacing %g along axis %d, expected a finite value > 0", what, v->spacing[a], a);
    if (!isfinite(v->origin[a])) return herr_set(e, "%s: origin is not finite", what);
  }
  for (int c = 0; c < 3; c++)
    for (int c2 = c; c2 < 3; c2++) {
      double dot = 0;
      for (int r = 0; r < 3; r++) dot += v->dir[r * 3 + c] * v->dir[r * 3 + c2];
      double want = c == c2 ? 1.0 : 0.0;
      if (!isfinite(dot) || fabs(dot - want) > 1e-3)
        return herr_set(e, "%s: direction matrix is not orthonormal (columns %d and %d: dot product %g)", what, c, c2,
                        dot);
    }
  return 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcasecmp(s + n - m, suffix);
}

bool vol_path_supported(const char *path) {
  return ends_with(path, ".mha") || ends_with(path, ".mhd") || ends_with(path, ".nii") || ends_with(path, ".nii.gz");
}

int vol_read(const char *path, vol3 *out, herr *e) {
  if (ends_with(path, ".mha") || ends_with(path, ".mhd")) return vol_read_metaimage(path, out, e);
  if (ends_with(path, ".nii") || ends_with(path, ".nii.gz")) return vol_read_nifti(path, out, e);
  return herr_set(e, "%s: unknown volume format (expected .mha, .mhd, .nii or .nii.gz)", path);
}

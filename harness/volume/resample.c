/* Resampling in world coordinates: each target voxel centre is mapped through the target's
 * and the source's index-to-world transforms (one affine map, stepped along rows) and sampled
 * trilinearly or by nearest neighbour. */
#include <math.h>
#include <string.h>

#include "harness/volume/volume.h"

int vol_resample(const vol3 *src, vol3 *dst, vol_interp interp, uint8_t *inside, size_t *n_inside, herr *e) {
  if (!src->data || !dst->data) return herr_set(e, "resample: source or target has no voxels");
  double inv[9];
  if (vol_mat3_inverse(src->dir, inv) != 0) return herr_set(e, "resample: source direction matrix is singular");
  /* continuous source index = A * target index + b */
  double A[9], b[3], dorg[3];
  for (int r = 0; r < 3; r++) dorg[r] = dst->origin[r] - src->origin[r];
  for (int r = 0; r < 3; r++) {
    b[r] = 0;
    for (int m = 0; m < 3; m++) b[r] += inv[r * 3 + m] * dorg[m];
    b[r] /= src->spacing[r];
    for (int c = 0; c < 3; c++) {
      double s = 0;
      for (int m = 0; m < 3; m++) s += inv[r * 3 + m] * dst->dir[m * 3 + c];
      A[r * 3 + c] = s * dst->spacing[c] / src->spacing[r];
    }
  }
  const long nx = (long)src->n[0], ny = (long)src->n[1], nz = (long)src->n[2];
  const double lo = -0.5, hx = nx - 0.5, hy = ny - 0.5, hz = nz - 0.5;
  const float *s = src->data;
  float *d = dst->data;
  size_t count = 0, v = 0;
  for (size_t k = 0; k < dst->n[2]; k++)
    for (size_t j = 0; j < dst->n[1]; j++) {
      double cx = A[1] * j + A[2] * k + b[0], cy = A[4] * j + A[5] * k + b[1], cz = A[7] * j + A[8] * k + b[2];
      for (size_t i = 0; i < dst->n[0]; i++, v++) {
        double x = cx + A[0] * i, y = cy + A[3] * i, z = cz + A[6] * i;
        bool in = x >= lo && x < hx && y >= lo && y < hy && z >= lo && z < hz;
        float out = 0;
        if (in) {
          if (interp == VOL_NEAREST) {
            long xi = (long)floor(x + 0.5), yi = (long)floor(y + 0.5), zi = (long)floor(z + 0.5);
            out = s[((size_t)zi * ny + yi) * nx + xi];
          } else {
            double fx = floor(x), fy = floor(y), fz = floor(z);
            double tx = x - fx, ty = y - fy, tz = z - fz;
            long x0 = (long)fx, y0 = (long)fy, z0 = (long)fz, x1 = x0 + 1, y1 = y0 + 1, z1 = z0 + 1;
            if (x0 < 0) x0 = 0;
            if (y0 < 0) y0 = 0;
            if (z0 < 0) z0 = 0;
            if (x1 >= nx) x1 = nx - 1;
            if (y1 >= ny) y1 = ny - 1;
            if (z1 >= nz) z1 = nz - 1;
            const float *p00 = s + ((size_t)z0 * ny + y0) * nx, *p01 = s + ((size_t)z0 * ny + y1) * nx;
            const float *p10 = s + ((size_t)z1 * ny + y0) * nx, *p11 = s + ((size_t)z1 * ny + y1) * nx;
            double c00 = p00[x0] + tx * (p00[x1] - p00[x0]), c01 = p01[x0] + tx * (p01[x1] - p01[x0]);
            double c10 = p10[x0] + tx * (p10[x1] - p10[x0]), c11 = p11[x0] + tx * (p11[x1] - p11[x0]);
            double c0 = c00 + ty * (c01 - c00), c1 = c10 + ty * (c11 - c10);
            out = (float)(c0 + tz * (c1 - c0));
          }
          count++;
        }
        d[v] = out;
        if (inside) inside[v] = in;
      }
    }
  if (n_inside) *n_inside = count;
  return 0;
}

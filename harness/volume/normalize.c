/* Intensity steps: min-max normalisation over the voxels a resampling covered, and the
 * per-slice voxel counts that choose a slice. */
#include <math.h>

#include "harness/volume/volume.h"

int vol_normalize_minmax(float *data, const uint8_t *inside, size_t n, herr *e) {
  double lo = INFINITY, hi = -INFINITY;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    if (inside && !inside[i]) continue;
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
    used++;
  }
  if (!used) return herr_set(e, "no voxels to normalise");
  if (!(hi > lo)) return herr_set(e, "constant intensity %g over the target grid (nothing to normalise)", lo);
  double scale = 1.0 / (hi - lo);
  for (size_t i = 0; i < n; i++) {
    if (inside && !inside[i]) {
      data[i] = 0;
      continue;
    }
    double x = (data[i] - lo) * scale;
    data[i] = (float)(x < 0 ? 0 : x > 1 ? 1 : x);
  }
  return 0;
}

void vol_slice_counts(const vol3 *v, size_t *counts) {
  size_t plane = v->n[0] * v->n[1];
  for (size_t k = 0; k < v->n[2]; k++) {
    size_t c = 0;
    const float *p = v->data + k * plane;
    for (size_t i = 0; i < plane; i++) c += p[i] > 0;
    counts[k] = c;
  }
}

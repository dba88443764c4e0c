/* The target grid of preparation: the reference volume's origin and direction at a new
 * spacing, centre-cropped or padded to a fixed size, so only the kept voxels are resampled. */
#include <math.h>
#include <string.h>

#include "harness/volume/volume.h"

int vol_grid_spaced_crop(const vol3 *ref, const double spacing[3], const size_t size[3], vol3 *out, herr *e) {
  vol3 g;
  memset(&g, 0, sizeof g);
  memcpy(g.dir, ref->dir, sizeof g.dir);
  double offset[3];
  for (int a = 0; a < 3; a++) {
    if (!isfinite(spacing[a]) || spacing[a] <= 0) return herr_set(e, "target spacing %g: expected > 0", spacing[a]);
    if (size[a] == 0) return herr_set(e, "target size 0 along axis %d", a);
    /* numpy's round (half to even), as picai_prep computes the resampled size. */
    double full = nearbyint((double)ref->n[a] * ref->spacing[a] / spacing[a]);
    if (full < 1) full = 1;
    double s = (double)size[a];
    offset[a] = full >= s ? floor((full - s) / 2) : -floor((s - full) / 2);
    g.n[a] = size[a];
    g.spacing[a] = spacing[a];
  }
  g.origin[0] = ref->origin[0], g.origin[1] = ref->origin[1], g.origin[2] = ref->origin[2];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) g.origin[r] += g.dir[r * 3 + c] * spacing[c] * offset[c];
  *out = g;
  return 0;
}

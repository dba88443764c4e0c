/* NIfTI-1 writer: float32 single file with both qform and sform (code 1, scanner
 * coordinates) describing the same LPS geometry in NIfTI's RAS, gzip'ed for .nii.gz; atomic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "harness/volume/vol_internal.h"

static void put(uint8_t *h, size_t off, const void *v, size_t n) {
  memcpy(h + off, v, n);
}
static void put_i16(uint8_t *h, size_t off, int16_t v) {
  put(h, off, &v, 2);
}
static void put_i32(uint8_t *h, size_t off, int32_t v) {
  put(h, off, &v, 4);
}
static void put_f32(uint8_t *h, size_t off, double v) {
  float f = (float)v;
  put(h, off, &f, 4);
}

/* Rotation (proper, det +1) to the quaternion's (b, c, d) with a >= 0 (nifti1_io's method). */
static void mat_to_quat(const double r[9], double *qb, double *qc, double *qd) {
  double xx = r[0], xy = r[1], xz = r[2], yx = r[3], yy = r[4], yz = r[5], zx = r[6], zy = r[7], zz = r[8];
  double a = xx + yy + zz + 1, b, c, d;
  if (a > 0.5) {
    a = 0.5 * sqrt(a);
    b = 0.25 * (zy - yz) / a, c = 0.25 * (xz - zx) / a, d = 0.25 * (yx - xy) / a;
  } else {
    double xd = 1 + xx - (yy + zz), yd = 1 + yy - (xx + zz), zd = 1 + zz - (xx + yy);
    if (xd > 1) {
      b = 0.5 * sqrt(xd), c = 0.25 * (xy + yx) / b, d = 0.25 * (xz + zx) / b, a = 0.25 * (zy - yz) / b;
    } else if (yd > 1) {
      c = 0.5 * sqrt(yd), b = 0.25 * (xy + yx) / c, d = 0.25 * (yz + zy) / c, a = 0.25 * (xz - zx) / c;
    } else {
      d = 0.5 * sqrt(zd), b = 0.25 * (xz + zx) / d, c = 0.25 * (yz + zy) / d, a = 0.25 * (yx - xy) / d;
    }
    if (a < 0) b = -b, c = -c, d = -d;
  }
  *qb = b, *qc = c, *qd = d;
}

int vol_write_nifti(const char *path, const vol3 *v, herr *e) {
  size_t nvox = vol_voxels(v);
  if (!v->data || nvox == 0 || nvox > VOL_MAX_VOXELS) return herr_set(e, "%s: no voxels to write", path);
  for (int a = 0; a < 3; a++)
    if (v->n[a] > 32767) return herr_set(e, "%s: %zu voxels along axis %d do not fit NIfTI-1", path, v->n[a], a);
  if (!vol_host_le()) return herr_set(e, "%s: the NIfTI writer supports little-endian hosts only", path);
  size_t len = 352 + nvox * 4;
  uint8_t *buf = calloc(1, len);
  if (!buf) abort();
  put_i32(buf, 0, 348);
  put_i16(buf, 40, 3);
  for (int a = 0; a < 3; a++) put_i16(buf, 42 + 2 * a, (int16_t)v->n[a]);
  for (int a = 3; a < 7; a++) put_i16(buf, 42 + 2 * a, 1);
  put_i16(buf, 70, 16);
  put_i16(buf, 72, 32);
  put_f32(buf, 108, 352);
  put_f32(buf, 112, 1);
  buf[123] = 2; /* xyzt_units: mm */
  /* LPS -> RAS: negate the x and y rows. */
  double d[9], o[3];
  for (int r = 0; r < 3; r++) {
    double s = r < 2 ? -1 : 1;
    o[r] = s * v->origin[r];
    for (int c = 0; c < 3; c++) d[r * 3 + c] = s * v->dir[r * 3 + c];
  }
  double det =
      d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) + d[2] * (d[3] * d[7] - d[4] * d[6]);
  double qfac = det < 0 ? -1 : 1, rot[9];
  memcpy(rot, d, sizeof rot);
  if (qfac < 0)
    for (int r = 0; r < 3; r++) rot[r * 3 + 2] = -rot[r * 3 + 2];
  double qb, qc, qd;
  mat_to_quat(rot, &qb, &qc, &qd);
  put_f32(buf, 76, qfac);
  for (int a = 0; a < 3; a++) put_f32(buf, 80 + 4 * a, v->spacing[a]);
  put_i16(buf, 252, 1);
  put_i16(buf, 254, 1);
  put_f32(buf, 256, qb);
  put_f32(buf, 260, qc);
  put_f32(buf, 264, qd);
  for (int r = 0; r < 3; r++) {
    put_f32(buf, 268 + 4 * r, o[r]);
    for (int c = 0; c < 3; c++) put_f32(buf, 280 + 16 * r + 4 * c, d[r * 3 + c] * v->spacing[c]);
    put_f32(buf, 280 + 16 * r + 12, o[r]);
  }
  memcpy(buf + 344, "n+1", 4);
  memcpy(buf + 352, v->data, nvox * 4);
  int rc = 0;
  size_t plen = strlen(path);
  if (plen > 3 && !strcasecmp(path + plen - 3, ".gz")) {
    /* gzip framing (windowBits 15 + 16) so gunzip and nibabel read it. */
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      free(buf);
      return herr_set(e, "%s: zlib initialisation failed", path);
    }
    size_t cap = deflateBound(&z, (uLong)len);
    uint8_t *out = malloc(cap);
    if (!out) abort();
    z.next_in = buf, z.avail_in = (uInt)len, z.next_out = out, z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t olen = cap - z.avail_out;
    deflateEnd(&z);
    rc = zr == Z_STREAM_END ? fs_write_atomic(path, out, olen, e) : herr_set(e, "%s: gzip compression failed", path);
    free(out);
  } else {
    rc = fs_write_atomic(path, buf, len, e);
  }
  free(buf);
  return rc;
}

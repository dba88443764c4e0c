/* NIfTI-1 reader for single files (.nii, .nii.gz): the 348-byte header in either byte order,
 * scalar datatypes, scl_slope/scl_inter, and the orientation rules of nifti1.h — method 3
 * (sform) when sform_code > 0 and its matrix has orthogonal axes, else method 2 (qform) when
 * qform_code > 0, else method 1 (pixdim only) — converted from NIfTI's RAS to ITK's LPS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/volume/vol_internal.h"

#define NII_HDR 348

typedef struct nii_reader {
  const uint8_t *h;
  bool swap;
} nii_reader;

static void get(const nii_reader *r, size_t off, size_t size, void *out) {
  uint8_t t[8];
  for (size_t i = 0; i < size; i++) t[i] = r->h[off + (r->swap ? size - 1 - i : i)];
  memcpy(out, t, size);
}
static int16_t get_i16(const nii_reader *r, size_t off) {
  int16_t v;
  get(r, off, 2, &v);
  return v;
}
static int32_t get_i32(const nii_reader *r, size_t off) {
  int32_t v;
  get(r, off, 4, &v);
  return v;
}
static double get_f32(const nii_reader *r, size_t off) {
  float v;
  get(r, off, 4, &v);
  return v;
}

static int datatype(const char *path, int code, int bitpix, vol_etype *t, herr *e) {
  static const struct {
    int code;
    vol_etype t;
  } types[] = {{2, VOL_U8},   {4, VOL_I16},   {8, VOL_I32},   {16, VOL_F32},   {64, VOL_F64},
               {256, VOL_I8}, {512, VOL_U16}, {768, VOL_U32}, {1024, VOL_I64}, {1280, VOL_U64}};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    if (types[i].code == code) {
      *t = types[i].t;
      if ((size_t)bitpix != vol_etype_size(*t) * 8)
        return herr_set(e, "%s: bitpix %d does not match datatype %d (%s)", path, bitpix, code, vol_etype_name(*t));
      return 0;
    }
  return herr_set(e,
                  "%s: NIfTI datatype %d is not supported (expected a scalar: uint8 2, int16 4, int32 8, "
                  "float32 16, float64 64, int8 256, uint16 512, uint32 768, int64 1024, uint64 1280)",
                  path, code);
}

/* Quaternion (b, c, d) to a rotation matrix (nifti1.h, method 2). */
static void quat_to_mat(double b, double c, double d, double m[9]) {
  double a = 1.0 - (b * b + c * c + d * d);
  if (a < 1e-7) { /* a 180-degree rotation: a = 0 and (b, c, d) renormalised, as nifti1_io */
    double s = 1.0 / sqrt(b * b + c * c + d * d);
    b *= s, c *= s, d *= s;
    a = 0;
  } else {
    a = sqrt(a);
  }
  m[0] = a * a + b * b - c * c - d * d, m[1] = 2 * (b * c - a * d), m[2] = 2 * (b * d + a * c);
  m[3] = 2 * (b * c + a * d), m[4] = a * a + c * c - b * b - d * d, m[5] = 2 * (c * d - a * b);
  m[6] = 2 * (b * d - a * c), m[7] = 2 * (c * d + a * b), m[8] = a * a + d * d - c * c - b * b;
}

/* Sets v's spacing, direction and origin (LPS) from the header's orientation fields. */
static int orientation(const char *path, const nii_reader *r, vol3 *v, herr *e) {
  double pix[4];
  for (int i = 0; i < 4; i++) pix[i] = get_f32(r, 76 + 4 * i);
  for (int a = 0; a < 3; a++)
    if (!isfinite(pix[a + 1]) || pix[a + 1] == 0)
      return herr_set(e, "%s: pixdim[%d] = %g: expected a finite non-zero voxel size", path, a + 1, pix[a + 1]);
  int qcode = get_i16(r, 252), scode = get_i16(r, 254);
  double aff[12]; /* RAS: rows x, y, z; columns i, j, k, offset */
  bool have = false;
  if (scode > 0) {
    for (int i = 0; i < 12; i++) aff[i] = get_f32(r, 280 + 4 * i);
    bool ok = true;
    for (int i = 0; i < 12; i++) ok = ok && isfinite(aff[i]);
    /* A sheared or degenerate sform has no ITK geometry; fall back to the qform as ITK does. */
    double n[3];
    for (int c = 0; c < 3 && ok; c++) {
      n[c] = sqrt(aff[c] * aff[c] + aff[4 + c] * aff[4 + c] + aff[8 + c] * aff[8 + c]);
      ok = n[c] > 0;
    }
    for (int c = 0; c < 3 && ok; c++)
      for (int c2 = c + 1; c2 < 3; c2++) {
        double dot = (aff[c] * aff[c2] + aff[4 + c] * aff[4 + c2] + aff[8 + c] * aff[8 + c2]) / (n[c] * n[c2]);
        if (fabs(dot) > 1e-4) ok = false;
      }
    if (ok) {
      for (int c = 0; c < 3; c++) {
        v->spacing[c] = n[c];
        for (int row = 0; row < 3; row++) v->dir[row * 3 + c] = aff[row * 4 + c] / n[c];
      }
      for (int row = 0; row < 3; row++) v->origin[row] = aff[row * 4 + 3];
      have = true;
    } else if (qcode <= 0) {
      return herr_set(e, "%s: sform is not a rotation with scaling (sheared or degenerate) and there is no qform",
                      path);
    }
  }
  if (!have && qcode > 0) {
    double b = get_f32(r, 256), c = get_f32(r, 260), d = get_f32(r, 264);
    double qoff[3] = {get_f32(r, 268), get_f32(r, 272), get_f32(r, 276)};
    if (!isfinite(b) || !isfinite(c) || !isfinite(d) || !isfinite(qoff[0]) || !isfinite(qoff[1]) || !isfinite(qoff[2]))
      return herr_set(e, "%s: qform parameters are not finite", path);
    double m[9];
    quat_to_mat(b, c, d, m);
    double qfac = pix[0] < 0 ? -1.0 : 1.0; /* nifti1.h: 0 is taken as 1 */
    for (int row = 0; row < 3; row++) {
      for (int col = 0; col < 3; col++) v->dir[row * 3 + col] = m[row * 3 + col] * (col == 2 ? qfac : 1.0);
      v->origin[row] = qoff[row];
    }
    for (int a = 0; a < 3; a++) v->spacing[a] = fabs(pix[a + 1]);
    have = true;
  }
  if (!have) { /* method 1: ANALYZE-style, no orientation */
    memset(v->dir, 0, sizeof v->dir);
    for (int a = 0; a < 3; a++) {
      v->dir[a * 3 + a] = 1.0;
      v->spacing[a] = fabs(pix[a + 1]);
      v->origin[a] = 0;
    }
  }
  /* RAS -> LPS: negate the x and y world rows. */
  for (int row = 0; row < 2; row++) {
    v->origin[row] = -v->origin[row];
    for (int c = 0; c < 3; c++) v->dir[row * 3 + c] = -v->dir[row * 3 + c];
  }
  return vol_check_geometry(v, path, e);
}

int vol_read_nifti(const char *path, vol3 *out, herr *e) {
  memset(out, 0, sizeof *out);
  size_t plen = strlen(path);
  bool gz = plen > 3 && !strcasecmp(path + plen - 3, ".gz");
  size_t len = 0;
  uint8_t *buf = vol_read_file_gz(path, gz, VOL_MAX_FILE_BYTES, &len, e);
  if (!buf) return -1;
  int rc = -1;
  vol3 v;
  memset(&v, 0, sizeof v);
  if (len < NII_HDR) {
    herr_set(e, "%s: %zu bytes, shorter than the 348-byte NIfTI-1 header (truncated or not NIfTI)", path, len);
    goto done;
  }
  nii_reader r = {buf, false};
  int32_t sz = get_i32(&r, 0);
  if (sz != NII_HDR) {
    r.swap = true;
    sz = get_i32(&r, 0);
    if (sz != NII_HDR) {
      r.swap = false;
      if (get_i32(&r, 0) == 540 || get_i32(&(nii_reader){buf, true}, 0) == 540)
        herr_set(e, "%s: NIfTI-2 (540-byte header) is not supported; save as NIfTI-1", path);
      else
        herr_set(e, "%s: sizeof_hdr is %d, expected 348 (not a NIfTI-1 file)", path, (int)get_i32(&r, 0));
      goto done;
    }
  }
  const char *magic = (const char *)buf + 344;
  if (!memcmp(magic, "ni1", 4)) {
    herr_set(e, "%s: a two-file NIfTI header (.hdr/.img, magic \"ni1\") is not supported; expected a single .nii",
             path);
    goto done;
  }
  if (memcmp(magic, "n+1", 4)) {
    herr_set(e, "%s: magic is not \"n+1\" (ANALYZE 7.5 or a corrupt header)", path);
    goto done;
  }
  int ndim = get_i16(&r, 40);
  if (ndim < 1 || ndim > 7) {
    herr_set(e, "%s: dim[0] = %d, expected 1..7", path, ndim);
    goto done;
  }
  long long dims[8] = {0, 1, 1, 1, 1, 1, 1, 1};
  for (int i = 1; i <= ndim; i++) {
    dims[i] = get_i16(&r, 40 + 2 * i);
    if (dims[i] < 1) {
      herr_set(e, "%s: dim[%d] = %lld, expected >= 1", path, i, dims[i]);
      goto done;
    }
  }
  if (ndim < 2) {
    herr_set(e, "%s: dim[0] = %d: expected a 2D or 3D image", path, ndim);
    goto done;
  }
  for (int i = 4; i <= ndim; i++)
    if (dims[i] != 1) {
      herr_set(e, "%s: dim[%d] = %lld: only 3D images are supported (a 4D series has dim[4] > 1)", path, i, dims[i]);
      goto done;
    }
  vol_etype t = VOL_U8;
  if (datatype(path, get_i16(&r, 70), get_i16(&r, 72), &t, e)) goto done;
  double vox_offset = get_f32(&r, 108);
  if (!isfinite(vox_offset) || vox_offset < 352 || vox_offset != floor(vox_offset) || vox_offset > 1e12) {
    herr_set(e, "%s: vox_offset %g: expected a whole number >= 352 for a single-file NIfTI", path, vox_offset);
    goto done;
  }
  for (int a = 0; a < 3; a++) v.n[a] = (size_t)dims[a + 1];
  size_t nvox = vol_voxels(&v);
  if (nvox == 0 || nvox > VOL_MAX_VOXELS) {
    herr_set(e, "%s: %lld x %lld x %lld voxels, more than the %zu-voxel limit", path, dims[1], dims[2], dims[3],
             VOL_MAX_VOXELS);
    goto done;
  }
  if (orientation(path, &r, &v, e)) goto done;
  size_t need = nvox * vol_etype_size(t), off = (size_t)vox_offset;
  if (off > len || len - off < need) {
    herr_set(e, "%s: voxel data is truncated: %zu bytes after vox_offset %zu, expected %zu", path,
             off > len ? 0 : len - off, off, need);
    goto done;
  }
  double slope = get_f32(&r, 112), inter = get_f32(&r, 116);
  /* nifti1.h: slope 0 means unscaled; a non-finite pair is treated the same way (as nibabel). */
  if (slope == 0 || !isfinite(slope) || !isfinite(inter)) slope = 1, inter = 0;
  v.data = malloc(nvox * sizeof *v.data);
  if (!v.data) abort();
  if (vol_convert(buf + off, t, r.swap != !vol_host_le(), nvox, slope, inter, v.data, path, e)) goto done;
  *out = v;
  v.data = NULL;
  rc = 0;
done:
  free(v.data);
  free(buf);
  return rc;
}

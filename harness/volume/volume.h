/* volume: a 3D scalar image with its physical geometry in ITK's convention (LPS world
 * coordinates, world = origin + direction * diag(spacing) * index), the readers and writers of
 * its file formats (MetaImage, NIfTI-1) and the steps that PI-CAI preparation chains. */
#ifndef MDH_VOLUME_H
#define MDH_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* Largest voxel count a reader accepts (1 GiB of floats): PI-CAI volumes are ~3 M voxels,
 * so anything near this is a corrupt header, not an image. */
#define VOL_MAX_VOXELS ((size_t)1 << 28)
/* Largest file (compressed or not) a reader loads. */
#define VOL_MAX_FILE_BYTES ((size_t)1 << 31)

typedef struct vol3 {
  size_t n[3];       /* voxels along the index axes i, j, k (i fastest in data) */
  double spacing[3]; /* mm between voxel centres along i, j, k; > 0 */
  double origin[3];  /* world (LPS, mm) position of voxel (0, 0, 0)'s centre */
  double dir[9];     /* row-major 3x3; column a is the world direction of index axis a */
  float *data;       /* n[0] * n[1] * n[2] values, owned; NULL for a bare geometry */
} vol3;

/* Voxel count (0 when any size is 0). */
size_t vol_voxels(const vol3 *v);
/* Allocates v->data (zeroed) for v->n; the product must be 1..VOL_MAX_VOXELS. */
int vol_alloc(vol3 *v, herr *e);
void vol_free(vol3 *v);
/* Identity direction, unit spacing, zero origin, no data. */
void vol_geometry_identity(vol3 *v, size_t nx, size_t ny, size_t nz);

/* World position of a (continuous) index. */
void vol_index_to_world(const vol3 *v, const double idx[3], double world[3]);
/* Continuous index of a world position; -1 when the direction matrix is singular. */
int vol_world_to_index(const vol3 *v, const double world[3], double idx[3]);
/* The largest angle (degrees) between corresponding index axes of a and b. */
double vol_direction_angle_deg(const vol3 *a, const vol3 *b);
/* Checks that spacing is finite and > 0, origin finite, and the direction columns are unit
 * length and mutually orthogonal (within 1e-3): "<what>: <which> ..." on failure. */
int vol_check_geometry(const vol3 *v, const char *what, herr *e);

/* 3x3 helpers (row-major). */
int vol_mat3_inverse(const double m[9], double inv[9]);

/* Readers. Every size, type and offset is checked; a truncated or corrupt file is an error
 * naming the file and what was wrong. Values become float (after NIfTI's scl_slope/inter);
 * non-finite values are refused. */
/* MetaImage: .mha (ElementDataFile = LOCAL) or .mhd with its data file, raw or zlib. */
int vol_read_metaimage(const char *path, vol3 *out, herr *e);
/* NIfTI-1 single file: .nii or gzip'ed .nii.gz (sform preferred, then qform, RAS -> LPS). */
int vol_read_nifti(const char *path, vol3 *out, herr *e);
/* By extension: .mha / .mhd, .nii / .nii.gz. */
int vol_read(const char *path, vol3 *out, herr *e);
/* Whether path ends in an extension vol_read knows. */
bool vol_path_supported(const char *path);

/* Writers (atomic), for tests and exports: MET_FLOAT .mha (zlib when compress), and NIfTI-1
 * float32 with qform and sform (code 1, scanner), gzip'ed when the name ends in .gz. */
int vol_write_metaimage(const char *path, const vol3 *v, bool compress, herr *e);
int vol_write_nifti(const char *path, const vol3 *v, herr *e);

/* The target grid of PI-CAI preparation: the reference volume resampled to `spacing` keeping
 * its origin and direction (size round(n * old / new) per axis, as SimpleITK's resampling to a
 * new spacing), then centre-cropped or padded to `size` (crop start (N - S) / 2, padding before
 * (S - N) / 2, both rounded down, as picai_prep's crop_or_pad). Sets out's geometry, no data. */
int vol_grid_spaced_crop(const vol3 *ref, const double spacing[3], const size_t size[3], vol3 *out, herr *e);

typedef enum vol_interp { VOL_LINEAR = 0, VOL_NEAREST } vol_interp;

/* Samples src at the world position of every voxel of dst (whose geometry is set and data
 * allocated). Trilinear: a voxel is inside when its continuous index lies in
 * [-0.5, n - 0.5) on every axis, with neighbours clamped at the border (ITK's
 * ResampleImageFilter + LinearInterpolateImageFunction); nearest: the index rounded half up.
 * Voxels outside get 0 and inside[v] = 0 (inside may be NULL). *n_inside (may be NULL) counts
 * the inside voxels. */
int vol_resample(const vol3 *src, vol3 *dst, vol_interp interp, uint8_t *inside, size_t *n_inside, herr *e);

/* Min-max normalisation to [0, 1] over the voxels with inside[v] != 0 (all when NULL); other
 * voxels become 0. A constant image (max == min) or no inside voxel is an error. */
int vol_normalize_minmax(float *data, const uint8_t *inside, size_t n, herr *e);

/* Number of voxels > 0 in each k-slice of v (counts has n[2] entries). */
void vol_slice_counts(const vol3 *v, size_t *counts);

#endif

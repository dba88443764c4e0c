/* Pieces the volume readers share: element types and their conversion to float. Not a public
 * interface. */
#ifndef MDH_VOL_INTERNAL_H
#define MDH_VOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"
#include "harness/volume/volume.h"

typedef enum vol_etype {
  VOL_U8,
  VOL_I8,
  VOL_U16,
  VOL_I16,
  VOL_U32,
  VOL_I32,
  VOL_U64,
  VOL_I64,
  VOL_F32,
  VOL_F64
} vol_etype;

size_t vol_etype_size(vol_etype t);
const char *vol_etype_name(vol_etype t);

/* n elements of type t at src (big-endian when msb) into dst as float, times slope plus inter
 * (slope 1, inter 0 for none). A non-finite result is an error naming `what` and the voxel. */
int vol_convert(const void *src, vol_etype t, bool msb, size_t n, double slope, double inter, float *dst,
                const char *what, herr *e);

/* Whether this machine is little-endian. */
bool vol_host_le(void);

/* Whole file (transparently gunzipped when gz; gzip or zlib streams) into a malloc'd buffer of at
 * most max bytes; a truncated stream is an error. */
uint8_t *vol_read_file_gz(const char *path, bool gz, size_t max, size_t *len, herr *e);

#endif

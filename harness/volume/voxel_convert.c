/* Voxel conversion: every element type the readers accept, either byte order, to float. */
#include <math.h>
#include <string.h>

#include "harness/volume/vol_internal.h"

size_t vol_etype_size(vol_etype t) {
  switch (t) {
    case VOL_U8:
    case VOL_I8:
      return 1;
    case VOL_U16:
    case VOL_I16:
      return 2;
    case VOL_U32:
    case VOL_I32:
    case VOL_F32:
      return 4;
    case VOL_U64:
    case VOL_I64:
    case VOL_F64:
      return 8;
  }
  return 0;
}

const char *vol_etype_name(vol_etype t) {
  static const char *names[] = {"uint8", "int8",   "uint16", "int16",   "uint32",
                                "int32", "uint64", "int64",  "float32", "float64"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

bool vol_host_le(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Loads an element of `size` bytes in file order, swapped into host order when they differ. */
static void load(const uint8_t *p, size_t size, bool swap, void *out) {
  uint8_t tmp[8];
  if (swap)
    for (size_t i = 0; i < size; i++) tmp[i] = p[size - 1 - i];
  else
    memcpy(tmp, p, size);
  memcpy(out, tmp, size);
}

int vol_convert(const void *src, vol_etype t, bool msb, size_t n, double slope, double inter, float *dst,
                const char *what, herr *e) {
  const uint8_t *p = src;
  size_t size = vol_etype_size(t);
  bool swap = msb == vol_host_le();
  bool scaled = slope != 1.0 || inter != 0.0;
  for (size_t i = 0; i < n; i++, p += size) {
    double v;
    switch (t) {
      case VOL_U8:
        v = p[0];
        break;
      case VOL_I8:
        v = (int8_t)p[0];
        break;
      case VOL_U16: {
        uint16_t x;
        load(p, 2, swap, &x);
        v = x;
        break;
      }
      case VOL_I16: {
        int16_t x;
        load(p, 2, swap, &x);
        v = x;
        break;
      }
      case VOL_U32: {
        uint32_t x;
        load(p, 4, swap, &x);
        v = x;
        break;
      }
      case VOL_I32: {
        int32_t x;
        load(p, 4, swap, &x);
        v = x;
        break;
      }
      case VOL_U64: {
        uint64_t x;
        load(p, 8, swap, &x);
        v = (double)x;
        break;
      }
      case VOL_I64: {
        int64_t x;
        load(p, 8, swap, &x);
        v = (double)x;
        break;
      }
      case VOL_F32: {
        float x;
        load(p, 4, swap, &x);
        v = x;
        break;
      }
      case VOL_F64: {
        double x;
        load(p, 8, swap, &x);
        v = x;
        break;
      }
      default:
        return herr_set(e, "%s: unknown element type", what);
    }
    if (scaled) v = v * slope + inter;
    float f = (float)v;
    if (!isfinite(f)) return herr_set(e, "%s: voxel %zu is not a finite number (%g); refusing the image", what, i, v);
    dst[i] = f;
  }
  return 0;
}

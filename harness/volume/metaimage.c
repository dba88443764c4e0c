/* MetaImage reader (ITK/MetaIO's .mha with LOCAL data and .mhd with a separate data file):
 * "Key = Value" header lines ending with ElementDataFile, raw or zlib-compressed voxels.
 * TransformMatrix is read as MetaIO writes it: row a of the written matrix is the world
 * direction of index axis a (ITK's MetaImageIO). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "harness/volume/vol_internal.h"

#define MHA_HEADER_MAX 65536

typedef struct mha_header {
  int ndims;
  long long dims[3];
  double spacing[3], origin[3], matrix[9];
  bool have_spacing, have_element_size;
  double element_size[3];
  vol_etype etype;
  bool have_etype;
  bool msb, compressed, binary;
  long long compressed_size; /* -1 unknown */
  long long header_size;     /* 0 none, -1 "data at the end" */
  char data_file[4096];
} mha_header;

static int parse_numbers(const char *path, int line, const char *key, const char *val, int want, double *out, herr *e) {
  const char *p = val;
  for (int i = 0; i < want; i++) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno == ERANGE || !isfinite(v))
      return herr_set(e, "%s:%d: %s = '%s': expected %d numbers", path, line, key, val, want);
    out[i] = v;
    p = end;
  }
  while (*p && isspace((unsigned char)*p)) p++;
  if (*p) return herr_set(e, "%s:%d: %s = '%s': expected exactly %d numbers", path, line, key, val, want);
  return 0;
}

static int parse_bool(const char *path, int line, const char *key, const char *val, bool *out, herr *e) {
  if (!strcasecmp(val, "True") || !strcmp(val, "1"))
    *out = true;
  else if (!strcasecmp(val, "False") || !strcmp(val, "0"))
    *out = false;
  else
    return herr_set(e, "%s:%d: %s = '%s': expected True or False", path, line, key, val);
  return 0;
}

static int parse_etype(const char *path, int line, const char *val, vol_etype *t, herr *e) {
  static const struct {
    const char *name;
    vol_etype t;
  } types[] = {{"MET_UCHAR", VOL_U8},       {"MET_CHAR", VOL_I8},       {"MET_USHORT", VOL_U16},
               {"MET_SHORT", VOL_I16},      {"MET_UINT", VOL_U32},      {"MET_INT", VOL_I32},
               {"MET_ULONG", VOL_U32},      {"MET_LONG", VOL_I32}, /* MetaIO's MET_LONG is 4 bytes */
               {"MET_ULONG_LONG", VOL_U64}, {"MET_LONG_LONG", VOL_I64}, {"MET_FLOAT", VOL_F32},
               {"MET_DOUBLE", VOL_F64}};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    if (!strcmp(val, types[i].name)) {
      *t = types[i].t;
      return 0;
    }
  return herr_set(e,
                  "%s:%d: ElementType = '%s': unsupported (expected a scalar type such as MET_SHORT, "
                  "MET_USHORT, MET_UCHAR, MET_INT, MET_FLOAT or MET_DOUBLE)",
                  path, line, val);
}

static bool key_is(const char *key, const char *name) {
  return !strcasecmp(key, name);
}

/* One header line; sets *done when it was ElementDataFile. */
static int parse_line(const char *path, int line, char *text, mha_header *h, bool *done, herr *e) {
  char *eq = strchr(text, '=');
  if (!eq) return herr_set(e, "%s:%d: expected 'Key = Value', got '%.60s'", path, line, text);
  char *key = text, *val = eq + 1;
  *eq = 0;
  size_t kl = strlen(key);
  while (kl && isspace((unsigned char)key[kl - 1])) key[--kl] = 0;
  while (*key && isspace((unsigned char)*key)) key++;
  while (*val && isspace((unsigned char)*val)) val++;
  size_t vl = strlen(val);
  while (vl && isspace((unsigned char)val[vl - 1])) val[--vl] = 0;
  if (!*key) return herr_set(e, "%s:%d: empty key", path, line);

  if (key_is(key, "ObjectType")) {
    if (strcasecmp(val, "Image")) return herr_set(e, "%s:%d: ObjectType = '%s': expected Image", path, line, val);
  } else if (key_is(key, "NDims")) {
    double d;
    if (parse_numbers(path, line, key, val, 1, &d, e)) return -1;
    if (d != 2 && d != 3)
      return herr_set(e, "%s:%d: NDims = %s: only 2 and 3 dimensional images are supported", path, line, val);
    h->ndims = (int)d;
  } else if (key_is(key, "DimSize") || key_is(key, "ElementSpacing") || key_is(key, "ElementSize") ||
             key_is(key, "Offset") || key_is(key, "Origin") || key_is(key, "Position") ||
             key_is(key, "TransformMatrix") || key_is(key, "Rotation") || key_is(key, "Orientation")) {
    if (!h->ndims) return herr_set(e, "%s:%d: %s before NDims", path, line, key);
    int nd = h->ndims;
    if (key_is(key, "DimSize")) {
      double d[3];
      if (parse_numbers(path, line, key, val, nd, d, e)) return -1;
      for (int a = 0; a < nd; a++) {
        if (d[a] < 1 || d[a] > 1e9 || d[a] != floor(d[a]))
          return herr_set(e, "%s:%d: DimSize = '%s': expected whole numbers >= 1", path, line, val);
        h->dims[a] = (long long)d[a];
      }
    } else if (key_is(key, "ElementSpacing")) {
      if (parse_numbers(path, line, key, val, nd, h->spacing, e)) return -1;
      h->have_spacing = true;
    } else if (key_is(key, "ElementSize")) {
      if (parse_numbers(path, line, key, val, nd, h->element_size, e)) return -1;
      h->have_element_size = true;
    } else if (key_is(key, "Offset") || key_is(key, "Origin") || key_is(key, "Position")) {
      if (parse_numbers(path, line, key, val, nd, h->origin, e)) return -1;
    } else {
      double m[9];
      if (parse_numbers(path, line, key, val, nd * nd, m, e)) return -1;
      for (int r = 0; r < nd; r++)
        for (int c = 0; c < nd; c++) h->matrix[r * 3 + c] = m[r * nd + c];
    }
  } else if (key_is(key, "ElementType")) {
    if (parse_etype(path, line, val, &h->etype, e)) return -1;
    h->have_etype = true;
  } else if (key_is(key, "ElementNumberOfChannels")) {
    if (strcmp(val, "1"))
      return herr_set(e, "%s:%d: ElementNumberOfChannels = %s: only single-channel images are supported", path, line,
                      val);
  } else if (key_is(key, "BinaryDataByteOrderMSB") || key_is(key, "ElementByteOrderMSB")) {
    if (parse_bool(path, line, key, val, &h->msb, e)) return -1;
  } else if (key_is(key, "BinaryData")) {
    if (parse_bool(path, line, key, val, &h->binary, e)) return -1;
  } else if (key_is(key, "CompressedData")) {
    if (parse_bool(path, line, key, val, &h->compressed, e)) return -1;
  } else if (key_is(key, "CompressedDataSize")) {
    double d;
    if (parse_numbers(path, line, key, val, 1, &d, e)) return -1;
    if (d < 0 || d != floor(d) || d > 9e15)
      return herr_set(e, "%s:%d: CompressedDataSize = %s: expected a byte count", path, line, val);
    h->compressed_size = (long long)d;
  } else if (key_is(key, "HeaderSize")) {
    double d;
    if (parse_numbers(path, line, key, val, 1, &d, e)) return -1;
    if (d < -1 || d != floor(d) || d > 9e15)
      return herr_set(e, "%s:%d: HeaderSize = %s: expected -1 or a byte count", path, line, val);
    h->header_size = (long long)d;
  } else if (key_is(key, "ElementDataFile")) {
    if (!*val) return herr_set(e, "%s:%d: ElementDataFile is empty", path, line);
    if (!strncasecmp(val, "LIST", 4) || strchr(val, '%') || strchr(val, ' '))
      return herr_set(e, "%s:%d: ElementDataFile = '%s': multi-file data is not supported", path, line, val);
    if (strlen(val) >= sizeof h->data_file) return herr_set(e, "%s:%d: ElementDataFile name too long", path, line);
    strcpy(h->data_file, val);
    *done = true;
  }
  /* Other keys (Comment, AnatomicalOrientation, CenterOfRotation, ElementMin/Max, ...) carry
   * nothing that changes the voxels or their world positions, as in ITK. */
  return 0;
}

/* Parses the header at the start of buf; *data_at is where LOCAL data begins. */
static int parse_header(const char *path, const uint8_t *buf, size_t len, mha_header *h, size_t *data_at, herr *e) {
  memset(h, 0, sizeof *h);
  h->binary = true;
  h->compressed_size = -1;
  for (int a = 0; a < 3; a++) h->spacing[a] = 1.0, h->matrix[a * 3 + a] = 1.0, h->dims[a] = 1;
  size_t pos = 0;
  int line = 0;
  bool done = false;
  char text[MHA_HEADER_MAX + 1];
  while (!done) {
    if (pos >= len || pos >= MHA_HEADER_MAX)
      return herr_set(e, "%s: no ElementDataFile line in the header%s (not a MetaImage file, or truncated)", path,
                      pos >= MHA_HEADER_MAX ? "'s first 64 KiB" : "");
    size_t end = pos;
    while (end < len && buf[end] != '\n') {
      if (buf[end] >= 0x7f || (buf[end] < 32 && buf[end] != '\t' && buf[end] != '\r')) /* MetaIO headers are ASCII */
        return herr_set(
            e, "%s:%d: binary bytes before any ElementDataFile line (not a MetaImage file, or a corrupt header)", path,
            line + 1);
      end++;
    }
    if (end >= len) return herr_set(e, "%s: header ends without ElementDataFile (truncated)", path);
    line++;
    size_t n = end - pos;
    if (n > MHA_HEADER_MAX) n = MHA_HEADER_MAX;
    memcpy(text, buf + pos, n);
    text[n] = 0;
    pos = end + 1;
    char *t = text;
    while (*t && isspace((unsigned char)*t)) t++;
    if (!*t) continue;
    if (parse_line(path, line, t, h, &done, e)) return -1;
  }
  if (!h->ndims) return herr_set(e, "%s: no NDims in the header", path);
  if (!h->have_etype) return herr_set(e, "%s: no ElementType in the header", path);
  if (!h->binary) return herr_set(e, "%s: BinaryData = False (ASCII voxel data) is not supported", path);
  if (!h->have_spacing && h->have_element_size) memcpy(h->spacing, h->element_size, sizeof h->spacing);
  *data_at = pos;
  return 0;
}

static int inflate_exact(const char *path, const uint8_t *src, size_t srclen, uint8_t *dst, size_t dstlen, herr *e) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return herr_set(e, "%s: zlib initialisation failed", path);
  size_t in_done = 0, out_done = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    size_t in_chunk = srclen - in_done, out_chunk = dstlen - out_done;
    z.next_in = (Bytef *)(src + in_done);
    z.avail_in = in_chunk > (1u << 30) ? (1u << 30) : (uInt)in_chunk;
    z.next_out = dst + out_done;
    z.avail_out = out_chunk > (1u << 30) ? (1u << 30) : (uInt)out_chunk;
    uInt in0 = z.avail_in, out0 = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    in_done += in0 - z.avail_in;
    out_done += out0 - z.avail_out;
    if (rc == Z_BUF_ERROR && out_done == dstlen && in_done < srclen) {
      /* Output full but input left: more data than the header says. */
      inflateEnd(&z);
      return herr_set(e, "%s: compressed data holds more than the %zu bytes the header declares", path, dstlen);
    }
    if (rc == Z_BUF_ERROR && in0 == 0) break;
    if (rc == Z_BUF_ERROR) rc = Z_OK;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END && rc != Z_BUF_ERROR)
    return herr_set(e, "%s: corrupt compressed voxel data (zlib: %s)", path, z.msg ? z.msg : "error");
  if (out_done != dstlen || rc != Z_STREAM_END)
    return herr_set(e, "%s: compressed voxel data is truncated: %zu of %zu bytes decompressed", path, out_done, dstlen);
  return 0;
}

int vol_read_metaimage(const char *path, vol3 *out, herr *e) {
  memset(out, 0, sizeof *out);
  size_t len = 0;
  uint8_t *buf = (uint8_t *)fs_read_file_max(path, VOL_MAX_FILE_BYTES, &len, e);
  if (!buf) return -1;
  uint8_t *ext = NULL;
  uint8_t *raw = NULL;
  mha_header h;
  size_t data_at;
  int rc = -1;
  if (parse_header(path, buf, len, &h, &data_at, e)) goto done;

  vol3 v;
  memset(&v, 0, sizeof v);
  for (int a = 0; a < 3; a++) {
    v.n[a] = (size_t)h.dims[a];
    v.spacing[a] = h.spacing[a];
    v.origin[a] = h.origin[a];
    for (int r = 0; r < 3; r++) v.dir[r * 3 + a] = h.matrix[a * 3 + r]; /* matrix row a = axis a */
  }
  size_t nvox = vol_voxels(&v);
  if (nvox == 0 || nvox > VOL_MAX_VOXELS) {
    herr_set(e, "%s: DimSize %lld x %lld x %lld: expected at most %zu voxels", path, h.dims[0], h.dims[1], h.dims[2],
             VOL_MAX_VOXELS);
    goto done;
  }
  if (vol_check_geometry(&v, path, e)) goto done;
  size_t esize = vol_etype_size(h.etype);
  size_t need = nvox * esize;

  const uint8_t *data;
  size_t avail;
  if (!strcmp(h.data_file, "LOCAL")) {
    if (h.header_size != 0) {
      herr_set(e, "%s: HeaderSize with LOCAL data is not supported", path);
      goto done;
    }
    data = buf + data_at;
    avail = len - data_at;
  } else {
    if (h.data_file[0] == '/') {
      herr_set(e, "%s: ElementDataFile '%s' is an absolute path; expected a file beside the header", path, h.data_file);
      goto done;
    }
    char *dir = fs_dirname(path), *dpath = fs_join(dir, h.data_file);
    free(dir);
    size_t elen = 0;
    ext = (uint8_t *)fs_read_file_max(dpath, VOL_MAX_FILE_BYTES, &elen, e);
    if (!ext) {
      herr_prefix(e, "%s: ElementDataFile", path);
      free(dpath);
      goto done;
    }
    free(dpath);
    data = ext;
    avail = elen;
    if (h.header_size == -1) {
      if (h.compressed) {
        herr_set(e, "%s: HeaderSize = -1 with compressed data is not supported", path);
        goto done;
      }
      if (avail < need) goto truncated;
      data += avail - need;
      avail = need;
    } else if (h.header_size > 0) {
      if ((unsigned long long)h.header_size > avail) goto truncated;
      data += h.header_size;
      avail -= (size_t)h.header_size;
    }
  }

  if (h.compressed) {
    size_t clen = avail;
    if (h.compressed_size >= 0) {
      if ((unsigned long long)h.compressed_size > avail) {
        herr_set(e, "%s: CompressedDataSize = %lld but only %zu bytes follow the header (truncated)", path,
                 h.compressed_size, avail);
        goto done;
      }
      clen = (size_t)h.compressed_size;
    }
    raw = malloc(need);
    if (!raw) abort();
    if (inflate_exact(path, data, clen, raw, need, e)) goto done;
    data = raw;
  } else {
    if (avail < need) goto truncated;
    if (avail > need) {
      herr_set(e, "%s: %zu bytes of voxel data where DimSize and ElementType give %zu", path, avail, need);
      goto done;
    }
  }

  v.data = malloc(nvox * sizeof *v.data);
  if (!v.data) abort();
  if (vol_convert(data, h.etype, h.msb, nvox, 1.0, 0.0, v.data, path, e)) {
    free(v.data);
    goto done;
  }
  *out = v;
  rc = 0;
  goto done;
truncated:
  herr_set(e, "%s: voxel data is truncated: %zu bytes where DimSize and ElementType give %zu", path, avail, need);
done:
  free(raw);
  free(ext);
  free(buf);
  return rc;
}

/* MetaImage writer: MET_FLOAT .mha with LOCAL data, keys in the order ITK writes them, raw or
 * zlib-compressed; written atomically. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"
#include "harness/volume/vol_internal.h"

int vol_write_metaimage(const char *path, const vol3 *v, bool compress, herr *e) {
  size_t nvox = vol_voxels(v);
  if (!v->data || nvox == 0 || nvox > VOL_MAX_VOXELS) return herr_set(e, "%s: no voxels to write", path);
  size_t nbytes = nvox * sizeof(float);
  uint8_t *payload = malloc(nbytes);
  if (!payload) abort();
  memcpy(payload, v->data, nbytes);
  if (!vol_host_le())
    for (size_t i = 0; i < nvox; i++) {
      uint8_t *p = payload + i * 4, t0 = p[0], t1 = p[1];
      p[0] = p[3], p[1] = p[2], p[2] = t1, p[3] = t0;
    }
  size_t plen = nbytes;
  if (compress) {
    uLongf clen = compressBound((uLong)nbytes);
    uint8_t *c = malloc(clen);
    if (!c) abort();
    if (compress2(c, &clen, payload, (uLong)nbytes, 6) != Z_OK) {
      free(c);
      free(payload);
      return herr_set(e, "%s: zlib compression failed", path);
    }
    free(payload);
    payload = c;
    plen = clen;
  }
  strbuf sb = STRBUF_INIT;
  sb_append(&sb, "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n");
  sb_appendf(&sb, "CompressedData = %s\n", compress ? "True" : "False");
  if (compress) sb_appendf(&sb, "CompressedDataSize = %zu\n", plen);
  sb_append(&sb, "TransformMatrix =");
  for (int a = 0; a < 3; a++)
    for (int r = 0; r < 3; r++) sb_appendf(&sb, " %.17g", v->dir[r * 3 + a]); /* row a: axis a */
  sb_appendf(&sb, "\nOffset = %.17g %.17g %.17g\n", v->origin[0], v->origin[1], v->origin[2]);
  sb_append(&sb, "CenterOfRotation = 0 0 0\n");
  sb_appendf(&sb, "ElementSpacing = %.17g %.17g %.17g\n", v->spacing[0], v->spacing[1], v->spacing[2]);
  sb_appendf(&sb, "DimSize = %zu %zu %zu\n", v->n[0], v->n[1], v->n[2]);
  sb_append(&sb, "ElementType = MET_FLOAT\nElementDataFile = LOCAL\n");
  sb_append_n(&sb, (const char *)payload, plen);
  free(payload);
  int rc = fs_write_atomic(path, sb.data, sb.len, e);
  sb_free(&sb);
  return rc;
}

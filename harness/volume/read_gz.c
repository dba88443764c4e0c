/* Reading a whole file through zlib's gz* interface, which also passes plain files through,
 * with a size limit and truncation detected (gzip's own length and CRC are checked). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "harness/volume/vol_internal.h"

uint8_t *vol_read_file_gz(const char *path, bool gz, size_t max, size_t *len, herr *e) {
  if (!gz) return (uint8_t *)fs_read_file_max(path, max, len, e);
  gzFile f = gzopen(path, "rb");
  if (!f) {
    herr_errno(e, "%s: cannot open", path);
    return NULL;
  }
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) abort();
  for (;;) {
    if (n == cap) {
      if (cap >= max) {
        herr_set(e, "%s: decompressed data is larger than the %zu-byte limit", path, max);
        goto fail;
      }
      cap = cap * 2 > max ? max : cap * 2;
      uint8_t *nb = realloc(buf, cap);
      if (!nb) abort();
      buf = nb;
    }
    size_t want = cap - n;
    if (want > (1u << 30)) want = 1u << 30;
    int got = gzread(f, buf + n, (unsigned)want);
    if (got < 0) {
      int err;
      const char *msg = gzerror(f, &err);
      herr_set(e, "%s: corrupt gzip data (%s)", path, msg ? msg : "?");
      goto fail;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  int err = Z_OK;
  const char *msg = gzerror(f, &err);
  if (err != Z_OK && err != Z_STREAM_END) {
    herr_set(e, "%s: truncated or corrupt gzip data (%s)", path, msg ? msg : "?");
    goto fail;
  }
  gzclose(f);
  if (len) *len = n;
  return buf;
fail:
  gzclose(f);
  free(buf);
  return NULL;
}

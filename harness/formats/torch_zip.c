/* torch_zip: reads the zip container of torch.save files from the central directory (torch's
 * local headers carry zero sizes and data descriptors, so they are only used to find where the
 * data starts) and writes stored archives with torch's 64-byte data alignment. */
#include "harness/formats/torch_zip.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u
#define LOCAL_HEADER_LEN 30u
#define CENTRAL_HEADER_LEN 46u
#define EOCD_LEN 22u
#define ALIGN 64u

typedef struct tz_entry {
  char *name;
  uint16_t method;
  uint32_t crc;
  uint64_t comp_size;
  uint64_t size;
  uint64_t data_off; /* where the (compressed) data starts */
} tz_entry;

struct tz_archive {
  char *path;
  uint8_t *buf;
  size_t len;
  size_t n;
  tz_entry *entries;
  char *prefix;
};

static uint16_t rd16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) {
  return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static int read_whole(tz_archive *z, herr *e) {
  FILE *fp = fopen(z->path, "rb");
  if (!fp) return herr_errno(e, "cannot open %s", z->path);
  struct stat st;
  if (fstat(fileno(fp), &st) != 0) {
    fclose(fp);
    return herr_errno(e, "cannot stat %s", z->path);
  }
  if (!S_ISREG(st.st_mode)) {
    fclose(fp);
    return herr_set(e, "%s: not a regular file", z->path);
  }
  if ((uint64_t)st.st_size > TZ_MAX_FILE_BYTES) {
    fclose(fp);
    return herr_set(e, "%s: %lld bytes, more than the %llu accepted for a torch archive", z->path,
                    (long long)st.st_size, (unsigned long long)TZ_MAX_FILE_BYTES);
  }
  z->len = (size_t)st.st_size;
  z->buf = malloc(z->len ? z->len : 1);
  if (!z->buf) abort();
  size_t got = z->len ? fread(z->buf, 1, z->len, fp) : 0;
  int err = ferror(fp);
  fclose(fp);
  if (got != z->len || err) return herr_set(e, "%s: read %zu of %zu bytes", z->path, got, z->len);
  return 0;
}

/* The end-of-central-directory record: the last "PK\5\6" whose comment reaches the file end. */
static int find_eocd(const tz_archive *z, size_t *at, herr *e) {
  if (z->len < EOCD_LEN) return herr_set(e, "%s: not a zip archive (%zu bytes, truncated?)", z->path, z->len);
  size_t lowest = z->len > EOCD_LEN + 65535 ? z->len - EOCD_LEN - 65535 : 0;
  for (size_t i = z->len - EOCD_LEN + 1; i-- > lowest;) {
    if (rd32(z->buf + i) == SIG_EOCD && i + EOCD_LEN + rd16(z->buf + i + 20) == z->len) {
      *at = i;
      return 0;
    }
  }
  return herr_set(e, "%s: no zip end-of-central-directory record (not a torch zip archive, or truncated)", z->path);
}

/* Central directory location and size, from the zip64 records when the plain ones overflow. */
static int central_dir(const tz_archive *z, size_t eocd, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count,
                       herr *e) {
  const uint8_t *p = z->buf + eocd;
  if (rd16(p + 4) != 0 || rd16(p + 6) != 0 || rd16(p + 8) != rd16(p + 10))
    return herr_set(e, "%s: multi-disk zip archives are not supported", z->path);
  *count = rd16(p + 10);
  *cd_size = rd32(p + 12);
  *cd_off = rd32(p + 16);
  if (*count != 0xFFFF && *cd_size != 0xFFFFFFFFu && *cd_off != 0xFFFFFFFFu) return 0;
  if (eocd < 20 || rd32(z->buf + eocd - 20) != SIG_EOCD64_LOC)
    return herr_set(e, "%s: zip64 end-of-central-directory locator missing", z->path);
  uint64_t off64 = rd64(z->buf + eocd - 20 + 8);
  if (off64 > z->len || z->len - off64 < 56 || rd32(z->buf + off64) != SIG_EOCD64)
    return herr_set(e, "%s: zip64 end-of-central-directory record at %llu is outside the file or malformed", z->path,
                    (unsigned long long)off64);
  const uint8_t *q = z->buf + off64;
  *count = rd64(q + 32);
  *cd_size = rd64(q + 40);
  *cd_off = rd64(q + 48);
  return 0;
}

/* Replaces overflowed (0xFFFFFFFF) sizes/offset by the zip64 extra field's values, in the
 * order the format fixes: size, compressed size, local header offset. */
static int apply_zip64_extra(const tz_archive *z, const char *name, const uint8_t *extra, size_t n, uint64_t *size,
                             uint64_t *comp, uint64_t *local, herr *e) {
  size_t i = 0;
  while (i + 4 <= n) {
    uint16_t id = rd16(extra + i), len = rd16(extra + i + 2);
    if (i + 4 + len > n) break;
    if (id == 0x0001) {
      const uint8_t *v = extra + i + 4;
      size_t left = len;
      uint64_t *fields[3] = {size, comp, local};
      for (int k = 0; k < 3; k++) {
        if (*fields[k] != 0xFFFFFFFFu) continue;
        if (left < 8) return herr_set(e, "%s: entry '%s': zip64 extra field too short", z->path, name);
        *fields[k] = rd64(v);
        v += 8;
        left -= 8;
      }
      return 0;
    }
    i += 4u + len;
  }
  if (*size == 0xFFFFFFFFu || *comp == 0xFFFFFFFFu || *local == 0xFFFFFFFFu)
    return herr_set(e, "%s: entry '%s': sizes overflow but there is no zip64 extra field", z->path, name);
  return 0;
}

static int parse_entry(tz_archive *z, const uint8_t *p, size_t avail, tz_entry *t, size_t *used, herr *e) {
  if (avail < CENTRAL_HEADER_LEN || rd32(p) != SIG_CENTRAL)
    return herr_set(e, "%s: central directory entry %zu is malformed (truncated archive?)", z->path, z->n);
  uint16_t flags = rd16(p + 8), name_len = rd16(p + 28), extra_len = rd16(p + 30), comment_len = rd16(p + 32);
  size_t total = CENTRAL_HEADER_LEN + (size_t)name_len + extra_len + comment_len;
  if (total > avail) return herr_set(e, "%s: central directory entry %zu runs past the directory", z->path, z->n);
  if (name_len == 0) return herr_set(e, "%s: central directory entry %zu has an empty name", z->path, z->n);
  t->name = malloc((size_t)name_len + 1);
  if (!t->name) abort();
  memcpy(t->name, p + CENTRAL_HEADER_LEN, name_len);
  t->name[name_len] = '\0';
  if (strlen(t->name) != name_len) return herr_set(e, "%s: entry name %zu contains a NUL byte", z->path, z->n);
  if (flags & 0x0001) return herr_set(e, "%s: entry '%s' is encrypted", z->path, t->name);
  t->method = rd16(p + 10);
  t->crc = rd32(p + 16);
  t->comp_size = rd32(p + 20);
  t->size = rd32(p + 24);
  uint64_t local = rd32(p + 42);
  if (apply_zip64_extra(z, t->name, p + CENTRAL_HEADER_LEN + name_len, extra_len, &t->size, &t->comp_size, &local, e) !=
      0)
    return -1;
  if (t->method != 0 && t->method != 8)
    return herr_set(e, "%s: entry '%s' uses compression method %u; only stored (0) and deflate (8) are supported",
                    z->path, t->name, t->method);
  if (t->method == 0 && t->comp_size != t->size)
    return herr_set(e, "%s: stored entry '%s' has compressed size %llu but size %llu", z->path, t->name,
                    (unsigned long long)t->comp_size, (unsigned long long)t->size);
  if (t->size > TZ_MAX_ENTRY_BYTES)
    return herr_set(e, "%s: entry '%s' is %llu bytes uncompressed, more than the %llu accepted", z->path, t->name,
                    (unsigned long long)t->size, (unsigned long long)TZ_MAX_ENTRY_BYTES);
  /* Deflate cannot expand data more than ~1032-fold; a larger claim is a zip bomb or corrupt. */
  if (t->method == 8 && t->size > t->comp_size * 1032 + 1024)
    return herr_set(e, "%s: entry '%s' claims %llu bytes from %llu compressed, more than deflate can give", z->path,
                    t->name, (unsigned long long)t->size, (unsigned long long)t->comp_size);
  if (local > z->len || z->len - local < LOCAL_HEADER_LEN || rd32(z->buf + local) != SIG_LOCAL)
    return herr_set(e, "%s: entry '%s': local header at %llu is outside the file or malformed (truncated?)", z->path,
                    t->name, (unsigned long long)local);
  uint64_t start = local + LOCAL_HEADER_LEN + rd16(z->buf + local + 26) + rd16(z->buf + local + 28);
  if (start > z->len || z->len - start < t->comp_size)
    return herr_set(e, "%s: entry '%s': data [%llu, +%llu) runs past the end of the %zu-byte file (truncated?)",
                    z->path, t->name, (unsigned long long)start, (unsigned long long)t->comp_size, z->len);
  t->data_off = start;
  *used = total;
  return 0;
}

static int parse_central(tz_archive *z, herr *e) {
  size_t eocd = 0;
  uint64_t cd_off = 0, cd_size = 0, count = 0;
  if (find_eocd(z, &eocd, e) != 0 || central_dir(z, eocd, &cd_off, &cd_size, &count, e) != 0) return -1;
  if (cd_off > z->len || z->len - cd_off < cd_size)
    return herr_set(e, "%s: central directory [%llu, +%llu) lies outside the file (truncated?)", z->path,
                    (unsigned long long)cd_off, (unsigned long long)cd_size);
  if (count > TZ_MAX_ENTRIES)
    return herr_set(e, "%s: %llu entries, more than the %d accepted", z->path, (unsigned long long)count,
                    TZ_MAX_ENTRIES);
  if (count == 0) return herr_set(e, "%s: the zip archive is empty", z->path);
  z->entries = calloc((size_t)count, sizeof *z->entries);
  if (!z->entries) abort();
  size_t pos = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
  for (uint64_t i = 0; i < count; i++) {
    size_t used = 0;
    int rc = parse_entry(z, z->buf + pos, end - pos, &z->entries[z->n], &used, e);
    z->n++; /* the name (if any) is freed with the archive */
    if (rc != 0) return -1;
    pos += used;
  }
  const char *first = z->entries[0].name, *slash = strchr(first, '/');
  size_t plen = slash ? (size_t)(slash - first) : 0;
  z->prefix = malloc(plen + 1);
  if (!z->prefix) abort();
  memcpy(z->prefix, first, plen);
  z->prefix[plen] = '\0';
  return 0;
}

tz_archive *tz_open(const char *path, herr *e) {
  tz_archive *z = calloc(1, sizeof *z);
  if (!z) abort();
  z->path = strdup(path);
  if (!z->path) abort();
  if (read_whole(z, e) != 0 || parse_central(z, e) != 0) {
    tz_close(z);
    return NULL;
  }
  return z;
}

void tz_close(tz_archive *z) {
  if (!z) return;
  for (size_t i = 0; i < z->n; i++) free(z->entries[i].name);
  free(z->entries);
  free(z->prefix);
  free(z->buf);
  free(z->path);
  free(z);
}

const char *tz_path(const tz_archive *z) {
  return z->path;
}
size_t tz_count(const tz_archive *z) {
  return z->n;
}
const char *tz_name_at(const tz_archive *z, size_t i) {
  return i < z->n ? z->entries[i].name : NULL;
}
const char *tz_prefix(const tz_archive *z) {
  return z->prefix;
}

static const tz_entry *find(const tz_archive *z, const char *name) {
  for (size_t i = 0; i < z->n; i++)
    if (strcmp(z->entries[i].name, name) == 0) return &z->entries[i];
  return NULL;
}

int tz_has(const tz_archive *z, const char *name) {
  return find(z, name) != NULL;
}

static int inflate_entry(const tz_archive *z, const tz_entry *t, uint8_t *out, herr *e) {
  z_stream s;
  memset(&s, 0, sizeof s);
  if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return herr_set(e, "%s: entry '%s': zlib init failed", z->path, t->name);
  /* Both sizes are below TZ_MAX_*_BYTES (1 GiB), so zlib's 32-bit counters suffice. One spare
   * output byte past the recorded size catches data that inflates to more. */
  s.next_in = (Bytef *)(uintptr_t)(z->buf + t->data_off);
  s.avail_in = (uInt)t->comp_size;
  s.next_out = out;
  s.avail_out = (uInt)t->size + 1;
  int rc = inflate(&s, Z_FINISH);
  uint64_t produced = s.total_out;
  inflateEnd(&s);
  if (rc != Z_STREAM_END)
    return herr_set(e, "%s: entry '%s': deflate data is corrupt or truncated (zlib %d)", z->path, t->name, rc);
  if (produced != t->size)
    return herr_set(e, "%s: entry '%s' inflates to %llu bytes, the directory says %llu", z->path, t->name,
                    (unsigned long long)produced, (unsigned long long)t->size);
  return 0;
}

int tz_read(const tz_archive *z, const char *name, uint8_t **data, size_t *len, herr *e) {
  *data = NULL;
  *len = 0;
  const tz_entry *t = find(z, name);
  if (!t) return herr_set(e, "%s: no entry '%s' in the archive", z->path, name);
  uint8_t *out = malloc((size_t)t->size + 2);
  if (!out) abort();
  if (t->method == 0) {
    memcpy(out, z->buf + t->data_off, (size_t)t->size);
  } else if (inflate_entry(z, t, out, e) != 0) {
    free(out);
    return -1;
  }
  uLong crc = crc32(crc32(0L, Z_NULL, 0), out, (uInt)t->size);
  if ((uint32_t)crc != t->crc) {
    free(out);
    return herr_set(e, "%s: entry '%s': CRC-32 %08x does not match the recorded %08x (corrupt archive)", z->path, name,
                    (unsigned)crc, (unsigned)t->crc);
  }
  out[t->size] = '\0';
  *data = out;
  *len = (size_t)t->size;
  return 0;
}

/* ---- writing ---- */

static void put16(strbuf *b, uint16_t v) {
  char c[2] = {(char)(v & 0xFF), (char)(v >> 8)};
  sb_append_n(b, c, 2);
}
static void put32(strbuf *b, uint32_t v) {
  put16(b, (uint16_t)(v & 0xFFFF));
  put16(b, (uint16_t)(v >> 16));
}

int tz_write(const char *path, const tz_entry_in *entries, size_t n, herr *e) {
  if (n == 0 || n > 0xFFFF) return herr_set(e, "%s: cannot write a zip with %zu entries", path, n);
  strbuf b = STRBUF_INIT, cd = STRBUF_INIT;
  for (size_t i = 0; i < n; i++) {
    const tz_entry_in *t = &entries[i];
    size_t name_len = strlen(t->name);
    if (name_len == 0 || name_len > 0xFFFF || (uint64_t)t->len >= 0xFFFFFFFFu || b.len >= 0xFFFFFFFFu) {
      sb_free(&b);
      sb_free(&cd);
      return herr_set(e, "%s: entry '%s' (%zu bytes) does not fit a zip without zip64", path, t->name, t->len);
    }
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), t->data, (uInt)t->len);
    uint32_t offset = (uint32_t)b.len;
    /* Padding extra field: id "FB", then 'Z's, so the data begins on a 64-byte boundary. */
    size_t before_pad = b.len + LOCAL_HEADER_LEN + name_len + 4;
    uint16_t pad = (uint16_t)((ALIGN - before_pad % ALIGN) % ALIGN);
    put32(&b, SIG_LOCAL);
    put16(&b, 20);     /* version needed */
    put16(&b, 0x0800); /* UTF-8 names */
    put16(&b, 0);      /* stored */
    put16(&b, 0);      /* time */
    put16(&b, 0x21);   /* date 1980-01-01 */
    put32(&b, crc);
    put32(&b, (uint32_t)t->len);
    put32(&b, (uint32_t)t->len);
    put16(&b, (uint16_t)name_len);
    put16(&b, (uint16_t)(4 + pad));
    sb_append_n(&b, t->name, name_len);
    sb_append_n(&b, "FB", 2);
    put16(&b, pad);
    for (uint16_t k = 0; k < pad; k++) sb_append_char(&b, 'Z');
    if (t->len) sb_append_n(&b, t->data, t->len);

    put32(&cd, SIG_CENTRAL);
    put16(&cd, 20); /* made by */
    put16(&cd, 20);
    put16(&cd, 0x0800);
    put16(&cd, 0);
    put16(&cd, 0);
    put16(&cd, 0x21);
    put32(&cd, crc);
    put32(&cd, (uint32_t)t->len);
    put32(&cd, (uint32_t)t->len);
    put16(&cd, (uint16_t)name_len);
    put16(&cd, 0); /* extra */
    put16(&cd, 0); /* comment */
    put16(&cd, 0); /* disk */
    put16(&cd, 0); /* internal attributes */
    put32(&cd, 0); /* external attributes */
    put32(&cd, offset);
    sb_append_n(&cd, t->name, name_len);
  }
  if (b.len + cd.len >= 0xFFFFFFFFu) {
    sb_free(&b);
    sb_free(&cd);
    return herr_set(e, "%s: archive would exceed 4 GiB", path);
  }
  uint32_t cd_off = (uint32_t)b.len;
  sb_append_n(&b, cd.data, cd.len);
  put32(&b, SIG_EOCD);
  put16(&b, 0);
  put16(&b, 0);
  put16(&b, (uint16_t)n);
  put16(&b, (uint16_t)n);
  put32(&b, (uint32_t)cd.len);
  put32(&b, cd_off);
  put16(&b, 0);
  int rc = fs_write_atomic(path, b.data, b.len, e);
  sb_free(&b);
  sb_free(&cd);
  return rc;
}

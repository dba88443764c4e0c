/* torch_zip: the zip container of torch.save files (torch >= 1.6): reading stored and deflated
 * entries with every offset, size and CRC checked, and writing stored, 64-byte-aligned
 * archives laid out as torch writes them. */
#ifndef MDH_FORMATS_TORCH_ZIP_H
#define MDH_FORMATS_TORCH_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* Limits against hostile archives. */
#define TZ_MAX_FILE_BYTES ((uint64_t)1 << 30)  /* whole archive */
#define TZ_MAX_ENTRY_BYTES ((uint64_t)1 << 30) /* one entry, uncompressed */
#define TZ_MAX_ENTRIES 65536

typedef struct tz_archive tz_archive;

/* Reads `path` and its central directory (zip64 records included). Errors name the file and
 * what is wrong: not a zip, truncated, an entry whose data lies outside the file, an
 * unsupported compression method. */
tz_archive *tz_open(const char *path, herr *e);
void tz_close(tz_archive *z);

const char *tz_path(const tz_archive *z);
size_t tz_count(const tz_archive *z);
const char *tz_name_at(const tz_archive *z, size_t i); /* central-directory order */
/* The top-level folder every torch record lives in ("archive", or the saved file's stem),
 * without the slash; "" when the first entry has no folder. */
const char *tz_prefix(const tz_archive *z);
/* Whether an entry named exactly `name` exists. */
int tz_has(const tz_archive *z, const char *name);
/* An entry's uncompressed bytes into a new buffer (caller frees; one extra NUL byte follows
 * the data so text entries can be used as strings). Decompresses deflated entries and checks
 * the size and CRC-32 recorded in the central directory. Errors name file and entry. */
int tz_read(const tz_archive *z, const char *name, uint8_t **data, size_t *len, herr *e);

/* One entry to write. */
typedef struct tz_entry_in {
  const char *name;
  const void *data;
  size_t len;
} tz_entry_in;

/* Writes a stored (uncompressed) zip atomically (temporary file, fsync, rename), each entry's
 * data starting at a multiple of 64 bytes through a padding extra field ("FB", as torch's
 * writer does), so torch can map the storages. Archives past 4 GiB are refused. */
int tz_write(const char *path, const tz_entry_in *entries, size_t n, herr *e);

#endif

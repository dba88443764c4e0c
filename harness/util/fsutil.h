/* File-system helpers with the durability the runner relies on: atomic replace
 * (write a temporary, fsync, rename, fsync the directory) and recursive create/remove. */
#ifndef MDH_FSUTIL_H
#define MDH_FSUTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness/util/herr.h"

/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, herr *e);
/* rm -rf; a missing path is fine. */
int fs_remove_tree(const char *path, herr *e);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
/* Whole file into a NUL-terminated buffer (caller frees); *len may be NULL. */
char *fs_read_file(const char *path, size_t *len, herr *e);
/* fs_read_file refusing a file of more than max_bytes (checked before reading when the size is
 * known, and again after, for files that grow): "<path>: file is larger than the N-byte limit". */
char *fs_read_file_max(const char *path, size_t max_bytes, size_t *len, herr *e);
/* Replaces `path` atomically with `data`: readers see the old or the new file, never a part. */
int fs_write_atomic(const char *path, const void *data, size_t len, herr *e);
/* rename() followed by an fsync of the target's directory, so the rename survives power loss. */
int fs_rename_durable(const char *from, const char *to, herr *e);
/* fsync a file or directory by path. */
int fs_fsync_path(const char *path, herr *e);
/* fsync every file and directory below (and including) path, so that a later rename can
 * publish the whole tree after a power loss. */
int fs_fsync_tree(const char *path, herr *e);

/* Exclusive lock on a lock file (created if missing), as an open-file-description lock:
 * the kernel drops it when the descriptor is closed or the holder dies, it works on NFS, and
 * another process can test it without taking it. Returns 1 (taken, *fd to close later),
 * 0 (held by someone else; when waiting: `stop` became non-zero while waiting), or -1. */
int fs_lock(const char *path, bool wait, volatile sig_atomic_t *stop, int *fd, herr *e);
/* Whether another process holds the lock on path (never takes it; false when missing). */
bool fs_lock_held(const char *path);

/* "a" + "/" + "b" into a new string. */
char *fs_join(const char *a, const char *b);
/* The directory part of a path ("." when there is none), newly allocated. */
char *fs_dirname(const char *path);

#endif

/* fsutil: POSIX file operations with error messages that name the path. */
#include "harness/util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *fs_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (!s) abort();
  memcpy(s, a, la);
  size_t n = la;
  if (la > 0 && a[la - 1] != '/') s[n++] = '/';
  memcpy(s + n, b, lb + 1);
  return s;
}

char *fs_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

bool fs_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

bool fs_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_mkdir_p(const char *path, herr *e) {
  char *p = strdup(path);
  if (!p) abort();
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      herr_errno(e, "cannot create directory %s", p);
      free(p);
      return -1;
    }
    *s = '/';
  }
  int rc = 0;
  if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = herr_errno(e, "cannot create directory %s", p);
  else if (!fs_is_dir(p)) rc = herr_set(e, "%s exists and is not a directory", p);
  free(p);
  return rc;
}

int fs_remove_tree(const char *path, herr *e) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : herr_errno(e, "cannot stat %s", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) != 0 && errno != ENOENT) return herr_errno(e, "cannot remove %s", path);
    return 0;
  }
  DIR *d = opendir(path);
  if (!d) return herr_errno(e, "cannot open directory %s", path);
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *child = fs_join(path, de->d_name);
    rc = fs_remove_tree(child, e);
    free(child);
  }
  closedir(d);
  if (rc == 0 && rmdir(path) != 0 && errno != ENOENT) rc = herr_errno(e, "cannot remove %s", path);
  return rc;
}

char *fs_read_file(const char *path, size_t *len, herr *e) { return fs_read_file_max(path, SIZE_MAX, len, e); }

static char *too_large(const char *path, size_t max_bytes, herr *e) {
  herr_set(e, "%s: file is larger than the %zu-byte limit", path, max_bytes);
  return NULL;
}

char *fs_read_file_max(const char *path, size_t max_bytes, size_t *len, herr *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    herr_errno(e, "cannot open %s", path);
    return NULL;
  }
  /* One byte past the limit is read, so that a file growing after fstat is caught too; the
   * cap stays below SIZE_MAX so that cap + 1 (room for the NUL) cannot wrap. */
  const size_t want = max_bytes < SIZE_MAX - 1 ? max_bytes + 1 : SIZE_MAX - 1;
  size_t cap = 4096, n = 0;
  struct stat sb;
  if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
    if ((unsigned long long)sb.st_size > max_bytes) {
      close(fd);
      return too_large(path, max_bytes, e);
    }
    if ((unsigned long long)sb.st_size + 1 > cap) cap = (size_t)sb.st_size + 1;
  }
  if (cap > want) cap = want;
  char *buf = malloc(cap + 1);
  if (!buf) abort();
  for (;;) {
    if (n == cap) {
      if (cap >= want) break;
      cap = cap > want / 2 ? want : cap * 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) abort();
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      herr_errno(e, "cannot read %s", path);
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (n > max_bytes) {
    free(buf);
    return too_large(path, max_bytes, e);
  }
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

int fs_fsync_path(const char *path, herr *e) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return herr_errno(e, "cannot open %s to sync it", path);
  int rc = 0;
  if (fsync(fd) != 0 && errno != EINVAL) rc = herr_errno(e, "cannot sync %s", path);
  close(fd);
  return rc;
}

int fs_rename_durable(const char *from, const char *to, herr *e) {
  if (rename(from, to) != 0) return herr_errno(e, "cannot rename %s to %s", from, to);
  char *dir = fs_dirname(to);
  int rc = fs_fsync_path(dir, e);
  free(dir);
  return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, herr *e) {
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp) abort();
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) {
    herr_errno(e, "cannot create %s", tmp);
    free(tmp);
    return -1;
  }
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      herr_errno(e, "cannot write %s", tmp);
      close(fd);
      unlink(tmp);
      free(tmp);
      return -1;
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    herr_errno(e, "cannot flush %s", tmp);
    unlink(tmp);
    free(tmp);
    return -1;
  }
  int rc = fs_rename_durable(tmp, path, e);
  if (rc != 0) unlink(tmp);
  free(tmp);
  return rc;
}

int fs_fsync_tree(const char *path, herr *e) {
  struct stat st;
  if (lstat(path, &st) != 0) return herr_errno(e, "cannot stat %s", path);
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (!d) return herr_errno(e, "cannot open directory %s", path);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      char *child = fs_join(path, de->d_name);
      rc = fs_fsync_tree(child, e);
      free(child);
    }
    closedir(d);
    if (rc) return rc;
  } else if (!S_ISREG(st.st_mode)) {
    return 0; /* links and special files carry no data of their own */
  }
  return fs_fsync_path(path, e);
}

static struct flock whole_file_lock(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
  return fl;
}

int fs_lock(const char *path, bool wait, volatile sig_atomic_t *stop, int *fd, herr *e) {
  *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (*fd < 0) return herr_errno(e, "cannot open lock %s", path);
  struct flock fl = whole_file_lock(F_WRLCK);
  /* Waiting polls rather than blocking in F_OFD_SETLKW: a signal that lands just before a
   * blocking call would otherwise be missed and the wait would never end. */
  for (;;) {
    if (fcntl(*fd, F_OFD_SETLK, &fl) == 0) return 1;
    int err = errno;
    bool busy = err == EAGAIN || err == EACCES || err == EINTR;
    if (busy && wait && !(stop && *stop)) {
      nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
      continue;
    }
    close(*fd);
    *fd = -1;
    if (busy) return 0;
    errno = err;
    return herr_errno(e, "cannot lock %s", path);
  }
}

bool fs_lock_held(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock fl = whole_file_lock(F_WRLCK);
  bool held = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  close(fd);
  return held;
}

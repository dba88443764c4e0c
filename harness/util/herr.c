/* herr: formatted error messages with context prefixes. */
#include "harness/util/herr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages longer than the buffer are cut on purpose: the head of a message says the most. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

int herr_set(herr *e, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

int herr_prefix(herr *e, const char *fmt, ...) {
  if (!e) return -1;
  char head[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  char old[HERR_MSG_MAX];
  memcpy(old, e->msg, sizeof old);
  snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
  return -1;
}

int herr_errno(herr *e, const char *fmt, ...) {
  int saved = errno;
  if (!e) return -1;
  char head[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  snprintf(e->msg, sizeof e->msg, "%s: %s", head, strerror(saved));
  errno = saved;
  return -1;
}

void herr_clear(herr *e) {
  if (e) e->msg[0] = '\0';
}

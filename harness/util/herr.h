/* The harness's error value: functions return 0 / -1 (or NULL) and fill a herr with a
 * readable message that names the file, place and expectation (DESIGN.md: errors). */
#ifndef MDH_HERR_H
#define MDH_HERR_H

#include <stddef.h>

#define HERR_MSG_MAX 8192

typedef struct herr {
  char msg[HERR_MSG_MAX];
} herr;

/* Sets the message (printf-style) and returns -1, so `return herr_set(e, ...)` reads well.
 * `e` may be NULL (the caller does not want the text). */
int herr_set(herr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Puts context in front of an existing message: "loading x.yaml: <old message>". */
int herr_prefix(herr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the message from errno: "<what>: <strerror(errno)>". */
int herr_errno(herr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void herr_clear(herr *e);

#endif

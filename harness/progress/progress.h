/* Progress of long work: a live line on a terminal (label, step/total, rate, ETA), plain log
 * lines at a modest pace when the output is not a terminal (CI logs, files). */
#ifndef MDH_PROGRESS_H
#define MDH_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress;

/* `out` is usually stderr; `live` chooses the terminal mode (see progress_is_terminal). */
progress *progress_new(FILE *out, bool live);
void progress_free(progress *p);
/* Whether `out` is a terminal that can redraw a line (isatty and TERM is not "dumb"). */
bool progress_is_terminal(FILE *out);

/* Starts a task: `label` names who works ("toy_fit-3fa2c1d0"), `what` the task ("fitting"),
 * total its size (0 when unknown). */
void progress_begin(progress *p, const char *label, const char *what, uint64_t total);
void progress_update(progress *p, uint64_t done);
/* Ends the task with a final line: "... 500/500 in 2.3 s (217 it/s)". */
void progress_end(progress *p);
/* Prints a log line without garbling the live line. */
void progress_log(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats seconds as "42s", "3m05s", "2h03m" into buf. */
const char *progress_format_duration(double seconds, char *buf, size_t n);

#endif

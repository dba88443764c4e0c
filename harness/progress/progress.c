/* progress: throttled redraws (10 per second on a terminal, one line every 10 s otherwise). */
#include "harness/progress/progress.h"
#include "harness/util/clock.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct progress {
  FILE *out;
  bool live;
  bool active;     /* a task is running */
  bool line_shown; /* a live line is on screen and must be cleared before other output */
  char label[128];
  char what[128];
  uint64_t total, done;
  double t_start, t_last_draw;
};

bool progress_is_terminal(FILE *out) {
  const char *term = getenv("TERM");
  return isatty(fileno(out)) && term && strcmp(term, "dumb") != 0;
}

progress *progress_new(FILE *out, bool live) {
  progress *p = calloc(1, sizeof *p);
  if (!p) abort();
  p->out = out;
  p->live = live;
  return p;
}

void progress_free(progress *p) {
  if (p && p->line_shown) fputs("\n", p->out);
  free(p);
}

const char *progress_format_duration(double s, char *buf, size_t n) {
  if (s < 0 || s != s) s = 0;
  long t = (long)(s + 0.5);
  if (t < 60)
    snprintf(buf, n, "%lds", t);
  else if (t < 3600)
    snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else
    snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  return buf;
}

static void format_rate(double rate, char *buf, size_t n) {
  if (rate >= 1.0 || rate == 0.0)
    snprintf(buf, n, "%.1f it/s", rate);
  else
    snprintf(buf, n, "%.1f s/it", 1.0 / rate);
}

static void compose(const progress *p, bool final, char *line, size_t n) {
  double elapsed = clock_now_s() - p->t_start;
  double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
  char rate_s[32], t_s[32];
  format_rate(rate, rate_s, sizeof rate_s);
  if (final) {
    progress_format_duration(elapsed, t_s, sizeof t_s);
    if (p->total)
      snprintf(line, n, "[%s] %s %llu/%llu in %s (%s)", p->label, p->what, (unsigned long long)p->done,
               (unsigned long long)p->total, t_s, rate_s);
    else
      snprintf(line, n, "[%s] %s %llu in %s (%s)", p->label, p->what, (unsigned long long)p->done, t_s, rate_s);
    return;
  }
  if (p->total) {
    double left = rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate : 0;
    progress_format_duration(left, t_s, sizeof t_s);
    snprintf(line, n, "[%s] %s %llu/%llu (%3.0f%%) %s ETA %s", p->label, p->what, (unsigned long long)p->done,
             (unsigned long long)p->total, 100.0 * (double)p->done / (double)p->total, rate_s,
             p->done ? t_s : "?");
  } else {
    snprintf(line, n, "[%s] %s %llu %s", p->label, p->what, (unsigned long long)p->done, rate_s);
  }
}

static void draw(progress *p, bool final) {
  char line[512];
  compose(p, final, line, sizeof line);
  if (p->live) {
    fprintf(p->out, "\r\033[K%s", line);
    p->line_shown = true;
    if (final) {
      fputc('\n', p->out);
      p->line_shown = false;
    }
  } else {
    fprintf(p->out, "%s\n", line);
  }
  fflush(p->out);
  p->t_last_draw = clock_now_s();
}

void progress_begin(progress *p, const char *label, const char *what, uint64_t total) {
  snprintf(p->label, sizeof p->label, "%s", label);
  snprintf(p->what, sizeof p->what, "%s", what);
  p->total = total;
  p->done = 0;
  p->active = true;
  p->t_start = clock_now_s();
  p->t_last_draw = p->t_start;
  if (p->live) draw(p, false);
}

void progress_update(progress *p, uint64_t done) {
  if (!p->active) return;
  p->done = done;
  double interval = p->live ? 0.1 : 10.0;
  if (clock_now_s() - p->t_last_draw >= interval) draw(p, false);
}

void progress_end(progress *p) {
  if (!p->active) return;
  draw(p, true);
  p->active = false;
}

void progress_log(progress *p, const char *fmt, ...) {
  if (p->line_shown) {
    fputs("\r\033[K", p->out);
    p->line_shown = false;
  }
  va_list ap;
  va_start(ap, fmt);
  vfprintf(p->out, fmt, ap);
  va_end(ap);
  fputc('\n', p->out);
  if (p->active && p->live) draw(p, false);
  fflush(p->out);
}

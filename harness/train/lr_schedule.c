/* lr_schedule: A1111's piecewise learning-rate spec (LearnRateScheduler) combined with
 * diffusers' get_scheduler shapes (constant, constant_with_warmup, linear, cosine). */
#include "harness/train/lr_schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum lr_kind { LR_CONSTANT, LR_LINEAR, LR_COSINE } lr_kind;

struct lr_schedule {
  size_t n;
  double *rate;
  long long *end; /* last step (1-based, inclusive) of each piece; -1: no end */
  lr_kind kind;
  long long warmup, total;
};

void lr_schedule_free(lr_schedule *s) {
  if (!s) return;
  free(s->rate);
  free(s->end);
  free(s);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
  return s;
}

static int piece_error(herr *e, const char *piece, const char *spec, const char *why) {
  return herr_set(e, "'%s' in the learning-rate schedule '%s': %s; expected RATE or RATE:STEP (e.g. '0.005:100, 1e-3')",
                  piece, spec, why);
}

/* One "RATE[:STEP]" piece (already trimmed and non-empty). */
static int parse_piece(char *piece, const char *spec, double *rate, long long *end, herr *e) {
  char shown[256];
  snprintf(shown, sizeof shown, "%s", piece);
  char *colon = strchr(piece, ':');
  if (colon) *colon = '\0';
  char *rtext = trim(piece), *endp;
  errno = 0;
  *rate = strtod(rtext, &endp);
  if (!*rtext || *endp || errno == ERANGE || !isfinite(*rate)) {
    char why[320];
    snprintf(why, sizeof why, "'%s' is not a number", rtext);
    return piece_error(e, shown, spec, why);
  }
  if (*rate < 0) return piece_error(e, shown, spec, "the rate is negative");
  *end = -1;
  if (!colon) return 0;
  char *stext = trim(colon + 1);
  errno = 0;
  long long step = strtoll(stext, &endp, 10);
  if (!*stext || *endp || errno == ERANGE) {
    char why[320];
    snprintf(why, sizeof why, "'%s' is not a whole step number", stext);
    return piece_error(e, shown, spec, why);
  }
  /* A1111 reads ":-1" as "until the end of training". */
  if (step != -1 && step < 1) return piece_error(e, shown, spec, "the step must be 1 or more (or -1: no end)");
  *end = step;
  return 0;
}

static int parse_spec(const char *spec, lr_schedule *s, herr *e) {
  size_t len = strlen(spec);
  char *buf = malloc(len + 1);
  size_t max_pieces = 1;
  for (const char *p = spec; *p; p++) max_pieces += *p == ',';
  s->rate = malloc(max_pieces * sizeof *s->rate);
  s->end = malloc(max_pieces * sizeof *s->end);
  if (!buf || !s->rate || !s->end) {
    free(buf);
    return herr_set(e, "learning-rate schedule: out of memory");
  }
  memcpy(buf, spec, len + 1);
  int rc = 0;
  char *cur = buf;
  for (;;) {
    char *comma = strchr(cur, ',');
    if (comma) *comma = '\0';
    char *piece = trim(cur);
    if (*piece) { /* empty pieces ("0.005:10, ") are skipped, as A1111 does */
      if (s->n && s->end[s->n - 1] == -1) {
        rc = piece_error(e, piece, spec, "it follows a piece without an end step, which lasts forever");
        break;
      }
      double rate = 0;
      long long end = -1;
      char shown[256];
      snprintf(shown, sizeof shown, "%s", piece);
      if ((rc = parse_piece(piece, spec, &rate, &end, e))) break;
      if (s->n && end != -1 && end <= s->end[s->n - 1]) {
        char why[128];
        snprintf(why, sizeof why, "step %lld does not come after step %lld (steps must increase)", end,
                 s->end[s->n - 1]);
        rc = piece_error(e, shown, spec, why);
        break;
      }
      s->rate[s->n] = rate;
      s->end[s->n] = end;
      s->n++;
    }
    if (!comma) break;
    cur = comma + 1;
  }
  free(buf);
  if (!rc && s->n == 0) rc = herr_set(e, "learning-rate schedule '%s' is empty; expected RATE or RATE:STEP, ...", spec);
  return rc;
}

int lr_schedule_new(const char *spec, const char *kind, long long warmup_steps, long long total_steps,
                    lr_schedule **out, herr *e) {
  *out = NULL;
  if (!spec) return herr_set(e, "learning-rate schedule: no rate given");
  lr_kind k;
  const char *kname = kind ? kind : "constant";
  if (!strcmp(kname, "constant") || !strcmp(kname, "constant_with_warmup"))
    k = LR_CONSTANT;
  else if (!strcmp(kname, "linear"))
    k = LR_LINEAR;
  else if (!strcmp(kname, "cosine"))
    k = LR_COSINE;
  else
    return herr_set(e, "learning-rate schedule kind '%s' is unknown (expected constant, linear or cosine)", kname);
  if (warmup_steps < 0) return herr_set(e, "learning-rate warm-up of %lld steps is negative", warmup_steps);
  if (k != LR_CONSTANT) {
    if (total_steps < 1)
      return herr_set(e, "learning-rate schedule '%s' needs the total number of steps (got %lld)", kname, total_steps);
    if (warmup_steps > total_steps)
      return herr_set(e, "learning-rate warm-up of %lld steps is longer than the %lld training steps", warmup_steps,
                      total_steps);
  }
  lr_schedule *s = calloc(1, sizeof *s);
  if (!s) return herr_set(e, "learning-rate schedule: out of memory");
  s->kind = k;
  s->warmup = warmup_steps;
  s->total = total_steps;
  if (parse_spec(spec, s, e)) {
    lr_schedule_free(s);
    return -1;
  }
  if (s->n > 1 && k != LR_CONSTANT) {
    lr_schedule_free(s);
    return herr_set(e, "learning-rate schedule '%s' has several pieces, which only kind 'constant' allows (got '%s')",
                    spec, kname);
  }
  if (s->n > 1 && warmup_steps > 0) {
    lr_schedule_free(s);
    return herr_set(e, "learning-rate schedule '%s' has several pieces; a warm-up (%lld steps) is not supported with them",
                    spec, warmup_steps);
  }
  *out = s;
  return 0;
}

/* diffusers' LambdaLR factor; the scheduler is stepped after each optimizer step, so
 * optimizer step `step` (1-based) uses lambda(step - 1). */
static double factor(const lr_schedule *s, long long step) {
  long long c = step - 1;
  double w = (double)s->warmup;
  if (c < s->warmup) return (double)c / (w > 1.0 ? w : 1.0);
  double span = (double)(s->total - s->warmup);
  if (span < 1.0) span = 1.0;
  switch (s->kind) {
    case LR_LINEAR: {
      double f = (double)(s->total - c) / span;
      return f > 0.0 ? f : 0.0;
    }
    case LR_COSINE: { /* num_cycles 0.5: one half cosine (rises again past total_steps, as diffusers) */
      double progress = (double)(c - s->warmup) / span;
      double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
      return f > 0.0 ? f : 0.0;
    }
    default: return 1.0;
  }
}

double lr_schedule_at(const lr_schedule *s, long long step) {
  if (step < 1) step = 1;
  /* A1111: a piece's rate holds through its end step, the next piece starts one step later;
   * after the last end the last rate stays (training would have stopped there). */
  size_t i = 0;
  while (i + 1 < s->n && s->end[i] != -1 && step > s->end[i]) i++;
  return s->rate[i] * factor(s, step);
}

long long lr_schedule_last_step(const lr_schedule *s) { return s->end[s->n - 1]; }

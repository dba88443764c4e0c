/* Test predictions of a classify run (artifacts/test_predictions.csv: case_id,label,score) and
 * the check that two runs scored the same cases, which is what makes a paired test valid. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/regress/regress.h"
#include "harness/util/csv.h"

void regress_preds_free(regress_preds *p) {
  for (size_t i = 0; p->ids && i < p->n; i++) free(p->ids[i]);
  free(p->ids);
  free(p->labels);
  free(p->scores);
  *p = (regress_preds){0};
}

int regress_preds_read(const char *path, regress_preds *out, herr *e) {
  *out = (regress_preds){0};
  csv_table *t = csv_read(path, e);
  if (!t) return -1;
  long ci = csv_column(t, "case_id"), li = csv_column(t, "label"), si = csv_column(t, "score");
  int rc = 0;
  if (ci < 0 || li < 0 || si < 0) {
    char *cols = csv_header_list(t);
    rc = herr_set(e, "%s: expected columns case_id, label, score (has %s)", path, cols);
    free(cols);
  }
  if (!rc) {
    out->n = t->nrows;
    out->ids = calloc(t->nrows + 1, sizeof *out->ids);
    out->labels = calloc(t->nrows + 1, sizeof *out->labels);
    out->scores = calloc(t->nrows + 1, sizeof *out->scores);
    if (!out->ids || !out->labels || !out->scores) abort();
  }
  for (size_t r = 0; !rc && r < t->nrows; r++) {
    const char *id = csv_cell(t, r, (size_t)ci), *lab = csv_cell(t, r, (size_t)li), *sc = csv_cell(t, r, (size_t)si);
    char *end;
    errno = 0;
    double score = strtod(sc, &end);
    if (!strcmp(lab, "0") || !strcmp(lab, "1")) {
      out->labels[r] = lab[0] - '0';
    } else {
      rc = herr_set(e, "%s:%zu: label '%s' is not 0 or 1", path, t->line[r], lab);
      break;
    }
    if (!*sc || *end || errno == ERANGE || !isfinite(score)) {
      rc = herr_set(e, "%s:%zu: score '%s' is not a finite number", path, t->line[r], sc);
      break;
    }
    out->scores[r] = score;
    out->ids[r] = strdup(id);
    if (!out->ids[r]) abort();
  }
  csv_free(t);
  if (rc) regress_preds_free(out);
  return rc;
}

static int by_id(const void *x, const void *y, void *ids) {
  char **v = ids;
  return strcmp(v[*(const size_t *)x], v[*(const size_t *)y]);
}

static size_t *sorted_rows(const regress_preds *p) {
  size_t *o = malloc((p->n + 1) * sizeof *o);
  if (!o) abort();
  for (size_t i = 0; i < p->n; i++) o[i] = i;
  qsort_r(o, p->n, sizeof *o, by_id, p->ids);
  return o;
}

int regress_preds_align(const regress_preds *b, const regress_preds *c, double **c_scores, herr *e) {
  *c_scores = NULL;
  if (b->n != c->n) return herr_set(e, "%zu test cases in the baseline, %zu in the current results", b->n, c->n);
  size_t *ob = sorted_rows(b), *oc = sorted_rows(c);
  double *out = malloc((b->n + 1) * sizeof *out);
  if (!out) abort();
  int rc = 0;
  for (size_t i = 0; i < b->n && !rc; i++) {
    size_t rb = ob[i], rcur = oc[i];
    if (i + 1 < b->n && !strcmp(b->ids[rb], b->ids[ob[i + 1]]))
      rc = herr_set(e, "case '%s' appears twice in the baseline", b->ids[rb]);
    else if (strcmp(b->ids[rb], c->ids[rcur]))
      rc = herr_set(e, "the test cases differ (baseline has '%s' where the current results have '%s')",
                    b->ids[rb], c->ids[rcur]);
    else if (b->labels[rb] != c->labels[rcur])
      rc = herr_set(e, "case '%s' has label %d in the baseline, %d in the current results", b->ids[rb],
                    b->labels[rb], c->labels[rcur]);
    else
      out[rb] = c->scores[rcur];
  }
  free(ob);
  free(oc);
  if (rc)
    free(out);
  else
    *c_scores = out;
  return rc;
}

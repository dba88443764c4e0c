/* picai_labels' clinical marksheet: case_csPCa (YES/NO) per <patient_id>_<study_id>, the
 * case-level truth the lesion delineations are checked against. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/util/csv.h"
#include "harness/volume/picai.h"

typedef struct mark {
  char id[64];
  int positive;
} mark;

struct picai_marksheet {
  mark *v;
  size_t n;
};

static int cmp_mark(const void *a, const void *b) {
  return strcmp(((const mark *)a)->id, ((const mark *)b)->id);
}

picai_marksheet *picai_marksheet_read(const char *path, herr *e) {
  herr_clear(e);
  csv_table *t = csv_read(path, e);
  if (!t) return NULL;
  long pc = csv_column(t, "patient_id"), sc = csv_column(t, "study_id"), cc = csv_column(t, "case_csPCa");
  if (cc < 0) {
    csv_free(t);
    return NULL;
  }
  if (pc < 0 || sc < 0) {
    char *cols = csv_header_list(t);
    herr_set(e, "%s: no patient_id/study_id columns (columns: %s)", path, cols);
    free(cols);
    csv_free(t);
    return NULL;
  }
  picai_marksheet *m = calloc(1, sizeof *m);
  m->v = calloc(t->nrows ? t->nrows : 1, sizeof *m->v);
  if (!m || !m->v) abort();
  for (size_t r = 0; r < t->nrows; r++) {
    const char *val = csv_cell(t, r, (size_t)cc);
    int pos = !strcasecmp(val, "YES") ? 1 : !strcasecmp(val, "NO") ? 0 : -1;
    if (pos < 0) {
      herr_set(e, "%s:%zu: case_csPCa '%s', expected YES or NO", path, t->line[r], val);
      picai_marksheet_free(m);
      csv_free(t);
      return NULL;
    }
    mark *k = &m->v[m->n++];
    snprintf(k->id, sizeof k->id, "%s_%s", csv_cell(t, r, (size_t)pc), csv_cell(t, r, (size_t)sc));
    k->positive = pos;
  }
  csv_free(t);
  if (m->n) qsort(m->v, m->n, sizeof *m->v, cmp_mark);
  return m;
}

int picai_marksheet_lookup(const picai_marksheet *m, const char *case_id) {
  if (!m || !m->n) return -1;
  mark key;
  snprintf(key.id, sizeof key.id, "%s", case_id);
  const mark *f = bsearch(&key, m->v, m->n, sizeof *m->v, cmp_mark);
  return f ? f->positive : -1;
}

size_t picai_marksheet_size(const picai_marksheet *m) {
  return m ? m->n : 0;
}

void picai_marksheet_free(picai_marksheet *m) {
  if (!m) return;
  free(m->v);
  free(m);
}

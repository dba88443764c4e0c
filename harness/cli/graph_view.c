/* graph_view: one table layout for `plan` and `status`. */
#include "harness/cli/graph_view.h"

#include <stdlib.h>
#include <string.h>

#include "harness/runner/runner.h"
#include "harness/util/strbuf.h"

/* "kind-1234567890abcdef" -> "kind-12345678": enough to tell stages apart on screen. */
static void append_short_id(strbuf *sb, const char *id) {
  const char *dash = strrchr(id, '-');
  size_t n = dash ? (size_t)(dash - id) + 9 : strlen(id);
  sb_append_n(sb, id, n < strlen(id) ? n : strlen(id));
}

static graph_view *alloc_view(size_t nstages, size_t npoints) {
  graph_view *v = calloc(1, sizeof *v);
  if (!v) abort();
  v->nstages = nstages;
  v->npoints = npoints;
  v->ids = calloc(nstages + 1, sizeof *v->ids);
  v->kinds = calloc(nstages + 1, sizeof *v->kinds);
  v->variants = calloc(nstages + 1, sizeof *v->variants);
  v->uses = calloc(nstages + 1, sizeof *v->uses);
  v->upstream = calloc(nstages + 1, sizeof *v->upstream);
  v->labels = calloc(npoints + 1, sizeof *v->labels);
  v->point_stages = calloc(npoints + 1, sizeof *v->point_stages);
  v->point_nstages = calloc(npoints + 1, sizeof *v->point_nstages);
  if (!v->upstream || !v->ids || !v->kinds || !v->variants || !v->uses || !v->labels || !v->point_stages || !v->point_nstages)
    abort();
  return v;
}

graph_view *graph_view_from_plan(const plan *p, const char *results_dir) {
  graph_view *v = alloc_view(p->nstages, p->npoints);
  v->name = p->name;
  v->results_dir = results_dir;
  for (size_t i = 0; i < p->nstages; i++) {
    v->ids[i] = p->stages[i].id;
    v->kinds[i] = p->stages[i].kind->name;
    v->variants[i] = p->stages[i].variant;
    v->uses[i] = p->stages[i].npoints;
    strbuf sb = STRBUF_INIT;
    for (size_t d = 0; d < p->stages[i].ndeps; d++) {
      if (d) sb_append(&sb, ", ");
      append_short_id(&sb, p->stages[p->stages[i].deps[d]].id);
    }
    v->upstream[i] = sb_take(&sb);
  }
  for (size_t i = 0; i < p->npoints; i++) {
    v->labels[i] = p->points[i].label;
    v->point_nstages[i] = p->point_nstages[i];
    v->point_stages[i] = malloc((p->point_nstages[i] + 1) * sizeof **v->point_stages);
    if (!v->point_stages[i]) abort();
    memcpy(v->point_stages[i], p->point_stages[i], p->point_nstages[i] * sizeof **v->point_stages);
  }
  v->states = runner_states(p, results_dir);
  return v;
}

/* Stage ids sorted for binary search: sweeps have tens of thousands of stages. */
typedef struct id_entry {
  const char *id;
  size_t index;
} id_entry;

static int cmp_id(const void *a, const void *b) {
  return strcmp(((const id_entry *)a)->id, ((const id_entry *)b)->id);
}

static long find_id(const id_entry *sorted, size_t n, const char *id) {
  id_entry key = {id, 0};
  const id_entry *hit = bsearch(&key, sorted, n, sizeof *sorted, cmp_id);
  return hit ? (long)hit->index : -1;
}

graph_view *graph_view_from_index(const index_data *d, const char *results_dir, herr *e) {
  graph_view *v = alloc_view(d->nstages, d->npoints);
  v->name = d->name;
  v->results_dir = results_dir;
  v->states = calloc(d->nstages + 1, sizeof *v->states);
  id_entry *sorted = calloc(d->nstages + 1, sizeof *sorted);
  if (!v->states || !sorted) abort();
  for (size_t i = 0; i < d->nstages; i++) sorted[i] = (id_entry){d->stage_ids[i], i};
  qsort(sorted, d->nstages, sizeof *sorted, cmp_id);
  /* The index lists stages upstream first, so one pass settles "blocked" from the real edges. */
  for (size_t i = 0; i < d->nstages; i++) {
    v->ids[i] = d->stage_ids[i];
    v->kinds[i] = d->stage_kinds[i];
    v->variants[i] = d->stage_variants[i];
    v->states[i] = stage_dir_state(results_dir, d->stage_ids[i]);
    strbuf sb = STRBUF_INIT;
    char *list = strdup(d->stage_deps[i]);
    size_t k = 0;
    for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save), k++) {
      const char *eq = strchr(tok, '=');
      const char *dep = eq ? eq + 1 : tok;
      if (k) sb_append(&sb, ", ");
      append_short_id(&sb, dep);
      long di = find_id(sorted, d->nstages, dep);
      if (di >= 0 && (size_t)di < i && v->states[i] == STAGE_PENDING &&
          (v->states[di] == STAGE_FAILED || v->states[di] == STAGE_BLOCKED))
        v->states[i] = STAGE_BLOCKED;
    }
    free(list);
    v->upstream[i] = sb_take(&sb);
  }
  for (size_t i = 0; i < d->npoints; i++) {
    v->labels[i] = d->point_labels[i];
    char *list = strdup(d->point_stages[i]);
    size_t cap = 8;
    v->point_stages[i] = malloc(cap * sizeof **v->point_stages);
    if (!list || !v->point_stages[i]) abort();
    for (char *save = NULL, *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      long k = find_id(sorted, d->nstages, tok);
      if (k < 0) {
        herr_set(e, "%s/index.h5: point %zu uses stage %s, which the index does not list", results_dir, i, tok);
        free(list);
        free(sorted);
        v->npoints = i + 1;
        graph_view_free(v);
        return NULL;
      }
      if (v->point_nstages[i] == cap) {
        cap *= 2;
        v->point_stages[i] = realloc(v->point_stages[i], cap * sizeof **v->point_stages);
        if (!v->point_stages[i]) abort();
      }
      v->point_stages[i][v->point_nstages[i]++] = (size_t)k;
      v->uses[k]++;
    }
    free(list);
  }
  free(sorted);
  return v;
}

void graph_view_free(graph_view *v) {
  if (!v) return;
  for (size_t i = 0; i < v->npoints; i++) free(v->point_stages[i]);
  free(v->point_stages);
  free(v->point_nstages);
  free(v->labels);
  free(v->ids);
  free(v->kinds);
  free(v->variants);
  free(v->uses);
  for (size_t i = 0; i < v->nstages; i++) free(v->upstream[i]);
  free(v->upstream);
  free(v->states);
  free(v);
}

static const char *point_state(const graph_view *v, size_t i, char *buf, size_t n) {
  size_t done = 0, failed = 0, running = 0, blocked = 0;
  for (size_t k = 0; k < v->point_nstages[i]; k++) {
    stage_state s = v->states[v->point_stages[i][k]];
    done += s == STAGE_COMPLETE;
    failed += s == STAGE_FAILED;
    running += s == STAGE_RUNNING;
    blocked += s == STAGE_BLOCKED;
  }
  if (failed || blocked)
    snprintf(buf, n, "failed");
  else if (done == v->point_nstages[i])
    snprintf(buf, n, "complete");
  else if (running)
    snprintf(buf, n, "running %zu/%zu", done, v->point_nstages[i]);
  else if (done)
    snprintf(buf, n, "partial %zu/%zu", done, v->point_nstages[i]);
  else
    snprintf(buf, n, "pending");
  return buf;
}

void graph_view_print(const graph_view *v, FILE *out, bool list_points, bool list_stages) {
  size_t count[5] = {0};
  for (size_t i = 0; i < v->nstages; i++) count[v->states[i]]++;
  fprintf(out, "%s: %zu point%s, %zu unique stage%s; results in %s\n", v->name, v->npoints,
          v->npoints == 1 ? "" : "s", v->nstages, v->nstages == 1 ? "" : "s", v->results_dir);
  /* Stage counts per kind, in order of first appearance. */
  fprintf(out, "stage kinds:");
  for (size_t i = 0; i < v->nstages; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(v->kinds[i], v->kinds[j]);
    if (seen) continue;
    size_t n = 0, uses = 0;
    for (size_t j = 0; j < v->nstages; j++)
      if (!strcmp(v->kinds[i], v->kinds[j])) {
        n++;
        uses += v->uses[j];
      }
    fprintf(out, " %s %zu (used %zu times)", v->kinds[i], n, uses);
  }
  fputc('\n', out);
  if (list_points) {
    fprintf(out, "\npoints\n  %5s  %-14s  %6s  %s\n", "#", "state", "stages", "settings");
    for (size_t i = 0; i < v->npoints; i++) {
      char st[64];
      fprintf(out, "  %5zu  %-14s  %6zu  %s\n", i, point_state(v, i, st, sizeof st), v->point_nstages[i], v->labels[i]);
    }
  }
  if (list_stages) {
    int vw = 12; /* the variant column fits the longest variant ("real_synthetic-r4") */
    for (size_t i = 0; i < v->nstages; i++)
      if ((int)strlen(v->variants[i]) > vw) vw = (int)strlen(v->variants[i]);
    fprintf(out, "\nstages (upstream first)\n  %-9s  %-32s  %-*s  %6s  %s\n", "state", "stage", vw, "variant", "points",
            "upstream");
    for (size_t i = 0; i < v->nstages; i++) {
      fprintf(out, "  %-9s  %-32s  %-*s  %6zu  %s\n", stage_state_name(v->states[i]), v->ids[i], vw,
              *v->variants[i] ? v->variants[i] : "-", v->uses[i], *v->upstream[i] ? v->upstream[i] : "-");
      if (v->states[i] == STAGE_FAILED) {
        char *msg = stage_dir_failure(v->results_dir, v->ids[i]);
        if (msg) fprintf(out, "             error: %s\n", msg);
        free(msg);
      }
    }
  }
  fprintf(out, "\n%zu stage%s: %zu complete, %zu pending, %zu running, %zu failed, %zu blocked\n", v->nstages,
          v->nstages == 1 ? "" : "s", count[STAGE_COMPLETE], count[STAGE_PENDING], count[STAGE_RUNNING],
          count[STAGE_FAILED], count[STAGE_BLOCKED]);
}

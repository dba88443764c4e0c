/* preflight: before a run starts, every stage that still has to run checks that its outside
 * inputs exist, so a missing model or dataset stops the run at once instead of hours in. */
#include <stdlib.h>
#include <string.h>

#include "harness/runner/plan.h"
#include "harness/runner/stage_dir.h"

size_t plan_preflight(const plan *p, const char *results_dir, sch_report *rep) {
  size_t before = rep->len;
  for (size_t i = 0; i < p->nstages; i++) {
    const plan_stage *s = &p->stages[i];
    if (!s->kind->preflight || (results_dir && stage_dir_complete(results_dir, s->id))) continue;
    herr e = {{0}};
    if (!s->kind->preflight(cfg_map_get(s->spec, "config"), s->variant, &e)) continue;
    bool seen = false;
    for (size_t k = before; k < rep->len && !seen; k++) seen = !strcmp(rep->msgs[k], e.msg);
    if (!seen) sch_report_add(rep, "%s", e.msg);
  }
  return rep->len - before;
}

/* toy_eval: scores every fitted toy model on the held-out data and names the best one, the
 * way the evaluate stage compares classifier arms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/toy_schema.h"
#include "harness/runner/stage.h"

static int toy_eval_run(stage_ctx *ctx, herr *e) {
  const char *metric;
  if (cfg_str_at(stage_config(ctx), "toy.eval.metric", &metric, e)) return -1;
  const cfg_node *models = cfg_get(stage_config(ctx), "toy.fit.models");
  if (!models || models->kind != CFG_SEQ) return herr_set(e, "toy_eval: toy.fit.models is missing from its config");
  store_reader *data = stage_dep_store(ctx, "data", e);
  if (!data) return -1;
  double *x = NULL, *y = NULL;
  size_t nd, dims[8], n;
  if (store_get_array_f64(data, "x_test", &x, &nd, dims, e)) return -1;
  n = dims[0];
  if (store_get_array_f64(data, "y_test", &y, &nd, dims, e) || dims[0] != n) {
    free(x);
    free(y);
    return herr_set(e, "toy_eval: x_test and y_test of the data stage disagree");
  }
  int rc = 0;
  double best = INFINITY;
  const char *best_model = NULL;
  for (size_t m = 0; m < models->len && rc == 0; m++) {
    const char *model = models->items[m]->str;
    char role[64];
    snprintf(role, sizeof role, "fit.%s", model);
    store_reader *fit = stage_dep_store(ctx, role, e);
    double *w = NULL;
    size_t pdims[8];
    if (!fit || store_get_array_f64(fit, "params", &w, &nd, pdims, e)) {
      rc = -1;
      break;
    }
    double err = 0;
    for (size_t i = 0; i < n; i++) {
      double pred = 0, phi = 1.0;
      for (size_t k = 0; k < pdims[0]; k++, phi *= x[i]) pred += w[k] * phi;
      err += strcmp(metric, "mae") == 0 ? fabs(pred - y[i]) : (pred - y[i]) * (pred - y[i]);
    }
    err /= (double)n;
    free(w);
    char name[128];
    snprintf(name, sizeof name, "test/%s/%s", model, metric);
    rc = store_put_metric(stage_store(ctx), name, err, e);
    if (err < best) {
      best = err;
      best_model = model;
    }
  }
  if (rc == 0) rc = store_put_metric(stage_store(ctx), "best", best, e);
  if (rc == 0) rc = store_put_metric_str(stage_store(ctx), "best_model", best_model, e);
  if (rc == 0) stage_log(ctx, "best model: %s (test %s %.4g)", best_model, metric, best);
  free(x);
  free(y);
  return rc;
}

static int toy_eval_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  const cfg_node *models = cfg_get(point, "toy.fit.models");
  size_t nm = models ? models->len : 0;
  stage_dep *d = calloc(nm + 1, sizeof *d);
  if (!d) abort();
  d[0] = (stage_dep){.role = "data", .kind = "toy_data", .variant = strdup("")};
  /* Roles must outlive this call: they point into the (long-lived) point config's strings
   * through a static table of role names per model. */
  static const char *const roles[] = {"fit.constant", "fit.linear", "fit.quadratic"};
  static const char *const names[] = {"constant", "linear", "quadratic"};
  for (size_t m = 0; m < nm; m++) {
    const char *role = NULL;
    for (size_t k = 0; k < 3; k++)
      if (!strcmp(models->items[m]->str, names[k])) role = roles[k];
    if (!role) {
      stage_deps_free(d, m + 1);
      return herr_set(e, "toy_eval: unknown model '%s'", models->items[m]->str);
    }
    d[m + 1] = (stage_dep){.role = role, .kind = "toy_fit", .variant = strdup(models->items[m]->str)};
  }
  *out = d;
  *n = nm + 1;
  return 0;
}

static const char *const toy_eval_keys[] = {"toy.eval", "toy.fit.models", NULL};

const stage_kind toy_eval_stage = {
    .name = "toy_eval",
    .version = 1,
    .summary = "scores the fitted toy models on the test data",
    .section = "toy",
    .schema = &toy_section_schema,
    .keys = toy_eval_keys,
    .seeded = false, /* its upstream identities already carry the seed */
    .deps = toy_eval_deps,
    .run = toy_eval_run,
};

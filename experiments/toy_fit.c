/* toy_fit: fits one model (the stage's variant) to the training data by minibatch SGD,
 * logging the loss per step, with progress and cancellation like a real training stage. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experiments/toy_schema.h"
#include "harness/runner/stage.h"
#include "harness/util/rng.h"

static void features(double x, int np, double *phi) {
  phi[0] = 1.0;
  if (np > 1) phi[1] = x;
  if (np > 2) phi[2] = x * x;
}

static int toy_fit_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  const char *model = stage_variant(ctx);
  int np = toy_model_params(model);
  if (np < 0) return herr_set(e, "toy_fit: unknown model '%s'", model);
  double lr;
  long long steps, batch, delay_ms;
  const char *fail_model;
  if (cfg_double_at(c, "toy.fit.lr", &lr, e) || cfg_int_at(c, "toy.fit.steps", &steps, e) ||
      cfg_int_at(c, "toy.fit.batch", &batch, e) || cfg_int_at(c, "toy.fit.step_delay_ms", &delay_ms, e) ||
      cfg_str_at(c, "toy.fit.fail_model", &fail_model, e))
    return -1;
  store_reader *data = stage_dep_store(ctx, "data", e);
  if (!data) return -1;
  double *x = NULL, *y = NULL;
  size_t nd, dims[8], n;
  if (store_get_array_f64(data, "x_train", &x, &nd, dims, e)) return -1;
  n = dims[0];
  if (store_get_array_f64(data, "y_train", &y, &nd, dims, e) || dims[0] != n) {
    free(x);
    free(y);
    return herr_set(e, "toy_fit: x_train and y_train of the data stage disagree");
  }
  const char *columns[] = {"step", "loss"};
  store_series *loss_series = store_series_create(stage_store(ctx), "loss", columns, 2, e);
  int rc = loss_series ? 0 : -1;
  double w[TOY_MAX_PARAMS] = {0}, phi[TOY_MAX_PARAMS];
  rng r;
  rng_seed(&r, stage_seed(ctx), 0);
  stage_progress_begin(ctx, "fitting", (uint64_t)steps);
  for (long long s = 1; s <= steps && rc == 0; s++) {
    if (stage_cancelled(ctx)) {
      rc = herr_set(e, "interrupted");
      break;
    }
    if (*fail_model && !strcmp(fail_model, model) && s == steps / 2 + 1) {
      rc = herr_set(e, "toy_fit: injected failure for model '%s' at step %lld (toy.fit.fail_model)", model, s);
      break;
    }
    double grad[TOY_MAX_PARAMS] = {0}, loss = 0;
    for (long long b = 0; b < batch; b++) {
      size_t i = (size_t)rng_below(&r, n);
      features(x[i], np, phi);
      double pred = 0;
      for (int k = 0; k < np; k++) pred += w[k] * phi[k];
      double err = pred - y[i];
      loss += err * err;
      for (int k = 0; k < np; k++) grad[k] += 2.0 * err * phi[k];
    }
    for (int k = 0; k < np; k++) w[k] -= lr * grad[k] / (double)batch;
    loss /= (double)batch;
    if (!isfinite(loss)) {
      rc = herr_set(e, "toy_fit: loss became %g at step %lld (learning rate %g too large?)", loss, s, lr);
      break;
    }
    double row[2] = {(double)s, loss};
    rc = store_series_append(loss_series, row, e);
    stage_progress_update(ctx, (uint64_t)s);
    if (delay_ms > 0) nanosleep(&(struct timespec){delay_ms / 1000, (delay_ms % 1000) * 1000000L}, NULL);
  }
  stage_progress_end(ctx);
  if (rc == 0) rc = store_series_close(loss_series, e);
  if (rc == 0) {
    double mse = 0;
    for (size_t i = 0; i < n; i++) {
      features(x[i], np, phi);
      double pred = 0;
      for (int k = 0; k < np; k++) pred += w[k] * phi[k];
      mse += (pred - y[i]) * (pred - y[i]);
    }
    size_t pd[1] = {(size_t)np};
    rc = store_put_array(stage_store(ctx), "params", STORE_F64, 1, pd, w, e);
    if (!rc) rc = store_put_metric(stage_store(ctx), "train_mse", mse / (double)n, e);
  }
  free(x);
  free(y);
  return rc;
}

/* As a target, toy_fit runs once per listed model. */
static int toy_fit_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  const cfg_node *models = cfg_get(point, "toy.fit.models");
  if (!models || models->kind != CFG_SEQ) return herr_set(e, "toy_fit: toy.fit.models is not a list");
  *out = calloc(models->len + 1, sizeof **out);
  if (!*out) abort();
  for (size_t i = 0; i < models->len; i++) (*out)[i] = strdup(models->items[i]->str);
  *n = models->len;
  return 0;
}

static int toy_fit_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  *out = calloc(1, sizeof **out);
  if (!*out) abort();
  (*out)[0] = (stage_dep){.role = "data", .kind = "toy_data", .variant = strdup("")};
  *n = 1;
  return 0;
}

/* The model list is not part of the identity: adding a model must not re-run the others. */
static const char *const toy_fit_keys[] = {"toy.fit.lr", "toy.fit.steps", "toy.fit.batch", NULL};
static const char *const toy_fit_runtime_keys[] = {"toy.fit.step_delay_ms", "toy.fit.fail_model", NULL};

const stage_kind toy_fit_stage = {
    .name = "toy_fit",
    .version = 1,
    .summary = "fits one toy model (the variant) by minibatch SGD",
    .section = "toy",
    .schema = &toy_section_schema,
    .keys = toy_fit_keys,
    .runtime_keys = toy_fit_runtime_keys,
    .seeded = true,
    .variants = toy_fit_variants,
    .deps = toy_fit_deps,
    .run = toy_fit_run,
};

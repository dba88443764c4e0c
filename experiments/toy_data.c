/* toy_data: draws a noisy 1-D regression set (x uniform in [-1, 1]) from the stage seed and
 * stores it as arrays, plus a CSV artifact to exercise the artifact path. */
#include <stdio.h>
#include <stdlib.h>

#include "experiments/toy_schema.h"
#include "harness/runner/stage.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"

static int toy_data_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  long long n_train, n_test;
  double noise, slope, intercept, curvature;
  if (cfg_int_at(c, "toy.data.n_train", &n_train, e) || cfg_int_at(c, "toy.data.n_test", &n_test, e) ||
      cfg_double_at(c, "toy.data.noise", &noise, e) || cfg_double_at(c, "toy.data.slope", &slope, e) ||
      cfg_double_at(c, "toy.data.intercept", &intercept, e) || cfg_double_at(c, "toy.data.curvature", &curvature, e))
    return -1;
  size_t n = (size_t)(n_train + n_test);
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  if (!x || !y) abort();
  rng r;
  rng_seed(&r, stage_seed(ctx), 0);
  for (size_t i = 0; i < n; i++) {
    x[i] = 2.0 * rng_uniform(&r) - 1.0;
    y[i] = intercept + slope * x[i] + curvature * x[i] * x[i] + noise * rng_normal(&r);
  }
  store_writer *w = stage_store(ctx);
  size_t dtrain[1] = {(size_t)n_train}, dtest[1] = {(size_t)n_test};
  int rc = store_put_array(w, "x_train", STORE_F64, 1, dtrain, x, e);
  if (!rc) rc = store_put_array(w, "y_train", STORE_F64, 1, dtrain, y, e);
  if (!rc) rc = store_put_array(w, "x_test", STORE_F64, 1, dtest, x + n_train, e);
  if (!rc) rc = store_put_array(w, "y_test", STORE_F64, 1, dtest, y + n_train, e);
  if (!rc) rc = store_put_metric(w, "n_train", (double)n_train, e);
  if (!rc) rc = store_put_metric(w, "n_test", (double)n_test, e);
  if (!rc) {
    char *csv = fs_join(stage_artifact_dir(ctx), "train.csv");
    FILE *f = fopen(csv, "w");
    if (!f) {
      rc = herr_errno(e, "cannot write %s", csv);
    } else {
      fprintf(f, "x,y\n");
      for (long long i = 0; i < n_train; i++) fprintf(f, "%.17g,%.17g\n", x[i], y[i]);
      if (fclose(f) != 0) rc = herr_errno(e, "cannot write %s", csv);
    }
    free(csv);
    if (!rc) rc = store_put_artifact(w, "train_csv", "artifacts/train.csv", e);
  }
  free(x);
  free(y);
  return rc;
}

static const char *const toy_data_keys[] = {"toy.data", NULL};

const stage_kind toy_data_stage = {
    .name = "toy_data",
    .version = 1,
    .summary = "draws the toy regression data set",
    .section = "toy",
    .schema = &toy_section_schema,
    .keys = toy_data_keys,
    .seeded = true,
    .run = toy_data_run,
};

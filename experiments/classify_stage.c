/* classify_stage: one training of the downstream ResNet-18 for one arm and run (variant
 * "<arm>-r<k>"): the arm's real cases and synthetic images, the paper's augmentation on the
 * device, validation AUC every val_every steps with the best checkpoint kept, then the test
 * split scored with the best weights. Writes the curves, the test predictions and
 * artifacts/best.safetensors (torchvision layout, usable by `harness predict`). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/auc.h"
#include "experiments/classify_images.h"
#include "experiments/classify_net.h"
#include "experiments/classify_schema.h"
#include "experiments/data_stage.h"
#include "harness/runner/stage.h"
#include "harness/train/lr_schedule.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"
#include "harness/util/strbuf.h"

typedef struct clf_settings {
  classify_arm arm;
  long long run, input_size, batch, steps, val_every, warmup, eval_batch;
  double pos_fraction, lr;
  const char *weights, *filter, *lr_kind;
  shim_resnet_opt_config opt;
  shim_augment_config aug;
  int augment;
  float mean[3], std[3];
} clf_settings;

static int read_triple(const cfg_node *c, const char *key, float out[3], bool positive, herr *e) {
  const cfg_node *s = cfg_get(c, key);
  if (!s || s->kind != CFG_SEQ || s->len != 3) return herr_set(e, "%s: expected a list of three numbers", key);
  for (size_t i = 0; i < 3; i++) {
    double v;
    if (cfg_as_double(s->items[i], &v, e)) return herr_prefix(e, "%s: ", key);
    if (positive && !(v > 0)) return herr_set(e, "%s: item %zu must be positive, got %g", key, i, v);
    out[i] = (float)v;
  }
  return 0;
}

static int read_settings(stage_ctx *ctx, clf_settings *s, herr *e) {
  const cfg_node *c = stage_config(ctx);
  memset(s, 0, sizeof *s);
  char arm[CLASSIFY_ARM_NAME_MAX];
  if (classify_variant_parse(stage_variant(ctx), arm, &s->run, e)) return -1;
  classify_arm *arms;
  size_t na;
  if (classify_read_arms(c, &arms, &na, NULL, e)) return -1;
  size_t k = 0;
  while (k < na && strcmp(arms[k].name, arm)) k++;
  if (k == na) {
    free(arms);
    return herr_set(e, "classify: arm '%s' (variant %s) is not in classify.arms", arm, stage_variant(ctx));
  }
  s->arm = arms[k];
  free(arms);
  const char *optimizer;
  if (cfg_int_at(c, "classify.input_size", &s->input_size, e) || cfg_int_at(c, "classify.batch", &s->batch, e) ||
      cfg_int_at(c, "classify.steps", &s->steps, e) || cfg_int_at(c, "classify.val_every", &s->val_every, e) ||
      cfg_int_at(c, "classify.warmup", &s->warmup, e) || cfg_int_at(c, "classify.eval_batch", &s->eval_batch, e) ||
      cfg_double_at(c, "classify.synthetic_pos_fraction", &s->pos_fraction, e) ||
      cfg_double_at(c, "classify.lr", &s->lr, e) || cfg_str_at(c, "classify.weights", &s->weights, e) ||
      cfg_str_at(c, "classify.resize_filter", &s->filter, e) ||
      cfg_str_at(c, "classify.lr_schedule", &s->lr_kind, e) || cfg_str_at(c, "classify.optimizer", &optimizer, e) ||
      cfg_double_at(c, "classify.weight_decay", &s->opt.weight_decay, e) ||
      cfg_double_at(c, "classify.beta1", &s->opt.beta1, e) || cfg_double_at(c, "classify.beta2", &s->opt.beta2, e) ||
      cfg_double_at(c, "classify.eps", &s->opt.eps, e) || cfg_double_at(c, "classify.momentum", &s->opt.momentum, e) ||
      classify_read_augment(c, &s->aug, &s->augment, e) ||
      read_triple(c, "classify.normalize.mean", s->mean, false, e) ||
      read_triple(c, "classify.normalize.std", s->std, true, e))
    return -1;
  snprintf(s->opt.optimizer, sizeof s->opt.optimizer, "%s", optimizer);
  s->opt.lr = s->lr;
  return 0;
}

/* ---- the training set ---- */

typedef struct clf_sets {
  clf_images img;                 /* train, then val, then test */
  size_t n_train, n_val, n_test;  /* counts in that order */
  size_t n_real, n_synthetic;
  char **test_ids;                /* case ids of the test images */
} clf_sets;

static void clf_sets_free(clf_sets *t) {
  clf_images_free(&t->img);
  for (size_t i = 0; t->test_ids && i < t->n_test; i++) free(t->test_ids[i]);
  free(t->test_ids);
}

static int add_cases(stage_ctx *ctx, clf_sets *t, const ds_manifest *m, const size_t *idx, size_t n, uint64_t *done,
                     herr *e) {
  for (size_t i = 0; i < n; i++) {
    if (stage_cancelled(ctx)) return herr_set(e, "interrupted");
    const ds_case *k = &m->cases[idx[i]];
    char *path = ds_case_path(m, k->image);
    int rc = clf_images_add_png(&t->img, path, k->label, e);
    free(path);
    if (rc) return herr_prefix(e, "%s/manifest.csv: case '%s': ", m->dir, k->case_id);
    stage_progress_update(ctx, ++*done);
  }
  return 0;
}

/* The first `want` of each label of the train split, in the proportion of the split. */
static int pick_real(const ds_manifest *m, long long want, size_t **idx, size_t *n, herr *e) {
  size_t *neg, *pos, nn, np;
  *idx = NULL;
  *n = 0;
  if (ds_select(m, "train", 0, &neg, &nn, e)) return -1;
  if (ds_select(m, "train", 1, &pos, &np, e)) {
    free(neg);
    return -1;
  }
  int rc = 0;
  if ((size_t)want > nn + np)
    rc = herr_set(e, "classify: the arm asks for %lld real cases but the train split has %zu", want, nn + np);
  if (!rc && want > 0) {
    size_t kp = (size_t)llround((double)want * (double)np / (double)(nn + np)), kn = (size_t)want - kp;
    if (kp > np) kp = np, kn = (size_t)want - kp;
    if (kn > nn) kn = nn, kp = (size_t)want - kn;
    *idx = malloc((size_t)want * sizeof **idx);
    if (!*idx) abort();
    memcpy(*idx, neg, kn * sizeof *neg);
    memcpy(*idx + kn, pos, kp * sizeof *pos);
    *n = (size_t)want;
  }
  free(neg);
  free(pos);
  return rc;
}

static int read_synthetic(stage_ctx *ctx, const char *role, int label, size_t want, ds_manifest *m, size_t **idx,
                          herr *e) {
  const char *dir = stage_dep_dir(ctx, role, e);
  if (!dir) return -1;
  char *art = fs_join(dir, "artifacts");
  int rc = ds_manifest_read(art, m, e);
  free(art);
  size_t n = 0;
  *idx = NULL;
  /* A generate stage marks every image split "train". */
  if (!rc) rc = ds_select(m, "train", -1, idx, &n, e);
  if (rc) return -1;
  if (n < want)
    return herr_set(e, "classify: %s/manifest.csv has %zu images; the arm needs %zu of label %d", m->dir, n, want,
                    label);
  for (size_t i = 0; i < want; i++)
    if (m->cases[(*idx)[i]].label != label)
      return herr_set(e, "classify: %s/manifest.csv: case '%s' has label %d, expected %d (%s)", m->dir,
                      m->cases[(*idx)[i]].case_id, m->cases[(*idx)[i]].label, label, role);
  return 0;
}

static int load_sets(stage_ctx *ctx, const clf_settings *s, clf_sets *t, herr *e) {
  memset(t, 0, sizeof *t);
  img_filter f;
  if (img_filter_parse(s->filter, &f, e)) return herr_prefix(e, "classify.resize_filter: ");
  clf_images_init(&t->img, (int)s->input_size, f);
  ds_manifest data = {0}, syn[2] = {{0}, {0}};
  size_t *real = NULL, *val = NULL, *test = NULL, *sidx[2] = {NULL, NULL}, nreal = 0;
  size_t nsyn[2] = {0, 0};
  int rc = data_stage_dataset(ctx, "data", &data, e);
  if (!rc) rc = pick_real(&data, s->arm.real, &real, &nreal, e);
  if (!rc) rc = ds_select(&data, "val", -1, &val, &t->n_val, e);
  if (!rc) rc = ds_select(&data, "test", -1, &test, &t->n_test, e);
  if (!rc && (t->n_val == 0 || t->n_test == 0))
    rc = herr_set(e, "classify: the data stage's val and test splits must not be empty (val %zu, test %zu)",
                  t->n_val, t->n_test);
  if (!rc && s->arm.synthetic > 0) {
    nsyn[1] = (size_t)llround((double)s->arm.synthetic * s->pos_fraction);
    nsyn[0] = (size_t)s->arm.synthetic - nsyn[1];
    static const char *const roles[2] = {"synthetic_neg", "synthetic_pos"};
    for (int l = 0; l < 2 && !rc; l++) rc = read_synthetic(ctx, roles[l], l, nsyn[l], &syn[l], &sidx[l], e);
  }
  t->n_real = nreal;
  t->n_synthetic = nsyn[0] + nsyn[1];
  t->n_train = t->n_real + t->n_synthetic;
  if (!rc) {
    uint64_t done = 0;
    stage_progress_begin(ctx, "loading images", t->n_train + t->n_val + t->n_test);
    rc = add_cases(ctx, t, &data, real, nreal, &done, e);
    for (int l = 0; l < 2 && !rc; l++) rc = add_cases(ctx, t, &syn[l], sidx[l], nsyn[l], &done, e);
    if (!rc) rc = add_cases(ctx, t, &data, val, t->n_val, &done, e);
    if (!rc) rc = add_cases(ctx, t, &data, test, t->n_test, &done, e);
    stage_progress_end(ctx);
  }
  if (!rc) {
    t->test_ids = calloc(t->n_test + 1, sizeof *t->test_ids);
    if (!t->test_ids) abort();
    for (size_t i = 0; i < t->n_test; i++) t->test_ids[i] = strdup(data.cases[test[i]].case_id);
  }
  free(real);
  free(val);
  free(test);
  for (int l = 0; l < 2; l++) {
    free(sidx[l]);
    ds_manifest_free(&syn[l]);
  }
  ds_manifest_free(&data);
  return rc;
}

/* ---- training ---- */

typedef struct clf_result {
  double best_auc;
  long long best_step;
  double train_seconds;
} clf_result;

static void shuffle(size_t *a, size_t n, rng *r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(r, i), t = a[i - 1];
    a[i - 1] = a[j], a[j] = t;
  }
}

static int validate(shim_resnet *m, const clf_settings *s, const clf_sets *t, double *auc, herr *e) {
  size_t *idx = malloc(t->n_val * sizeof *idx);
  double *scores = malloc(t->n_val * sizeof *scores);
  int *labels = malloc(t->n_val * sizeof *labels);
  if (!idx || !scores || !labels) abort();
  for (size_t i = 0; i < t->n_val; i++) idx[i] = t->n_train + i, labels[i] = t->img.labels[t->n_train + i];
  int rc = clf_score(m, &t->img, idx, t->n_val, (int)s->eval_batch, s->mean, s->std, scores, e);
  if (!rc && auc_compute(scores, labels, t->n_val, auc, e)) rc = herr_prefix(e, "classify: validation AUC: ");
  free(idx);
  free(scores);
  free(labels);
  return rc;
}

static int train(stage_ctx *ctx, shim_resnet *m, const clf_settings *s, const clf_sets *t, clf_state *best,
                 clf_result *res, herr *e) {
  static const char *const train_cols[] = {"step", "loss", "lr"};
  static const char *const val_cols[] = {"step", "auc"};
  store_series *ts = store_series_create(stage_store(ctx), "train", train_cols, 3, e);
  store_series *vs = ts ? store_series_create(stage_store(ctx), "val", val_cols, 2, e) : NULL;
  if (!vs) return -1;
  char spec[64];
  snprintf(spec, sizeof spec, "%.17g", s->lr);
  lr_schedule *sched;
  if (lr_schedule_new(spec, s->lr_kind, s->warmup, s->steps, &sched, e)) return herr_prefix(e, "classify.lr: ");
  int B = (int)s->batch, S = (int)s->input_size;
  size_t per = 3 * (size_t)S * (size_t)S;
  float *x = malloc((size_t)B * per * sizeof *x), *xa = malloc((size_t)B * per * sizeof *xa);
  size_t *perm = malloc(t->n_train * sizeof *perm), *bidx = malloc((size_t)B * sizeof *bidx);
  int64_t *labels = malloc((size_t)B * sizeof *labels);
  if (!x || !xa || !perm || !bidx || !labels) abort();
  for (size_t i = 0; i < t->n_train; i++) perm[i] = i;
  rng order, augr;
  rng_seed(&order, stage_seed(ctx), 1);
  rng_seed(&augr, stage_seed(ctx), 2);
  shuffle(perm, t->n_train, &order);
  size_t pos = 0;
  int rc = 0;
  shim_err err;
  res->best_auc = -1;
  res->best_step = 0;
  res->train_seconds = 0;
  stage_progress_begin(ctx, "training", (uint64_t)s->steps);
  for (long long step = 1; step <= s->steps && !rc; step++) {
    if (stage_cancelled(ctx)) {
      rc = herr_set(e, "interrupted");
      break;
    }
    double t0 = clock_now_s();
    for (int b = 0; b < B; b++) {
      if (pos == t->n_train) shuffle(perm, t->n_train, &order), pos = 0;
      bidx[b] = perm[pos++];
      labels[b] = t->img.labels[bidx[b]];
    }
    clf_images_batch(&t->img, bidx, B, x);
    uint64_t aug_seed = rng_next(&augr);
    float *in = x;
    if (s->augment) {
      if (shim_augment(&s->aug, stage_device(ctx), x, B, S, S, aug_seed, xa, &err) != SHIM_OK) {
        rc = herr_set(e, "classify: augmentation at step %lld: %s", step, err.msg);
        break;
      }
      in = xa;
    }
    clf_normalize(in, B, S, s->mean, s->std);
    double lr = lr_schedule_at(sched, step), loss;
    if (shim_resnet_train_step(m, in, labels, B, S, S, lr, &loss, &err) != SHIM_OK) {
      rc = herr_set(e, "classify: training step %lld: %s", step, err.msg);
      break;
    }
    res->train_seconds += clock_now_s() - t0;
    if (!isfinite(loss)) {
      rc = herr_set(e, "classify: the training loss became %g at step %lld (classify.lr %g too large?)", loss, step,
                    s->lr);
      break;
    }
    rc = store_series_append(ts, (double[]){(double)step, loss, lr}, e);
    if (!rc && (step % s->val_every == 0 || step == s->steps)) {
      double auc;
      rc = validate(m, s, t, &auc, e);
      if (!rc) rc = store_series_append(vs, (double[]){(double)step, auc}, e);
      if (!rc && auc > res->best_auc) {
        res->best_auc = auc;
        res->best_step = step;
        rc = clf_state_get(m, best, e);
      }
      if (!rc) stage_log(ctx, "step %lld: loss %.4f, validation AUC %.4f (best %.4f at step %lld)", step, loss, auc,
                         res->best_auc, res->best_step);
    }
    stage_progress_update(ctx, (uint64_t)step);
  }
  stage_progress_end(ctx);
  if (!rc) rc = store_series_close(ts, e);
  if (!rc) rc = store_series_close(vs, e);
  lr_schedule_free(sched);
  free(x);
  free(xa);
  free(perm);
  free(bidx);
  free(labels);
  return rc;
}

/* ---- outputs ---- */

static int write_predictions(stage_ctx *ctx, const clf_sets *t, const double *scores, herr *e) {
  strbuf sb = STRBUF_INIT;
  sb_append(&sb, "case_id,label,score\n");
  int *labels = malloc((t->n_test + 1) * sizeof *labels);
  if (!labels) abort();
  for (size_t i = 0; i < t->n_test; i++) {
    labels[i] = t->img.labels[t->n_train + t->n_val + i];
    sb_appendf(&sb, "%s,%d,%.17g\n", t->test_ids[i], labels[i], scores[i]);
  }
  char *path = fs_join(stage_artifact_dir(ctx), "test_predictions.csv");
  int rc = fs_write_atomic(path, sb_str(&sb), strlen(sb_str(&sb)), e);
  free(path);
  sb_free(&sb);
  store_writer *w = stage_store(ctx);
  size_t dims[1] = {t->n_test};
  if (!rc) rc = store_put_array(w, "test_scores", STORE_F64, 1, dims, scores, e);
  if (!rc) rc = store_put_array(w, "test_labels", STORE_I32, 1, dims, labels, e);
  if (!rc) rc = store_put_artifact(w, "test_predictions", "artifacts/test_predictions.csv", e);
  double auc = NAN;
  if (!rc && auc_compute(scores, labels, t->n_test, &auc, e)) rc = herr_prefix(e, "classify: test AUC: ");
  if (!rc) rc = store_put_metric(w, "test_auc", auc, e);
  if (!rc) stage_log(ctx, "test AUC %.4f on %zu cases", auc, t->n_test);
  free(labels);
  return rc;
}

static int write_checkpoint(stage_ctx *ctx, const clf_settings *s, const clf_state *best, herr *e) {
  char size[32], mean[96], std[96];
  snprintf(size, sizeof size, "%lld", s->input_size);
  snprintf(mean, sizeof mean, "%.9g,%.9g,%.9g", s->mean[0], s->mean[1], s->mean[2]);
  snprintf(std, sizeof std, "%.9g,%.9g,%.9g", s->std[0], s->std[1], s->std[2]);
  const char *keys[] = {CLF_META_INPUT_SIZE, CLF_META_MEAN, CLF_META_STD, CLF_META_FILTER};
  const char *values[] = {size, mean, std, s->filter};
  char *path = fs_join(stage_artifact_dir(ctx), "best.safetensors");
  int rc = clf_state_write(best, path, keys, values, 4, e);
  free(path);
  if (!rc) rc = store_put_artifact(stage_store(ctx), "best_checkpoint", "artifacts/best.safetensors", e);
  return rc;
}

static int classify_run(stage_ctx *ctx, herr *e) {
  clf_settings s;
  if (read_settings(ctx, &s, e)) return -1;
  clf_sets t;
  int rc = load_sets(ctx, &s, &t, e);
  if (!rc && t.n_train == 0) rc = herr_set(e, "classify: arm '%s' has no training images", s.arm.name);
  stage_log(ctx, "arm %s run %lld: %zu real + %zu synthetic training images, %zu val, %zu test", s.arm.name, s.run,
            t.n_real, t.n_synthetic, t.n_val, t.n_test);
  shim_resnet *m = NULL;
  shim_err err;
  if (!rc) rc = clf_net_new(s.weights, stage_seed(ctx), stage_device(ctx), &m, e);
  if (!rc && shim_resnet_set_optimizer(m, &s.opt, &err) != SHIM_OK)
    rc = herr_set(e, "classify.optimizer: %s", err.msg);
  clf_state best = {0};
  clf_result res = {0};
  if (!rc) rc = train(ctx, m, &s, &t, &best, &res, e);
  if (!rc) rc = clf_state_set(m, &best, e);
  double *scores = NULL;
  if (!rc) {
    scores = malloc((t.n_test + 1) * sizeof *scores);
    size_t *idx = malloc((t.n_test + 1) * sizeof *idx);
    if (!scores || !idx) abort();
    for (size_t i = 0; i < t.n_test; i++) idx[i] = t.n_train + t.n_val + i;
    rc = clf_score(m, &t.img, idx, t.n_test, (int)s.eval_batch, s.mean, s.std, scores, e);
    free(idx);
  }
  if (!rc) rc = write_predictions(ctx, &t, scores, e);
  if (!rc) rc = write_checkpoint(ctx, &s, &best, e);
  store_writer *w = stage_store(ctx);
  double ips = res.train_seconds > 0 ? (double)s.steps * (double)s.batch / res.train_seconds : 0;
  if (!rc)
    stage_log(ctx, "trained %lld steps of %lld images in %.2f s: %.2f images/s (augmentation included)", s.steps,
              s.batch, res.train_seconds, ips);
  if (!rc) rc = store_put_metric(w, "best_val_auc", res.best_auc, e);
  if (!rc) rc = store_put_metric(w, "best_step", (double)res.best_step, e);
  if (!rc) rc = store_put_metric(w, "n_real", (double)t.n_real, e);
  if (!rc) rc = store_put_metric(w, "n_synthetic", (double)t.n_synthetic, e);
  if (!rc) rc = store_put_metric(w, "n_val", (double)t.n_val, e);
  if (!rc) rc = store_put_metric(w, "n_test", (double)t.n_test, e);
  if (!rc) rc = store_put_metric(w, "images_per_second", ips, e);
  if (!rc) rc = store_put_metric(w, "run", (double)s.run, e);
  if (!rc) rc = store_put_metric_str(w, "arm", s.arm.name, e);
  free(scores);
  clf_state_free(&best);
  shim_resnet_free(m);
  clf_sets_free(&t);
  return rc;
}

/* ---- planning ---- */

static int classify_variants(const cfg_node *point, char ***out, size_t *n, herr *e) {
  classify_arm *arms;
  size_t na;
  long long runs;
  if (classify_read_arms(point, &arms, &na, &runs, e)) return -1;
  *out = calloc(na * (size_t)runs + 1, sizeof **out);
  if (!*out) abort();
  *n = 0;
  for (size_t a = 0; a < na; a++)
    for (long long k = 0; k < runs; k++) {
      char buf[CLASSIFY_ARM_NAME_MAX + 24];
      classify_variant_name(arms[a].name, k, buf, sizeof buf);
      (*out)[(*n)++] = strdup(buf);
    }
  free(arms);
  return 0;
}

static int classify_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  char arm[CLASSIFY_ARM_NAME_MAX];
  long long run;
  classify_arm *arms;
  size_t na;
  if (classify_variant_parse(variant, arm, &run, e) || classify_read_arms(point, &arms, &na, NULL, e)) return -1;
  long long synthetic = -1;
  for (size_t a = 0; a < na; a++)
    if (!strcmp(arms[a].name, arm)) synthetic = arms[a].synthetic;
  free(arms);
  if (synthetic < 0) return herr_set(e, "classify: arm '%s' is not in classify.arms", arm);
  stage_dep *d = calloc(3, sizeof *d);
  if (!d) abort();
  d[0] = (stage_dep){.role = "data", .kind = "data", .variant = strdup("")};
  *n = 1;
  if (synthetic > 0) {
    d[1] = (stage_dep){.role = "synthetic_neg", .kind = "generate", .variant = strdup("neg")};
    d[2] = (stage_dep){.role = "synthetic_pos", .kind = "generate", .variant = strdup("pos")};
    *n = 3;
  }
  *out = d;
  return 0;
}

/* classify.runs only sets how many variants there are (more runs must not re-run the first
 * ones); the whole arms map is in the identity because the planner can only substitute the full
 * variant ("<arm>-r<k>") into a key path. */
static const char *const classify_keys[] = {
    "classify.arms",      "classify.synthetic_pos_fraction", "classify.weights",  "classify.input_size",
    "classify.resize_filter", "classify.optimizer",          "classify.lr",       "classify.lr_schedule",
    "classify.warmup",    "classify.weight_decay",           "classify.beta1",    "classify.beta2",
    "classify.eps",       "classify.momentum",               "classify.batch",    "classify.steps",
    "classify.val_every", "classify.augment",                "classify.normalize", NULL};
static const char *const classify_runtime_keys[] = {"classify.eval_batch", NULL};

const stage_kind classify_stage = {
    .name = "classify",
    .version = 1,
    .summary = "trains the ResNet-18 csPCa classifier for one arm and run, scores the test split",
    .section = "classify",
    .schema = &classify_section_schema,
    .keys = classify_keys,
    .runtime_keys = classify_runtime_keys,
    .seeded = true,
    .variants = classify_variants,
    .deps = classify_deps,
    .run = classify_run,
};

/* classify_net: resnet18 construction from files, state copies and checkpoints, scoring. */
#include "experiments/classify_net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/safetensors.h"
#include "harness/model/weights_view.h"

int clf_net_new(const char *weights, uint64_t seed, const char *device, shim_resnet **out, herr *e) {
  shim_resnet_config cfg = {.num_classes = 2, .seed = seed};
  shim_exec exec = {.device = device, .dtype = SHIM_F32};
  shim_err err;
  if (!weights || !weights[0]) {
    if (shim_resnet_new(&cfg, NULL, 0, &exec, out, &err) != SHIM_OK) return herr_set(e, "resnet18: %s", err.msg);
    return 0;
  }
  st_file *f = st_open(weights, e);
  if (!f) return -1;
  shim_tensor_view *views = NULL;
  size_t n = 0;
  int rc = wv_from_safetensors(f, NULL, &views, &n, e);
  if (!rc && shim_resnet_new(&cfg, views, n, &exec, out, &err) != SHIM_OK)
    rc = herr_set(e, "%s: %s", weights, err.msg);
  wv_free(views);
  st_close(f);
  return rc;
}

static size_t view_bytes(const shim_tensor_view *v) {
  size_t n = 1;
  for (int d = 0; d < v->ndim; d++) n *= (size_t)v->shape[d];
  return n * (v->dtype == SHIM_I64 ? 8 : 4);
}

int clf_state_get(const shim_resnet *m, clf_state *s, herr *e) {
  size_t n = shim_resnet_state_count(m);
  shim_err err;
  if (s->v && s->n != n) clf_state_free(s);
  if (!s->v) {
    s->v = calloc(n, sizeof *s->v);
    if (!s->v) abort();
    s->n = n;
    for (size_t i = 0; i < n; i++) {
      shim_tensor_view *v = &s->v[i];
      const char *name;
      if (shim_resnet_state_get(m, i, &name, &v->dtype, &v->ndim, v->shape, NULL, &err) != SHIM_OK)
        return herr_set(e, "resnet18 state: %s", err.msg);
      if (v->dtype != SHIM_F32 && v->dtype != SHIM_I64)
        return herr_set(e, "resnet18 state: tensor '%s' has an unexpected dtype", name);
      v->name = strdup(name);
      v->data = malloc(view_bytes(v) + 1);
      if (!v->name || !v->data) abort();
    }
  }
  for (size_t i = 0; i < n; i++)
    if (shim_resnet_state_get(m, i, NULL, NULL, NULL, NULL, (void *)s->v[i].data, &err) != SHIM_OK)
      return herr_set(e, "resnet18 state: %s", err.msg);
  return 0;
}

int clf_state_set(shim_resnet *m, const clf_state *s, herr *e) {
  shim_err err;
  if (shim_resnet_set_state(m, s->v, s->n, &err) != SHIM_OK) return herr_set(e, "resnet18 state: %s", err.msg);
  return 0;
}

int clf_state_write(const clf_state *s, const char *path, const char *const *keys, const char *const *values,
                    size_t n_meta, herr *e) {
  st_tensor *t = calloc(s->n + 1, sizeof *t);
  if (!t) abort();
  for (size_t i = 0; i < s->n; i++) {
    const shim_tensor_view *v = &s->v[i];
    t[i] = (st_tensor){.name = v->name, .dtype = v->dtype == SHIM_I64 ? ST_I64 : ST_F32, .ndim = v->ndim,
                       .data = v->data, .nbytes = view_bytes(v)};
    for (int d = 0; d < v->ndim; d++) t[i].shape[d] = v->shape[d];
  }
  int rc = st_write(path, t, s->n, keys, values, n_meta, e);
  free(t);
  return rc;
}

void clf_state_free(clf_state *s) {
  for (size_t i = 0; s->v && i < s->n; i++) {
    free((void *)s->v[i].name);
    free((void *)s->v[i].data);
  }
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

double clf_prob1(float logit0, float logit1) {
  double d = (double)logit1 - (double)logit0;
  return d >= 0 ? 1.0 / (1.0 + exp(-d)) : exp(d) / (1.0 + exp(d));
}

int clf_score(shim_resnet *m, const clf_images *c, const size_t *idx, size_t n, int eval_batch, const float mean[3],
              const float std[3], double *scores, herr *e) {
  int S = c->size;
  size_t per = 3 * (size_t)S * (size_t)S;
  int B = eval_batch;
  float *x = malloc((size_t)B * per * sizeof *x), *logits = malloc((size_t)B * 2 * sizeof *logits);
  if (!x || !logits) abort();
  int rc = 0;
  shim_err err;
  for (size_t i = 0; i < n && !rc; i += (size_t)B) {
    int b = (int)(n - i < (size_t)B ? n - i : (size_t)B);
    clf_images_batch(c, idx + i, b, x);
    clf_normalize(x, b, S, mean, std);
    if (shim_resnet_forward(m, x, b, S, S, 0, logits, &err) != SHIM_OK) {
      rc = herr_set(e, "resnet18 forward: %s", err.msg);
      break;
    }
    for (int k = 0; k < b; k++) {
      if (!isfinite(logits[2 * k]) || !isfinite(logits[2 * k + 1])) {
        rc = herr_set(e, "resnet18 forward: non-finite logits for image %zu", i + (size_t)k);
        break;
      }
      scores[i + (size_t)k] = clf_prob1(logits[2 * k], logits[2 * k + 1]);
    }
  }
  free(x);
  free(logits);
  return rc;
}

/* What the shim's golden tests share: a golden case folder's safetensors files and weight views,
 * float32 / int64 copies of its tensors, the relative L2 check each test applies at its README's
 * tolerance, and a throw-away config.json for the config parsers' error cases. */
#ifndef MDH_TESTS_SHIM_GOLDEN_TENSORS_H
#define MDH_TESTS_SHIM_GOLDEN_TENSORS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "harness/formats/safetensors.h"
#include "harness/model/weights_view.h"
#include "mdh_shim.h"

/* Malloc'ed "<dir>/<name>". */
static inline char *gt_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* <dir>/<name> opened; a failure fails the test with st_open's message. */
static inline st_file *gt_open_st(const char *dir, const char *name) {
  char *p = gt_join(dir, name);
  herr e = {{0}};
  st_file *f = st_open(p, &e);
  if (!f) fail_msg("%s", e.msg);
  free(p);
  return f;
}

/* One model's golden case: golden/<name>/ with its weights, inputs.safetensors and
 * expected.safetensors, and a view of every weight as named in the file. */
typedef struct gt_case {
  char *dir;
  st_file *model, *inputs, *expected;
  shim_tensor_view *views;
  size_t n_views;
} gt_case;

/* Opens golden/<name>/ with weights file `weights` ("model.safetensors", ...); -1 when the case
 * is absent (the test is then skipped by name). Any other failure fails the test. */
static inline int gt_case_open(gt_case *c, const char *name, const char *weights) {
  memset(c, 0, sizeof *c);
  c->dir = golden_path_or_skip(name);
  if (!c->dir) return -1;
  c->model = gt_open_st(c->dir, weights);
  c->inputs = gt_open_st(c->dir, "inputs.safetensors");
  c->expected = gt_open_st(c->dir, "expected.safetensors");
  herr e = {{0}};
  if (wv_from_safetensors(c->model, NULL, &c->views, &c->n_views, &e)) fail_msg("%s", e.msg);
  return 0;
}

static inline void gt_case_close(gt_case *c) {
  wv_free(c->views);
  st_close(c->model);
  st_close(c->inputs);
  st_close(c->expected);
  free(c->dir);
}

/* The index of weight view `name` in c->views; an absent weight fails the test. */
static inline size_t gt_find_view(const gt_case *c, const char *name) {
  for (size_t i = 0; i < c->n_views; i++)
    if (strcmp(c->views[i].name, name) == 0) return i;
  fail_msg("weight '%s' not in the golden checkpoint", name);
  return 0;
}

/* A float32 copy of tensor `name` of `f` (any float dtype; I64, such as integer timesteps,
 * converted). numel and t_out may be NULL. A missing tensor fails the test naming it. */
static inline float *gt_tensor_f32(const st_file *f, const char *name, size_t *numel, const st_tensor **t_out) {
  herr e = {{0}};
  const st_tensor *t = st_expect(f, name, ST_DTYPE_ANY, -1, NULL, &e);
  if (!t) fail_msg("%s", e.msg);
  const size_t n = (size_t)st_numel(t);
  float *out = malloc(n * sizeof *out + 1);
  assert_non_null(out);
  if (t->dtype == ST_I64) {
    for (size_t i = 0; i < n; i++) {
      int64_t v; /* the mapping need not be aligned */
      memcpy(&v, (const char *)t->data + 8 * i, sizeof v);
      out[i] = (float)v;
    }
  } else if (st_to_f32(t, out, &e)) {
    fail_msg("%s", e.msg);
  }
  if (numel) *numel = n;
  if (t_out) *t_out = t;
  return out;
}

/* An int64 copy of I64 tensor `name` of `f` (the mapping need not be aligned); numel and t_out
 * may be NULL. */
static inline int64_t *gt_tensor_i64(const st_file *f, const char *name, size_t *numel, const st_tensor **t_out) {
  herr e = {{0}};
  const st_tensor *t = st_expect(f, name, ST_I64, -1, NULL, &e);
  if (!t) fail_msg("%s", e.msg);
  int64_t *out = malloc(t->nbytes + 1);
  assert_non_null(out);
  memcpy(out, t->data, t->nbytes);
  if (numel) *numel = (size_t)st_numel(t);
  if (t_out) *t_out = t;
  return out;
}

/* ||got - ref|| / ||ref|| (||got - ref|| when ref is all zeros); NaN counts as infinitely far. */
static inline double gt_rel_l2(const float *got, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  double r = sqrt(num / (den > 0 ? den : 1));
  return isnan(r) ? INFINITY : r;
}

/* `got` against tensor `name` of `ref`: the same size and a relative L2 error below tol. The
 * messages name the tensor, after `what` (the run) when it is not NULL. */
static inline void gt_expect_close(const st_file *ref, const char *name, const float *got, size_t numel, double tol,
                                   const char *what) {
  size_t n = 0;
  float *want = gt_tensor_f32(ref, name, &n, NULL);
  assert_int_equal(n, numel);
  double r = gt_rel_l2(got, want, n);
  const char *sep = what ? " " : "";
  if (!what) what = "";
  print_message("%s%s%s: rel err %.3g\n", what, sep, name, r);
  if (!(r < tol)) fail_msg("%s%s%s: relative error %.3g is not below %g", what, sep, name, r, tol);
  free(want);
}

/* Writes `json` as config.json in a fresh folder /tmp/<prefix>XXXXXX; its path goes to path[cap].
 * gt_temp_config_remove removes both. */
static inline void gt_temp_config(const char *prefix, const char *json, char *path, size_t cap) {
  char dir[128];
  snprintf(dir, sizeof dir, "/tmp/%sXXXXXX", prefix);
  assert_non_null(mkdtemp(dir));
  snprintf(path, cap, "%s/config.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
}

/* A config parse of `json` (from file `path`) that must fail: rc is -1 and the message names
 * both `want` and the file. */
static inline void gt_expect_config_error(int rc, const herr *e, const char *json, const char *want,
                                          const char *path) {
  assert_int_equal(rc, -1);
  if (!strstr(e->msg, want) || !strstr(e->msg, path))
    fail_msg("config %s: message '%s' lacks '%s' or the file name", json, e->msg, want);
}

static inline void gt_temp_config_remove(const char *path) {
  unlink(path);
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  rmdir(dir);
}

#endif

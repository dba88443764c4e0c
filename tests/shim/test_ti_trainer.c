/* The textual-inversion trainer (shim_ti_*) against diffusers' examples/textual_inversion on the
 * tiny SD2 pipeline (golden textual_inversion_step: losses, gradient, rows after 3 AdamW steps),
 * and its promises: other rows and the UNet untouched, exact resume, clipping, v-prediction,
 * gradient checkpointing, bf16, loss scaling, and errors naming the offending value. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_tensors.h"
#include "harness/loader/sd_model.h"
#include "harness/util/clock.h"
#include "mdh_shim.h"

#define SEQ 77
#define B 2
#define IMG 32
#define LAT 16
#define CH 4
#define DIM 32
#define NV 4            /* placeholder vectors */
#define FIRST 49408     /* their ids */
#define VOCAB 49412     /* after resize_token_embeddings */
#define INIT_ID 1125    /* "photo", the initializer token */
#define LR 0.005
#define N_LAT (B * CH * LAT * LAT)
#define N_ROWS (NV * DIM)

static const shim_exec cpu_f32 = {.device = "cpu", .dtype = SHIM_F32};
static const shim_exec cpu_bf16 = {.device = "cpu", .dtype = SHIM_BF16};

/* ---- fixture: the golden inputs and a prepared model ---- */

typedef struct ti_case {
  char *dir, *model_dir;
  st_file *inputs, *expected;
  int64_t ids[B * SEQ], ts[B];
  float noise[N_LAT], latents[N_LAT];
  sd_model *m; /* float32, vocab resized, placeholder rows = row INIT_ID */
} ti_case;

static sd_model *load_model(const ti_case *c, const shim_exec *exec) {
  sd_model *m = NULL;
  herr e = {{0}};
  if (sd_model_load(c->model_dir, exec, &m, &e)) fail_msg("sd_model_load(%s): %s", c->model_dir, e.msg);
  shim_err err = {{0}};
  float init[DIM];
  if (shim_clip_text_resize_vocab(m->text_encoder, VOCAB, &err) ||
      shim_clip_text_get_token_rows(m->text_encoder, INIT_ID, 1, init, &err))
    fail_msg("%s", err.msg);
  for (int r = 0; r < NV; r++)
    if (shim_clip_text_set_token_rows(m->text_encoder, FIRST + r, 1, init, &err)) fail_msg("%s", err.msg);
  return m;
}

static void copy_f32(const st_file *f, const char *name, float *out, size_t n) {
  size_t got = 0;
  float *v = gt_tensor_f32(f, name, &got, NULL);
  assert_int_equal(got, n);
  memcpy(out, v, n * sizeof *v);
  free(v);
}

/* latents = (mean + exp(0.5 logvar) * latent_noise) * scaling_factor, in float32 as torch does. */
static void encode_latents(ti_case *c) {
  float *images = gt_tensor_f32(c->inputs, "images", NULL, NULL);
  float *eps = gt_tensor_f32(c->inputs, "latent_noise", NULL, NULL);
  float mean[N_LAT], logvar[N_LAT];
  shim_err err = {{0}};
  if (shim_vae_encode(c->m->vae, images, B, IMG, IMG, mean, logvar, &err)) fail_msg("%s", err.msg);
  const float sf = (float)c->m->scaling_factor;
  for (int i = 0; i < N_LAT; i++) {
    const float std = expf(0.5f * logvar[i]);
    c->latents[i] = (mean[i] + std * eps[i]) * sf;
  }
  free(images);
  free(eps);
}

static int open_case(ti_case *c) {
  memset(c, 0, sizeof *c);
  if (!(c->dir = golden_path_or_skip("textual_inversion_step"))) return -1;
  if (!(c->model_dir = golden_path_or_skip("pipeline_sd2"))) return -1;
  c->inputs = gt_open_st(c->dir, "inputs.safetensors");
  c->expected = gt_open_st(c->dir, "expected.safetensors");
  size_t n = 0;
  int64_t *ids = gt_tensor_i64(c->inputs, "input_ids", &n, NULL);
  assert_int_equal(n, B * SEQ);
  memcpy(c->ids, ids, sizeof c->ids);
  free(ids);
  int64_t *ts = gt_tensor_i64(c->inputs, "timesteps", &n, NULL);
  assert_int_equal(n, B);
  memcpy(c->ts, ts, sizeof c->ts);
  free(ts);
  copy_f32(c->inputs, "noise", c->noise, N_LAT);
  c->m = load_model(c, &cpu_f32);
  encode_latents(c);
  return 0;
}

static void close_case(ti_case *c) {
  if (c->m) sd_model_free(c->m);
  if (c->inputs) st_close(c->inputs);
  if (c->expected) st_close(c->expected);
  free(c->dir);
  free(c->model_dir);
}

static shim_ti_config base_config(const sd_model *m) {
  shim_ti_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.first_row = FIRST;
  cfg.n_rows = NV;
  cfg.noise = m->scheduler;
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.999;
  cfg.eps = 1e-8;
  cfg.weight_decay = 0.0;
  return cfg;
}

static shim_ti_trainer *new_trainer(const sd_model *m, const shim_ti_config *cfg) {
  shim_ti_trainer *t = NULL;
  shim_err err = {{0}};
  if (shim_ti_trainer_new(m->text_encoder, m->unet, cfg, &t, &err)) fail_msg("shim_ti_trainer_new: %s", err.msg);
  return t;
}

/* latents / noise NULL: the case's own. */
static double accumulate_full(shim_ti_trainer *t, const ti_case *c, const float *latents, const float *noise,
                              double grad_scale) {
  double loss = NAN;
  shim_err err = {{0}};
  if (shim_ti_accumulate(t, latents ? latents : c->latents, B, LAT, LAT, noise ? noise : c->noise, c->ts, c->ids, SEQ,
                         grad_scale, &loss, &err))
    fail_msg("shim_ti_accumulate: %s", err.msg);
  return loss;
}

static double accumulate(shim_ti_trainer *t, const ti_case *c, const float *latents) {
  return accumulate_full(t, c, latents, NULL, 1.0);
}

static void step(shim_ti_trainer *t, shim_grad_clip clip, double clip_value, double *norm) {
  shim_err err = {{0}};
  int skipped = -1;
  if (shim_ti_step(t, LR, clip, clip_value, norm, &skipped, &err)) fail_msg("shim_ti_step: %s", err.msg);
  assert_int_equal(skipped, 0);
}

typedef struct ti_state {
  float rows[N_ROWS], m[N_ROWS], v[N_ROWS];
  int64_t step;
  double scale;
} ti_state;

static void get_state(const shim_ti_trainer *t, ti_state *s) {
  shim_err err = {{0}};
  if (shim_ti_get_state(t, s->rows, s->m, s->v, &s->step, &s->scale, &err)) fail_msg("%s", err.msg);
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

static double rel_diff(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1e-30); }

static void expect_err(int rc, const shim_err *err, const char *needle, const char *what) {
  if (rc != SHIM_E_INVALID) fail_msg("%s: rc %d, expected SHIM_E_INVALID (%s)", what, rc, err->msg);
  if (!strstr(err->msg, needle)) fail_msg("%s: message '%s' does not mention '%s'", what, err->msg, needle);
}

/* ---- 1. the golden case ---- */

static void golden_three_steps_match_diffusers(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  gt_expect_close(c.expected, "latents", c.latents, N_LAT, 1e-5, "vae");
  float noisy[N_LAT];
  shim_err err = {{0}};
  assert_int_equal(shim_ddpm_add_noise(&c.m->scheduler, c.latents, c.noise, c.ts, B, N_LAT / B, noisy, &err), SHIM_OK);
  gt_expect_close(c.expected, "noisy_latents", noisy, N_LAT, 1e-5, "ddpm");

  float rows0[N_ROWS];
  assert_int_equal(shim_clip_text_get_token_rows(c.m->text_encoder, FIRST, NV, rows0, &err), SHIM_OK);
  gt_expect_close(c.expected, "rows_init", rows0, N_ROWS, 1e-7, "setup");
  /* the step-1 forward pieces through the public calls (the placeholder rows are rows_init) */
  static float ehs[B * SEQ * DIM];
  assert_int_equal(shim_clip_text_encode(c.m->text_encoder, c.ids, B, SEQ, 0, ehs, &err), SHIM_OK);
  gt_expect_close(c.expected, "encoder_hidden_states_step1", ehs, B * SEQ * DIM, 1e-5, "step 1");
  float tf[B] = {(float)c.ts[0], (float)c.ts[1]}, pred[N_LAT];
  assert_int_equal(shim_unet_forward(c.m->unet, noisy, B, LAT, LAT, tf, ehs, SEQ, pred, &err), SHIM_OK);
  gt_expect_close(c.expected, "model_pred_step1", pred, N_LAT, 1e-5, "step 1");

  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  double t_total = 0;
  for (int s = 1; s <= 3; s++) {
    char name[32];
    const double t0 = clock_now_s();
    double loss = accumulate(t, &c, NULL);
    snprintf(name, sizeof name, "loss_step%d", s);
    float want = 0;
    copy_f32(c.expected, name, &want, 1);
    print_message("step %d: loss %.9g, diffusers %.9g\n", s, loss, want);
    if (!(rel_diff(loss, want) < 1e-5)) fail_msg("%s: got %.9g, diffusers %.9g", name, loss, (double)want);
    if (s == 1) {
      float g[N_ROWS];
      assert_int_equal(shim_ti_grad(t, g, &err), SHIM_OK);
      gt_expect_close(c.expected, "grad_step1", g, N_ROWS, 1e-4, "step 1");
    }
    step(t, SHIM_CLIP_NONE, 0, NULL);
    t_total += clock_now_s() - t0;
    ti_state st;
    get_state(t, &st);
    assert_int_equal(st.step, s);
    assert_true(st.scale == 1.0);
    snprintf(name, sizeof name, "rows_after_step%d", s);
    float want_rows[N_ROWS];
    copy_f32(c.expected, name, want_rows, N_ROWS);
    double d = max_abs_diff(st.rows, want_rows, N_ROWS);
    print_message("%s: max abs err %.3g\n", name, d);
    if (!(d < 1e-5)) fail_msg("%s: max abs error %.3g", name, d);
    /* the text encoder holds the trained rows */
    float in_model[N_ROWS];
    assert_int_equal(shim_clip_text_get_token_rows(c.m->text_encoder, FIRST, NV, in_model, &err), SHIM_OK);
    assert_memory_equal(in_model, st.rows, sizeof in_model);
  }
  print_message("training step (accumulate + step, B=2, 32x32): %.1f ms, %.2f steps/s\n", 1e3 * t_total / 3,
                3 / t_total);
  shim_ti_trainer_free(t);
  close_case(&c);
}

/* ---- 2. only the placeholder rows change ---- */

static void weight_decay_touches_only_placeholder_rows(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_err err = {{0}};
  const size_t n_all = (size_t)VOCAB * DIM;
  float *before = malloc(n_all * sizeof *before), *after = malloc(n_all * sizeof *after);
  assert_true(before && after);
  assert_int_equal(shim_clip_text_get_token_rows(c.m->text_encoder, 0, VOCAB, before, &err), SHIM_OK);
  float tf[B] = {(float)c.ts[0], (float)c.ts[1]}, ctx[B * SEQ * DIM];
  for (int i = 0; i < B * SEQ * DIM; i++) ctx[i] = sinf(0.37f * (float)i);
  float out0[N_LAT], out1[N_LAT];
  assert_int_equal(shim_unet_forward(c.m->unet, c.latents, B, LAT, LAT, tf, ctx, SEQ, out0, &err), SHIM_OK);

  shim_ti_config cfg = base_config(c.m);
  cfg.weight_decay = 0.01;
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  float g[N_ROWS];
  accumulate(t, &c, NULL);
  assert_int_equal(shim_ti_grad(t, g, &err), SHIM_OK);
  step(t, SHIM_CLIP_NONE, 0, NULL);
  /* step 1 by hand: decay, then m/(sqrt(v)+eps) with both bias corrections */
  ti_state st;
  get_state(t, &st);
  const float *p0 = before + (size_t)FIRST * DIM;
  for (int i = 0; i < N_ROWS; i++) {
    double m = 0.1 * g[i], v = 0.001 * (double)g[i] * g[i];
    double want = p0[i] * (1 - LR * 0.01) - LR / 0.1 * m / (sqrt(v) / sqrt(0.001) + 1e-8);
    if (fabs(st.rows[i] - want) > 1e-6) fail_msg("row value %d after step 1: %.9g, by hand %.9g", i, st.rows[i], want);
  }
  for (int s = 0; s < 2; s++) {
    accumulate(t, &c, NULL);
    step(t, SHIM_CLIP_NONE, 0, NULL);
  }
  assert_int_equal(shim_clip_text_get_token_rows(c.m->text_encoder, 0, VOCAB, after, &err), SHIM_OK);
  assert_memory_equal(before, after, (size_t)FIRST * DIM * sizeof *before);
  get_state(t, &st);
  assert_memory_equal(after + (size_t)FIRST * DIM, st.rows, sizeof st.rows);
  assert_true(max_abs_diff(st.rows, p0, N_ROWS) > 1e-3); /* the placeholders did move */
  assert_int_equal(shim_unet_forward(c.m->unet, c.latents, B, LAT, LAT, tf, ctx, SEQ, out1, &err), SHIM_OK);
  assert_memory_equal(out0, out1, sizeof out0);
  shim_ti_trainer_free(t);
  free(before);
  free(after);
  close_case(&c);
}

/* ---- 3. resume ---- */

static void resumed_run_is_bit_identical(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  cfg.weight_decay = 0.01;
  double loss_a[4], loss_b[4];
  ti_state a, mid, b;
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  for (int s = 0; s < 4; s++) {
    loss_a[s] = accumulate(t, &c, NULL);
    step(t, SHIM_CLIP_NONE, 0, NULL);
  }
  get_state(t, &a);
  shim_ti_trainer_free(t);
  sd_model_free(c.m);

  c.m = load_model(&c, &cpu_f32);
  t = new_trainer(c.m, &cfg);
  for (int s = 0; s < 2; s++) {
    loss_b[s] = accumulate(t, &c, NULL);
    step(t, SHIM_CLIP_NONE, 0, NULL);
  }
  get_state(t, &mid);
  shim_ti_trainer_free(t);
  sd_model_free(c.m);

  c.m = load_model(&c, &cpu_f32); /* placeholder rows back at their initial value */
  t = new_trainer(c.m, &cfg);
  shim_err err = {{0}};
  assert_int_equal(shim_ti_set_state(t, mid.rows, mid.m, mid.v, mid.step, mid.scale, &err), SHIM_OK);
  for (int s = 2; s < 4; s++) {
    loss_b[s] = accumulate(t, &c, NULL);
    step(t, SHIM_CLIP_NONE, 0, NULL);
  }
  get_state(t, &b);
  assert_memory_equal(loss_a, loss_b, sizeof loss_a);
  assert_memory_equal(a.rows, b.rows, sizeof a.rows);
  assert_memory_equal(a.m, b.m, sizeof a.m);
  assert_memory_equal(a.v, b.v, sizeof a.v);
  assert_int_equal(a.step, 4);
  assert_int_equal(b.step, 4);
  assert_true(a.scale == b.scale);
  float in_model[N_ROWS];
  assert_int_equal(shim_clip_text_get_token_rows(c.m->text_encoder, FIRST, NV, in_model, &err), SHIM_OK);
  assert_memory_equal(in_model, b.rows, sizeof in_model);
  shim_ti_trainer_free(t);
  close_case(&c);
}

/* ---- 4. gradient clipping ---- */

/* After one step from a zero state, exp_avg = (1 - beta1) * the (clipped) gradient. */
static void expect_first_moment(const ti_state *st, const float *clipped, const char *what) {
  for (int i = 0; i < N_ROWS; i++) {
    double want = 0.1 * clipped[i];
    if (fabs(st->m[i] - want) > 1e-6 * fabs(want) + 1e-12)
      fail_msg("%s: exp_avg[%d] = %.9g, expected %.9g", what, i, st->m[i], want);
  }
}

static void gradient_clipping_by_value_and_norm(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  shim_err err = {{0}};
  ti_state s0, st;
  get_state(t, &s0);
  float g[N_ROWS], clipped[N_ROWS];
  accumulate(t, &c, NULL);
  assert_int_equal(shim_ti_grad(t, g, &err), SHIM_OK);
  double norm = 0, gmax = 0;
  for (int i = 0; i < N_ROWS; i++) {
    norm += (double)g[i] * g[i];
    gmax = fmax(gmax, fabs(g[i]));
  }
  norm = sqrt(norm);
  print_message("grad norm %.6g, max |g| %.6g\n", norm, gmax);

  /* by norm, active: g * max_norm / (norm + 1e-6) */
  const double max_norm = norm / 4;
  double reported = 0;
  step(t, SHIM_CLIP_NORM, max_norm, &reported);
  if (!(rel_diff(reported, norm) < 1e-6)) fail_msg("reported grad norm %.9g, by hand %.9g", reported, norm);
  get_state(t, &st);
  for (int i = 0; i < N_ROWS; i++) clipped[i] = (float)(g[i] * (max_norm / (norm + 1e-6)));
  expect_first_moment(&st, clipped, "clip by norm");
  /* the step itself: Adam's first step moves by lr * m_hat / (sqrt(v_hat) + eps) */
  for (int i = 0; i < N_ROWS; i++) {
    double want = s0.rows[i] - LR * clipped[i] / (fabs(clipped[i]) + 1e-8);
    if (fabs(st.rows[i] - want) > 1e-6) fail_msg("row value %d: %.9g, expected %.9g", i, st.rows[i], want);
  }
  double zero_norm = -1;
  step(t, SHIM_CLIP_NONE, 0, &zero_norm); /* the gradient was zeroed by the step */
  assert_true(zero_norm == 0.0);

  /* by norm, inactive (max_norm above the norm): the gradient is used as it is */
  assert_int_equal(shim_ti_set_state(t, s0.rows, s0.m, s0.v, 0, 1.0, &err), SHIM_OK);
  accumulate(t, &c, NULL);
  step(t, SHIM_CLIP_NORM, 10 * norm, &reported);
  get_state(t, &st);
  expect_first_moment(&st, g, "clip by norm (inactive)");

  /* by value: clamp to +-gmax/3 */
  assert_int_equal(shim_ti_set_state(t, s0.rows, s0.m, s0.v, 0, 1.0, &err), SHIM_OK);
  accumulate(t, &c, NULL);
  const double cv = gmax / 3;
  step(t, SHIM_CLIP_VALUE, cv, &reported);
  if (!(rel_diff(reported, norm) < 1e-6)) fail_msg("reported grad norm %.9g before value clipping, by hand %.9g", reported, norm);
  get_state(t, &st);
  int n_clamped = 0;
  for (int i = 0; i < N_ROWS; i++) {
    clipped[i] = (float)fmin(fmax(g[i], -cv), cv);
    n_clamped += clipped[i] != g[i];
  }
  assert_true(n_clamped > 0);
  expect_first_moment(&st, clipped, "clip by value");
  shim_ti_trainer_free(t);
  close_case(&c);
}

/* ---- 5. v-prediction and clip skip against the public pieces ---- */

static double loss_by_hand(const ti_case *c, int v_prediction, int clip_skip) {
  shim_err err = {{0}};
  static float ehs[B * SEQ * DIM];
  float noisy[N_LAT], pred[N_LAT], target[N_LAT], tf[B] = {(float)c->ts[0], (float)c->ts[1]};
  assert_int_equal(shim_ddpm_add_noise(&c->m->scheduler, c->latents, c->noise, c->ts, B, N_LAT / B, noisy, &err), 0);
  assert_int_equal(shim_clip_text_encode(c->m->text_encoder, c->ids, B, SEQ, clip_skip, ehs, &err), SHIM_OK);
  assert_int_equal(shim_unet_forward(c->m->unet, noisy, B, LAT, LAT, tf, ehs, SEQ, pred, &err), SHIM_OK);
  if (v_prediction)
    assert_int_equal(shim_ddpm_get_velocity(&c->m->scheduler, c->latents, c->noise, c->ts, B, N_LAT / B, target, &err),
                     SHIM_OK);
  else
    memcpy(target, c->noise, sizeof target);
  double s = 0;
  for (int i = 0; i < N_LAT; i++) s += ((double)pred[i] - target[i]) * ((double)pred[i] - target[i]);
  return s / N_LAT;
}

static void v_prediction_and_clip_skip_match_hand_computation(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  const int cases[3][2] = {{1, 0}, {0, 2}, {1, 3}}; /* {v_prediction, clip_skip} */
  double eps_loss = NAN;
  for (int k = 0; k < 3; k++) {
    shim_ti_config cfg = base_config(c.m);
    cfg.v_prediction = cases[k][0];
    cfg.clip_skip = cases[k][1];
    shim_ti_trainer *t = new_trainer(c.m, &cfg);
    double got = accumulate(t, &c, NULL), want = loss_by_hand(&c, cases[k][0], cases[k][1]);
    print_message("v_prediction %d clip_skip %d: loss %.9g, by hand %.9g\n", cases[k][0], cases[k][1], got, want);
    if (!(rel_diff(got, want) < 1e-5)) fail_msg("loss %.9g, by hand %.9g", got, want);
    if (k == 1) eps_loss = got;
    if (k == 0) assert_true(rel_diff(got, loss_by_hand(&c, 0, 0)) > 1e-3); /* v differs from epsilon */
    shim_ti_trainer_free(t);
  }
  assert_true(isfinite(eps_loss));
  close_case(&c);
}

/* ---- 6. checkpointing, bf16, loss scaling ---- */

static void grad_checkpointing_gives_the_same_loss_and_gradient(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *plain = new_trainer(c.m, &cfg);
  cfg.grad_checkpointing = 1;
  shim_ti_trainer *ckpt = new_trainer(c.m, &cfg);
  shim_err err = {{0}};
  for (int s = 0; s < 2; s++) {
    /* the trainers may share the model: placeholder positions always read the trainer's own rows */
    double la = accumulate(plain, &c, NULL);
    float ga[N_ROWS], gb[N_ROWS];
    assert_int_equal(shim_ti_grad(plain, ga, &err), SHIM_OK);
    step(plain, SHIM_CLIP_NONE, 0, NULL);
    double lb = accumulate(ckpt, &c, NULL);
    assert_int_equal(shim_ti_grad(ckpt, gb, &err), SHIM_OK);
    step(ckpt, SHIM_CLIP_NONE, 0, NULL);
    double r = gt_rel_l2(gb, ga, N_ROWS);
    print_message("step %d: loss %.9g vs %.9g, grad rel err %.3g\n", s + 1, lb, la, r);
    /* the same forward; later steps start from rows that differ by the gradients' rounding */
    if (s == 0 && lb != la) fail_msg("checkpointed loss %.9g, plain %.9g", lb, la);
    if (!(rel_diff(lb, la) < 1e-6)) fail_msg("checkpointed loss %.9g, plain %.9g", lb, la);
    if (!(r < 1e-6)) fail_msg("checkpointed gradient differs: rel err %.3g", r);
    assert_true(gt_rel_l2(ga, (const float[N_ROWS]){0}, N_ROWS) > 0);
  }
  shim_ti_trainer_free(plain);
  shim_ti_trainer_free(ckpt);
  close_case(&c);
}

static int bf16_representable(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return (u & 0xffffu) == 0;
}

static void bf16_models_train_fp32_rows_close_to_fp32(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  const double loss32 = accumulate(t, &c, NULL);
  shim_ti_trainer_free(t);

  sd_model *m16 = load_model(&c, &cpu_bf16);
  cfg = base_config(m16);
  t = new_trainer(m16, &cfg);
  shim_err err = {{0}};
  double loss16[2];
  for (int s = 0; s < 2; s++) {
    loss16[s] = accumulate(t, &c, NULL);
    step(t, SHIM_CLIP_NONE, 0, NULL);
  }
  print_message("loss fp32 %.6g, bf16 %.6g then %.6g\n", loss32, loss16[0], loss16[1]);
  if (!(rel_diff(loss16[0], loss32) < 3e-2)) fail_msg("bf16 loss %.6g vs fp32 %.6g", loss16[0], loss32);
  ti_state st;
  get_state(t, &st);
  float in_model[N_ROWS];
  assert_int_equal(shim_clip_text_get_token_rows(m16->text_encoder, FIRST, NV, in_model, &err), SHIM_OK);
  int fp32_only = 0;
  for (int i = 0; i < N_ROWS; i++) {
    fp32_only += !bf16_representable(st.rows[i]);
    assert_true(bf16_representable(in_model[i])); /* the bf16 matrix holds the rounded rows */
    assert_true(fabsf(in_model[i] - st.rows[i]) <= fabsf(st.rows[i]) / 128);
  }
  print_message("%d of %d trained values are not bf16 values\n", fp32_only, N_ROWS);
  assert_true(fp32_only > N_ROWS / 2); /* the trainer keeps float32 rows */
  shim_ti_trainer_free(t);
  sd_model_free(m16);
  close_case(&c);
}

static void loss_scaling_is_exact_and_skips_overflow(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *plain = new_trainer(c.m, &cfg);
  ti_state s0;
  get_state(plain, &s0);
  double lp = accumulate(plain, &c, NULL);
  float gp[N_ROWS], gs[N_ROWS];
  shim_err err = {{0}};
  assert_int_equal(shim_ti_grad(plain, gp, &err), SHIM_OK);
  step(plain, SHIM_CLIP_NONE, 0, NULL);
  ti_state a, b;
  get_state(plain, &a);
  shim_ti_trainer_free(plain);

  assert_int_equal(shim_clip_text_set_token_rows(c.m->text_encoder, FIRST, NV, s0.rows, &err), SHIM_OK);
  cfg.loss_scaling = 1;
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  get_state(t, &b);
  assert_true(b.scale == 65536.0);
  double ls = accumulate(t, &c, NULL);
  assert_true(ls == lp); /* the unscaled loss is reported */
  assert_int_equal(shim_ti_grad(t, gs, &err), SHIM_OK);
  /* a power-of-two scale changes no rounding */
  if (!(gt_rel_l2(gs, gp, N_ROWS) < 1e-6)) fail_msg("scaled gradient differs: %.3g", gt_rel_l2(gs, gp, N_ROWS));
  step(t, SHIM_CLIP_NONE, 0, NULL);
  get_state(t, &b);
  assert_true(max_abs_diff(a.rows, b.rows, N_ROWS) < 1e-7);
  assert_int_equal(b.step, 1);

  /* a gradient that overflows float32 (finite loss ~1e30, scaled by 1e30): the step is skipped and
   * the scale halved */
  static float huge_noise[N_LAT];
  for (int i = 0; i < N_LAT; i++) huge_noise[i] = c.noise[i] * 1e15f;
  assert_true(isfinite(accumulate_full(t, &c, NULL, huge_noise, 1e30)));
  int skipped = 0;
  double norm = 0;
  assert_int_equal(shim_ti_step(t, LR, SHIM_CLIP_NORM, 1.0, &norm, &skipped, &err), SHIM_OK);
  assert_int_equal(skipped, 1);
  assert_false(isfinite(norm));
  ti_state after;
  get_state(t, &after);
  assert_memory_equal(after.rows, b.rows, sizeof b.rows);
  assert_memory_equal(after.m, b.m, sizeof b.m);
  assert_int_equal(after.step, 1);
  assert_true(after.scale == 32768.0);
  /* the skipped step dropped the gradient: the next one is clean */
  accumulate(t, &c, NULL);
  step(t, SHIM_CLIP_NONE, 0, NULL);
  get_state(t, &after);
  assert_int_equal(after.step, 2);
  assert_true(after.scale == 32768.0);
  shim_ti_trainer_free(t);

  /* without loss scaling a non-finite gradient is an error and no step */
  cfg.loss_scaling = 0;
  t = new_trainer(c.m, &cfg);
  get_state(t, &b);
  assert_true(isfinite(accumulate_full(t, &c, NULL, huge_noise, 1e30)));
  expect_err(shim_ti_step(t, LR, SHIM_CLIP_NONE, 0, NULL, &skipped, &err), &err, "not finite", "inf gradient");
  get_state(t, &after);
  assert_memory_equal(after.rows, b.rows, sizeof b.rows);
  assert_int_equal(after.step, 0);
  shim_ti_trainer_free(t);
  close_case(&c);
}

/* A non-finite loss is reported and contributes no gradient. */
static void non_finite_loss_is_reported_not_accumulated(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_ti_config cfg = base_config(c.m);
  shim_ti_trainer *t = new_trainer(c.m, &cfg);
  static float huge[N_LAT];
  for (int i = 0; i < N_LAT; i++) huge[i] = i % 2 ? 3e38f : -3e38f;
  double loss = accumulate(t, &c, huge);
  assert_false(isfinite(loss));
  float g[N_ROWS];
  shim_err err = {{0}};
  assert_int_equal(shim_ti_grad(t, g, &err), SHIM_OK);
  for (int i = 0; i < N_ROWS; i++) assert_true(g[i] == 0.0f);
  shim_ti_trainer_free(t);
  close_case(&c);
}

/* ---- 7. errors ---- */

static void invalid_inputs_name_the_value(void **state) {
  (void)state;
  ti_case c;
  if (open_case(&c)) return;
  shim_err err = {{0}};
  shim_ti_trainer *t = NULL;
  shim_ti_config cfg = base_config(c.m);

  cfg.first_row = VOCAB - 2; /* 4 rows from 49410 run past the vocabulary */
  expect_err(shim_ti_trainer_new(c.m->text_encoder, c.m->unet, &cfg, &t, &err), &err, "49414", "rows past vocab");
  assert_null(t);
  cfg = base_config(c.m);
  cfg.n_rows = 0;
  expect_err(shim_ti_trainer_new(c.m->text_encoder, c.m->unet, &cfg, &t, &err), &err, "n_rows must be positive, got 0",
             "n_rows 0");
  cfg = base_config(c.m);
  cfg.first_row = -3;
  expect_err(shim_ti_trainer_new(c.m->text_encoder, c.m->unet, &cfg, &t, &err), &err, "-3", "negative first_row");
  cfg = base_config(c.m);
  cfg.beta2 = 1.0;
  expect_err(shim_ti_trainer_new(c.m->text_encoder, c.m->unet, &cfg, &t, &err), &err, "beta2", "beta2 1");
  cfg = base_config(c.m);
  cfg.clip_skip = 7;
  expect_err(shim_ti_trainer_new(c.m->text_encoder, c.m->unet, &cfg, &t, &err), &err, "clip_skip 7", "clip_skip");
  assert_null(t);

  cfg = base_config(c.m);
  t = new_trainer(c.m, &cfg);
  double loss = 0;
  int64_t ts[B] = {137, 1000};
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, ts, c.ids, SEQ, 1.0, &loss, &err), &err,
             "timesteps[1] = 1000", "timestep 1000");
  ts[1] = -1;
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, ts, c.ids, SEQ, 1.0, &loss, &err), &err, "-1",
             "timestep -1");
  int64_t ids[B * SEQ];
  memcpy(ids, c.ids, sizeof ids);
  ids[SEQ + 5] = VOCAB;
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, c.ts, ids, SEQ, 1.0, &loss, &err), &err,
             "ids[1][5] = 49412", "id out of vocab");
  static int64_t long_ids[B * 78];
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, c.ts, long_ids, 78, 1.0, &loss, &err), &err,
             "seq_len 78", "seq_len 78");
  expect_err(shim_ti_accumulate(t, c.latents, 0, LAT, LAT, c.noise, c.ts, c.ids, SEQ, 1.0, &loss, &err), &err,
             "B 0", "B 0");
  expect_err(shim_ti_accumulate(t, c.latents, B, 0, LAT, c.noise, c.ts, c.ids, SEQ, 1.0, &loss, &err), &err, "0x16",
             "lat_h 0");
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, c.ts, c.ids, SEQ, 0.0, &loss, &err), &err,
             "grad_scale", "grad_scale 0");
  expect_err(shim_ti_accumulate(t, c.latents, B, LAT, LAT, c.noise, c.ts, c.ids, SEQ, 1e300, &loss, &err), &err,
             "grad_scale", "grad_scale 1e300");
  expect_err(shim_ti_accumulate(t, NULL, B, LAT, LAT, c.noise, c.ts, c.ids, SEQ, 1.0, &loss, &err), &err, "latents",
             "NULL latents");

  expect_err(shim_ti_step(t, -1.0, SHIM_CLIP_NONE, 0, NULL, NULL, &err), &err, "lr", "negative lr");
  expect_err(shim_ti_step(t, LR, SHIM_CLIP_NORM, 0.0, NULL, NULL, &err), &err, "clip_value", "clip_value 0");
  expect_err(shim_ti_step(t, LR, (shim_grad_clip)7, 1.0, NULL, NULL, &err), &err, "mode 7", "clip mode 7");
  ti_state st;
  get_state(t, &st);
  expect_err(shim_ti_set_state(t, st.rows, st.m, st.v, -1, 1.0, &err), &err, "-1", "step -1");
  expect_err(shim_ti_set_state(t, st.rows, st.m, st.v, 0, 0.0, &err), &err, "loss_scale", "scale 0");
  expect_err(shim_ti_set_state(t, st.rows, st.m, st.v, 0, 1e39, &err), &err, "positive float32", "scale 1e39");
  expect_err(shim_ti_set_state(t, NULL, st.m, st.v, 0, 1.0, &err), &err, "rows", "NULL rows");
  expect_err(shim_ti_grad(t, NULL, &err), &err, "NULL", "NULL grad buffer");
  assert_int_equal(shim_ti_step(NULL, LR, SHIM_CLIP_NONE, 0, NULL, NULL, &err), SHIM_E_INVALID);

  /* the trainer is still usable after refused calls, and nothing was accumulated */
  float g[N_ROWS];
  assert_int_equal(shim_ti_grad(t, g, &err), SHIM_OK);
  for (int i = 0; i < N_ROWS; i++) assert_true(g[i] == 0.0f);
  assert_true(isfinite(accumulate(t, &c, NULL)));
  shim_ti_trainer_free(t);
  close_case(&c);
}

static int group_setup(void **state) {
  (void)state;
  shim_runtime_opts o = {.threads = 2};
  int eff = 0;
  shim_err err = {{0}};
  return shim_runtime_init(&o, &eff, &err) == SHIM_OK ? 0 : -1;
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(golden_three_steps_match_diffusers),
      cmocka_unit_test(weight_decay_touches_only_placeholder_rows),
      cmocka_unit_test(resumed_run_is_bit_identical),
      cmocka_unit_test(gradient_clipping_by_value_and_norm),
      cmocka_unit_test(v_prediction_and_clip_skip_match_hand_computation),
      cmocka_unit_test(grad_checkpointing_gives_the_same_loss_and_gradient),
      cmocka_unit_test(bf16_models_train_fp32_rows_close_to_fp32),
      cmocka_unit_test(loss_scaling_is_exact_and_skips_overflow),
      cmocka_unit_test(non_finite_loss_is_reported_not_accumulated),
      cmocka_unit_test(invalid_inputs_name_the_value),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, group_setup, NULL);
}

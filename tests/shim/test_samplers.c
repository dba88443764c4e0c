/* The samplers against diffusers 0.21.4 rollouts (tests/data/schedulers, README there): every
 * golden rollout replayed step by step through the C API with the README's toy model, DDPM's
 * add_noise / get_velocity, the scheduler_config.json parser, and the error paths. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_tensors.h"
#include "harness/model/scheduler_config.h"
#include "mdh_shim.h"

#define REL_TOL 1e-5

static void load_base(shim_scheduler_config *c) {
  char *p = test_data_path("schedulers/scheduler_config_base.json");
  herr e = {{0}};
  int rc = sched_config_load(p, c, &e);
  if (rc) print_message("%s\n", e.msg);
  assert_int_equal(rc, 0);
  free(p);
}

/* max |a - b| / max |b| over n values */
static double rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > num || isnan(d)) num = isnan(d) ? INFINITY : d;
    if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
  }
  return den > 0 ? num / den : num;
}

static void check_rel(const char *what, const float *got, const float *want, size_t n) {
  double r = rel_err(got, want, n);
  if (!(r < REL_TOL)) print_message("%s: rel err %.3g\n", what, r);
  assert_true(r < REL_TOL);
}

/* Replays `<file>_<steps>.safetensors`: schedule, init_noise_sigma, and each step's model input
 * and result, with model_output = 0.1 * xin + 0.01 * t / 1000 as the reference computes it. */
static void rollout(const char *file, const char *sampler, const char *prediction, int steps) {
  char rel[128];
  snprintf(rel, sizeof rel, "schedulers/%s_%d.safetensors", file, steps);
  char *path = test_data_path(rel);
  herr e = {{0}};
  st_file *g = st_open(path, &e);
  if (!g) print_message("%s\n", e.msg);
  assert_non_null(g);

  shim_scheduler_config cfg;
  load_base(&cfg);
  if (prediction) snprintf(cfg.prediction_type, sizeof cfg.prediction_type, "%s", prediction);
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  int rc = shim_sampler_new(&cfg, sampler, &s, &err);
  if (rc) print_message("%s\n", err.msg);
  assert_int_equal(rc, SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, steps, &err), SHIM_OK);

  /* timesteps: exact for integer schedules; float ones to 1e-6 relative (KDPM2's midpoint
   * timesteps come out of float32 logs and differ from the reference by one ulp in a few places,
   * 3e-5 absolute at t ~ 437; every other float schedule matches bit for bit) */
  const st_tensor *tt = st_find(g, "timesteps");
  assert_non_null(tt);
  size_t nt = (size_t)st_numel(tt);
  assert_int_equal(shim_sampler_num_model_evals(s), (int)nt);
  double *ts = malloc(nt * sizeof *ts);
  size_t got_n = 0;
  assert_int_equal(shim_sampler_timesteps(s, ts, nt, &got_n, &err), SHIM_OK);
  assert_int_equal(got_n, nt);
  if (tt->dtype == ST_I64) {
    assert_true(shim_sampler_integer_timesteps(s));
    for (size_t i = 0; i < nt; i++) {
      int64_t v;
      memcpy(&v, (const char *)tt->data + i * 8, 8);
      if ((double)v != ts[i]) print_message("%s: timestep %zu: %g, want %lld\n", rel, i, ts[i], (long long)v);
      assert_true((double)v == ts[i]);
    }
  } else {
    assert_false(shim_sampler_integer_timesteps(s));
    size_t n;
    float *want = gt_tensor_f32(g, "timesteps", &n, NULL);
    for (size_t i = 0; i < nt; i++) {
      if (!(fabs(ts[i] - want[i]) <= 1e-6 * fmax(1.0, fabs(want[i]))))
        print_message("%s: timestep %zu: %.9g, want %.9g\n", rel, i, ts[i], want[i]);
      assert_true(fabs(ts[i] - want[i]) <= 1e-6 * fmax(1.0, fabs(want[i])));
    }
    free(want);
  }

  if (st_find(g, "sigmas")) {
    size_t n;
    float *want = gt_tensor_f32(g, "sigmas", &n, NULL);
    double *sg = malloc(n * sizeof *sg);
    assert_int_equal(shim_sampler_sigmas(s, sg, n, &got_n, &err), SHIM_OK);
    assert_int_equal(got_n, n);
    float *sf = malloc(n * sizeof *sf);
    for (size_t i = 0; i < n; i++) sf[i] = (float)sg[i];
    check_rel("sigmas", sf, want, n);
    free(sg), free(sf), free(want);
  }
  {
    size_t n;
    float *want = gt_tensor_f32(g, "alphas_cumprod", &n, NULL);
    double *a = malloc(n * sizeof *a);
    assert_int_equal(shim_sampler_alphas_cumprod(s, a, n, &got_n, &err), SHIM_OK);
    float *af = malloc(n * sizeof *af);
    for (size_t i = 0; i < n; i++) af[i] = (float)a[i];
    check_rel("alphas_cumprod", af, want, n);
    free(a), free(af), free(want);
    float *ins = gt_tensor_f32(g, "init_noise_sigma", &n, NULL);
    float ins_got = (float)shim_sampler_init_noise_sigma(s);
    check_rel("init_noise_sigma", &ins_got, ins, 1);
    free(ins);
  }

  size_t nx, nin, nout, nnoise = 0;
  float *xs = gt_tensor_f32(g, "x", &nx, NULL);
  float *mins = gt_tensor_f32(g, "model_input", &nin, NULL);
  float *mouts = gt_tensor_f32(g, "model_output", &nout, NULL);
  float *noise = NULL;
  if (shim_sampler_needs_noise(s)) noise = gt_tensor_f32(g, "noise", &nnoise, NULL);
  else assert_null(st_find(g, "noise"));
  const size_t per = nx / (nt + 1);
  assert_int_equal(nin, per * nt);

  char *lpath = test_data_path("schedulers/latents.safetensors");
  st_file *lf = st_open(lpath, &e);
  assert_non_null(lf);
  size_t nl;
  float *x = gt_tensor_f32(lf, "latents", &nl, NULL);
  assert_int_equal(nl, per);
  float init = (float)shim_sampler_init_noise_sigma(s);
  for (size_t k = 0; k < per; k++) x[k] = x[k] * init;
  check_rel("x[0]", x, xs, per);

  float *xin = malloc(per * sizeof *xin), *mo = malloc(per * sizeof *mo);
  for (size_t i = 0; i < nt; i++) {
    char what[64];
    assert_int_equal(shim_sampler_scale_model_input(s, (int)i, x, per, xin, &err), SHIM_OK);
    snprintf(what, sizeof what, "%s model_input[%zu]", rel, i);
    check_rel(what, xin, mins + i * per, per);
    float tc = (float)(0.01 * ((double)(float)ts[i] / 1000.0));
    for (size_t k = 0; k < per; k++) mo[k] = 0.1f * xin[k] + tc;
    snprintf(what, sizeof what, "%s model_output[%zu]", rel, i);
    check_rel(what, mo, mouts + i * per, per);
    rc = shim_sampler_step(s, (int)i, mo, x, noise ? noise + i * per : NULL, per, x, &err);
    if (rc) print_message("%s\n", err.msg);
    assert_int_equal(rc, SHIM_OK);
    snprintf(what, sizeof what, "%s x[%zu]", rel, i + 1);
    check_rel(what, x, xs + (i + 1) * per, per);
  }
  free(xin), free(mo), free(x), free(xs), free(mins), free(mouts), free(noise), free(ts);
  st_close(lf);
  free(lpath);
  shim_sampler_free(s);
  sched_config_free(&cfg);
  st_close(g);
  free(path);
}

static void ddim_rollouts_match(void **state) {
  rollout("ddim", "ddim", NULL, 10);
  rollout("ddim", "ddim", NULL, 25);
}
static void ddim_vpred_rollouts_match(void **state) {
  rollout("ddim_vpred", "ddim", "v_prediction", 10);
  rollout("ddim_vpred", "ddim", "v_prediction", 25);
}
static void pndm_rollouts_match(void **state) {
  rollout("pndm", "pndm", NULL, 10);
  rollout("pndm", NULL, NULL, 25); /* the model's own class is PNDM */
}
static void euler_rollouts_match(void **state) {
  rollout("euler", "euler", NULL, 10);
  rollout("euler", "euler", NULL, 25);
}
static void euler_vpred_rollouts_match(void **state) {
  rollout("euler_vpred", "euler", "v_prediction", 10);
  rollout("euler_vpred", "euler", "v_prediction", 25);
}
static void euler_ancestral_rollouts_match(void **state) {
  rollout("euler_ancestral", "euler_a", NULL, 10);
  rollout("euler_ancestral", "euler_a", NULL, 25);
}
static void dpmpp_2m_rollouts_match(void **state) {
  rollout("dpmpp2m", "dpmpp_2m", NULL, 10);
  rollout("dpmpp2m", "dpmpp_2m", NULL, 25);
}
static void lms_rollouts_match(void **state) {
  rollout("lms", "lms", NULL, 10);
  rollout("lms", "lms", NULL, 25);
}
static void heun_rollouts_match(void **state) {
  rollout("heun", "heun", NULL, 10);
  rollout("heun", "heun", NULL, 25);
}
static void kdpm2_rollouts_match(void **state) {
  rollout("kdpm2", "kdpm2", NULL, 10);
  rollout("kdpm2", "kdpm2", NULL, 25);
}

static void ddpm_add_noise_and_velocity_match(void **state) {
  char *path = test_data_path("schedulers/ddpm_add_noise.safetensors");
  herr e = {{0}};
  st_file *g = st_open(path, &e);
  assert_non_null(g);
  size_t n0, nn, nnoisy, nv;
  float *x0 = gt_tensor_f32(g, "x0", &n0, NULL), *noise = gt_tensor_f32(g, "noise", &nn, NULL);
  float *noisy = gt_tensor_f32(g, "noisy", &nnoisy, NULL), *vel = gt_tensor_f32(g, "velocity", &nv, NULL);
  const st_tensor *tt = st_find(g, "timesteps");
  assert_non_null(tt);
  size_t b = (size_t)st_numel(tt);
  int64_t *ts = malloc(b * sizeof *ts);
  memcpy(ts, tt->data, b * sizeof *ts);
  shim_scheduler_config cfg;
  load_base(&cfg);
  float *out = malloc(n0 * sizeof *out);
  shim_err err = {{0}};
  assert_int_equal(shim_ddpm_add_noise(&cfg, x0, noise, ts, b, n0 / b, out, &err), SHIM_OK);
  check_rel("noisy", out, noisy, n0);
  assert_int_equal(shim_ddpm_get_velocity(&cfg, x0, noise, ts, b, n0 / b, out, &err), SHIM_OK);
  check_rel("velocity", out, vel, n0);
  ts[2] = 1000;
  assert_int_equal(shim_ddpm_add_noise(&cfg, x0, noise, ts, b, n0 / b, out, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "timestep 1000"));
  free(out), free(ts), free(x0), free(noise), free(noisy), free(vel);
  sched_config_free(&cfg);
  st_close(g);
  free(path);
}

static void base_config_is_parsed_with_absent_keys_left_absent(void **state) {
  shim_scheduler_config c;
  load_base(&c);
  assert_string_equal(c.class_name, "PNDMScheduler");
  assert_int_equal(c.num_train_timesteps, 1000);
  assert_true(c.beta_start == 0.00085 && c.beta_end == 0.012);
  assert_string_equal(c.beta_schedule, "scaled_linear");
  assert_null(c.trained_betas);
  assert_string_equal(c.prediction_type, "epsilon");
  assert_int_equal(c.steps_offset, 1);
  assert_int_equal(c.set_alpha_to_one, 0);
  assert_int_equal(c.clip_sample, 0);
  assert_int_equal(c.skip_prk_steps, 1);
  assert_string_equal(c.timestep_spacing, "");
  assert_int_equal(c.use_karras_sigmas, -1);
  assert_true(isnan(c.lambda_min_clipped));
  sched_config_free(&c);
}

/* Writes `json` to a temporary file and parses it; returns the parser's status. */
static int parse_text(const char *json, shim_scheduler_config *c, herr *e) {
  char path[] = "/tmp/mdh_sched_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
  close(fd);
  int rc = sched_config_load(path, c, e);
  unlink(path);
  return rc;
}

static void config_errors_name_the_key(void **state) {
  shim_scheduler_config c;
  herr e = {{0}};
  assert_int_equal(parse_text("{\"_class_name\": \"PNDMScheduler\", \"beta_schedule\": \"cubic\"}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "beta_schedule"));
  assert_non_null(strstr(e.msg, "cubic"));
  assert_non_null(strstr(e.msg, "/tmp/mdh_sched_"));
  assert_int_equal(parse_text("{\"_class_name\": \"UniPCMultistepScheduler\"}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "_class_name"));
  assert_int_equal(parse_text("{\"beta_end\": 0.012}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "_class_name"));
  assert_int_equal(parse_text("{\"_class_name\": \"DDIMScheduler\", \"steps_offset\": \"one\"}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "steps_offset"));
  assert_int_equal(parse_text("{\"_class_name\": \"DDIMScheduler\", \"thresholding\": true}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "thresholding"));
  assert_int_equal(parse_text("{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 3, "
                              "\"trained_betas\": [0.1, 0.2]}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "trained_betas"));
  assert_int_equal(parse_text("{\"_class_name\": \"DDIMScheduler\", \"timestep_spacing\": \"even\"}", &c, &e), -1);
  assert_non_null(strstr(e.msg, "timestep_spacing"));
  assert_int_equal(parse_text("{\"_class_name\": \"DDIMScheduler\"", &c, &e), -1);
  assert_non_null(strstr(e.msg, "JSON"));
}

static void python_infinity_and_trained_betas_are_read(void **state) {
  shim_scheduler_config c;
  herr e = {{0}};
  int rc = parse_text("{\"_class_name\": \"DPMSolverMultistepScheduler\", \"lambda_min_clipped\": -Infinity, "
                      "\"algorithm_type\": \"dpmsolver++\", \"solver_type\": \"heun\", \"variance_type\": null, "
                      "\"num_train_timesteps\": 4, \"trained_betas\": [0.1, 0.2, 0.3, 0.4], \"note\": \"Infinity\"}",
                      &c, &e);
  if (rc) print_message("%s\n", e.msg);
  assert_int_equal(rc, 0);
  assert_true(isinf(c.lambda_min_clipped) && c.lambda_min_clipped < 0);
  assert_int_equal(c.n_trained_betas, 4);
  assert_true(c.trained_betas[3] == 0.4);
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_sampler_new(&c, NULL, &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 2, &err), SHIM_OK);
  double a[4];
  size_t n;
  assert_int_equal(shim_sampler_alphas_cumprod(s, a, 4, &n, &err), SHIM_OK);
  assert_true(fabs(a[1] - 0.9 * 0.8) < 1e-6);
  shim_sampler_free(s);
  sched_config_free(&c);
}

static void sampler_errors_are_reported(void **state) {
  shim_scheduler_config c;
  load_base(&c);
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_sampler_new(&c, "euler_karras_turbo", &s, &err), SHIM_E_INVALID);
  assert_null(s);
  assert_non_null(strstr(err.msg, "euler_karras_turbo"));

  assert_int_equal(shim_sampler_new(&c, "ddim", &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 0, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "steps"));
  assert_int_equal(shim_sampler_set_timesteps(s, 1001, &err), SHIM_E_INVALID);
  float x[4] = {0}, y[4];
  assert_int_equal(shim_sampler_step(s, 0, x, x, NULL, 4, y, &err), SHIM_E_INVALID); /* no schedule yet */
  assert_int_equal(shim_sampler_set_timesteps(s, 5, &err), SHIM_OK);
  assert_int_equal(shim_sampler_step(s, 5, x, x, NULL, 4, y, &err), SHIM_E_INVALID);
  assert_int_equal(shim_sampler_step(s, 0, x, x, NULL, 4, y, &err), SHIM_OK);
  assert_int_equal(shim_sampler_step(s, 2, x, x, NULL, 4, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "out of order"));
  shim_sampler_free(s);

  /* ancestral needs its noise */
  assert_int_equal(shim_sampler_new(&c, "euler_a", &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 5, &err), SHIM_OK);
  assert_int_equal(shim_sampler_step(s, 0, x, x, NULL, 4, y, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "noise"));
  shim_sampler_free(s);

  /* values the struct carries are checked by the shim too */
  snprintf(c.beta_schedule, sizeof c.beta_schedule, "cubic");
  assert_int_equal(shim_sampler_new(&c, "euler", &s, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "beta_schedule"));
  snprintf(c.beta_schedule, sizeof c.beta_schedule, "scaled_linear");
  snprintf(c.prediction_type, sizeof c.prediction_type, "sample");
  assert_int_equal(shim_sampler_new(&c, "pndm", &s, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "prediction_type"));
  snprintf(c.class_name, sizeof c.class_name, "FlowMatchScheduler");
  assert_int_equal(shim_sampler_new(&c, NULL, &s, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "FlowMatchScheduler"));
  sched_config_free(&c);
}

/* Spacing variants without golden files, checked against the reference's formulas. */
static void spacing_variants_follow_the_reference(void **state) {
  shim_scheduler_config c;
  load_base(&c);
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  double ts[64];
  size_t n;
  snprintf(c.timestep_spacing, sizeof c.timestep_spacing, "trailing");
  assert_int_equal(shim_sampler_new(&c, "ddim", &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 10, &err), SHIM_OK);
  assert_int_equal(shim_sampler_timesteps(s, ts, 64, &n, &err), SHIM_OK);
  assert_int_equal(n, 10);
  for (int i = 0; i < 10; i++) assert_true(ts[i] == 999 - 100 * i);
  shim_sampler_free(s);
  /* Euler with "leading": 1 + k * 100, and init_noise_sigma = sqrt(sigma_max^2 + 1) */
  snprintf(c.timestep_spacing, sizeof c.timestep_spacing, "leading");
  assert_int_equal(shim_sampler_new(&c, "euler", &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 10, &err), SHIM_OK);
  assert_int_equal(shim_sampler_timesteps(s, ts, 64, &n, &err), SHIM_OK);
  for (int i = 0; i < 10; i++) assert_true(ts[i] == 901 - 100 * i);
  double sg[64];
  assert_int_equal(shim_sampler_sigmas(s, sg, 64, &n, &err), SHIM_OK);
  assert_true(fabs(shim_sampler_init_noise_sigma(s) - sqrt(sg[0] * sg[0] + 1)) < 1e-5);
  shim_sampler_free(s);
  /* Karras DPM++ 2M: descending unique integer timesteps, finite steps */
  c.timestep_spacing[0] = '\0';
  assert_int_equal(shim_sampler_new(&c, "dpmpp_2m_karras", &s, &err), SHIM_OK);
  assert_int_equal(shim_sampler_set_timesteps(s, 20, &err), SHIM_OK);
  assert_int_equal(shim_sampler_timesteps(s, ts, 64, &n, &err), SHIM_OK);
  assert_true(n >= 2 && n <= 20);
  for (size_t i = 1; i < n; i++) assert_true(ts[i] < ts[i - 1]);
  float x[8], mo[8];
  for (int k = 0; k < 8; k++) x[k] = (float)(k - 4);
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < 8; k++) mo[k] = 0.1f * x[k];
    assert_int_equal(shim_sampler_step(s, (int)i, mo, x, NULL, 8, x, &err), SHIM_OK);
  }
  for (int k = 0; k < 8; k++) assert_true(isfinite(x[k]));
  shim_sampler_free(s);
  sched_config_free(&c);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ddim_rollouts_match),
      cmocka_unit_test(ddim_vpred_rollouts_match),
      cmocka_unit_test(pndm_rollouts_match),
      cmocka_unit_test(euler_rollouts_match),
      cmocka_unit_test(euler_vpred_rollouts_match),
      cmocka_unit_test(euler_ancestral_rollouts_match),
      cmocka_unit_test(dpmpp_2m_rollouts_match),
      cmocka_unit_test(lms_rollouts_match),
      cmocka_unit_test(heun_rollouts_match),
      cmocka_unit_test(kdpm2_rollouts_match),
      cmocka_unit_test(ddpm_add_noise_and_velocity_match),
      cmocka_unit_test(base_config_is_parsed_with_absent_keys_left_absent),
      cmocka_unit_test(config_errors_name_the_key),
      cmocka_unit_test(python_infinity_and_trained_betas_are_read),
      cmocka_unit_test(sampler_errors_are_reported),
      cmocka_unit_test(spacing_variants_follow_the_reference),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

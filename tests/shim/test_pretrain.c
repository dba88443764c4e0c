/* Full training of the tiny model's components (mdh_shim.h "full training"): fresh models get
 * the reference libraries' default initialisation (seeded), VAE and denoiser steps lower their
 * losses, the named state restores a trainer exactly, and bad requests are refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness/model/clip_config.h"
#include "harness/model/scheduler_config.h"
#include "harness/model/unet_config.h"
#include "harness/model/vae_config.h"
#include "shim/include/mdh_shim.h"
#include "test_main.h"

static const shim_pretrain_opt kOpt = {0.9, 0.999, 1e-8, 0.01, 1.0};

static shim_vae_config vae_cfg(void) {
  shim_vae_config c;
  herr e = {{0}};
  cJSON *j = cJSON_Parse("{\"block_out_channels\": [8, 16], \"down_block_types\": [\"DownEncoderBlock2D\", "
                         "\"DownEncoderBlock2D\"], \"up_block_types\": [\"UpDecoderBlock2D\", \"UpDecoderBlock2D\"], "
                         "\"layers_per_block\": 1, \"norm_num_groups\": 4, \"latent_channels\": 4}");
  assert_int_equal(vae_config_parse(j, "vae.json", &c, &e), 0);
  cJSON_Delete(j);
  return c;
}

static void denoiser_cfgs(shim_clip_text_config *tc, shim_unet_config *uc, shim_scheduler_config *sc) {
  herr e = {{0}};
  cJSON *t = cJSON_Parse("{\"hidden_size\": 16, \"intermediate_size\": 32, \"num_hidden_layers\": 2, "
                         "\"num_attention_heads\": 2, \"hidden_act\": \"gelu\", \"vocab_size\": 1000, "
                         "\"max_position_embeddings\": 8}");
  assert_int_equal(clip_config_parse(t, "text.json", tc, &e), 0);
  cJSON *u = cJSON_Parse("{\"block_out_channels\": [8, 16], \"attention_head_dim\": [1, 2], \"layers_per_block\": 1, "
                         "\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"], \"up_block_types\": "
                         "[\"UpBlock2D\", \"CrossAttnUpBlock2D\"], \"norm_num_groups\": 4, \"cross_attention_dim\": 16, "
                         "\"use_linear_projection\": true}");
  if (unet_config_from_json(u, "unet.json", uc, &e)) print_error("%s\n", e.msg);
  cJSON_Delete(t);
  cJSON_Delete(u);
  shim_scheduler_config_init(sc);
  strcpy(sc->class_name, "PNDMScheduler");
  sc->num_train_timesteps = 1000;
  sc->beta_start = 0.00085, sc->beta_end = 0.012;
  strcpy(sc->beta_schedule, "scaled_linear");
}

static shim_pretrain *new_denoiser(uint64_t seed) {
  shim_clip_text_config tc;
  shim_unet_config uc;
  shim_scheduler_config sc;
  denoiser_cfgs(&tc, &uc, &sc);
  shim_pretrain *p = NULL;
  shim_err err;
  if (shim_pretrain_denoiser_new(&tc, NULL, 0, &uc, NULL, 0, &sc, seed, &kOpt, NULL, &p, &err))
    print_error("%s\n", err.msg);
  assert_non_null(p);
  return p;
}

static size_t find(const shim_pretrain *p, const char *component, const char *name, size_t *numel) {
  for (size_t i = 0; i < shim_pretrain_count(p); i++) {
    const char *c, *n;
    int nd;
    int64_t sh[SHIM_MAX_DIMS];
    shim_err err;
    assert_int_equal(shim_pretrain_info(p, i, &c, &n, &nd, sh, &err), 0);
    if (strcmp(c, component) || strcmp(n, name)) continue;
    *numel = 1;
    for (int d = 0; d < nd; d++) *numel *= (size_t)sh[d];
    return i;
  }
  print_error("no %s/%s\n", component, name);
  fail();
  return 0;
}

static float *get(const shim_pretrain *p, const char *component, const char *name, size_t *numel) {
  size_t i = find(p, component, name, numel);
  float *v = malloc(*numel * sizeof *v);
  shim_err err;
  assert_int_equal(shim_pretrain_get(p, i, SHIM_PT_PARAM, SHIM_F32, v, &err), 0);
  return v;
}

static void moments(const float *v, size_t n, double *mean, double *sd, double *maxabs) {
  double s = 0, s2 = 0, m = 0;
  for (size_t i = 0; i < n; i++) s += v[i], s2 += (double)v[i] * v[i], m = fabs(v[i]) > m ? fabs(v[i]) : m;
  *mean = s / n, *sd = sqrt(s2 / n - *mean * *mean), *maxabs = m;
}

static void fresh_models_get_the_reference_initialisation(void **state) {
  (void)state;
  shim_pretrain *p = new_denoiser(5), *q = new_denoiser(5), *r = new_denoiser(6);
  size_t n;
  double mean, sd, mx;
  float *tok = get(p, "text_encoder", "text_model.embeddings.token_embedding.weight", &n);
  moments(tok, n, &mean, &sd, &mx);
  assert_true(fabs(sd - 0.02) < 0.002);
  float *qp = get(p, "text_encoder", "text_model.encoder.layers.0.self_attn.q_proj.weight", &n);
  moments(qp, n, &mean, &sd, &mx);
  assert_true(fabs(sd - pow(16, -0.5) * pow(4, -0.5)) < 0.02); /* d^-0.5 (2L)^-0.5 */
  float *qb = get(p, "text_encoder", "text_model.encoder.layers.0.self_attn.q_proj.bias", &n);
  moments(qb, n, &mean, &sd, &mx);
  assert_true(mx == 0);
  float *ln = get(p, "text_encoder", "text_model.final_layer_norm.weight", &n);
  for (size_t i = 0; i < n; i++) assert_true(ln[i] == 1.0f);
  float *cw = get(p, "unet", "conv_in.weight", &n); /* fan_in 4 * 3 * 3 */
  moments(cw, n, &mean, &sd, &mx);
  assert_true(mx <= 1.0 / 6.0 + 1e-6 && mx > 0.15);
  assert_true(fabs(sd - 1.0 / 6.0 / sqrt(3.0)) < 0.015);
  float *cq = get(q, "unet", "conv_in.weight", &n), *cr = get(r, "unet", "conv_in.weight", &n);
  assert_memory_equal(cw, cq, n * sizeof *cw); /* same seed, same model */
  assert_memory_not_equal(cw, cr, n * sizeof *cw);
  free(tok), free(qp), free(qb), free(ln), free(cw), free(cq), free(cr);
  shim_pretrain_free(p), shim_pretrain_free(q), shim_pretrain_free(r);
}

static void fill(float *x, size_t n, unsigned seed, double scale) {
  srand(seed);
  for (size_t i = 0; i < n; i++) x[i] = (float)(scale * ((double)rand() / RAND_MAX * 2 - 1));
}

static void vae_steps_lower_the_reconstruction_error(void **state) {
  (void)state;
  shim_vae_config c = vae_cfg();
  shim_pretrain *p = NULL;
  shim_err err;
  assert_int_equal(shim_pretrain_vae_new(&c, NULL, 0, 1, &kOpt, NULL, &p, &err), 0);
  float img[2 * 3 * 8 * 8], noise[2 * 4 * 4 * 4];
  for (int i = 0; i < 2 * 3 * 64; i++) img[i] = (i / 64) % 3 == 0 ? 0.8f : -0.6f; /* red-ish */
  fill(noise, sizeof noise / sizeof *noise, 2, 0.0);
  shim_pretrain_losses first, l;
  for (int s = 0; s < 40; s++) {
    if (shim_pretrain_vae_step(p, img, 2, 8, 8, noise, 1e-4, 3e-3, &l, &err)) print_error("%s\n", err.msg);
    if (!s) first = l;
  }
  assert_true(l.rec < 0.5 * first.rec);
  assert_true(isfinite(l.kl) && l.grad_norm > 0);
  assert_int_equal(shim_pretrain_steps(p), 40);
  assert_non_null(shim_pretrain_vae(p));
  assert_null(shim_pretrain_unet(p));
  shim_pretrain_free(p);
}

static void denoiser_step(shim_pretrain *p, unsigned seed, shim_pretrain_losses *l) {
  float lat[2 * 4 * 4 * 4], noise[2 * 4 * 4 * 4];
  fill(lat, 128, seed, 1.0);
  fill(noise, 128, seed + 1, 1.5);
  const int64_t ts[2] = {100, 700}, ids[2 * 8] = {1, 5, 6, 2, 0, 0, 0, 0, 1, 7, 2, 0, 0, 0, 0, 0};
  shim_err err;
  if (shim_pretrain_denoiser_step(p, lat, 2, 4, 4, noise, ts, ids, 8, 1e-3, l, &err)) print_error("%s\n", err.msg);
}

/* A trainer restored from another's state continues bit-identically. */
static void restored_state_continues_exactly(void **state) {
  (void)state;
  shim_pretrain *a = new_denoiser(3), *b = new_denoiser(4);
  shim_pretrain_losses la, lb;
  for (unsigned s = 0; s < 3; s++) denoiser_step(a, s, &la);
  shim_err err;
  assert_int_equal(shim_pretrain_count(a), shim_pretrain_count(b));
  for (size_t i = 0; i < shim_pretrain_count(a); i++) {
    size_t n = 1;
    int nd;
    int64_t sh[SHIM_MAX_DIMS];
    assert_int_equal(shim_pretrain_info(a, i, NULL, NULL, &nd, sh, &err), 0);
    for (int d = 0; d < nd; d++) n *= (size_t)sh[d];
    float *v = malloc(n * sizeof *v);
    for (int r = 0; r < 3; r++) {
      assert_int_equal(shim_pretrain_get(a, i, (shim_pretrain_role)r, SHIM_F32, v, &err), 0);
      assert_int_equal(shim_pretrain_set(b, i, (shim_pretrain_role)r, v, &err), 0);
    }
    free(v);
  }
  assert_int_equal(shim_pretrain_set_steps(b, shim_pretrain_steps(a), &err), 0);
  denoiser_step(a, 9, &la);
  denoiser_step(b, 9, &lb);
  assert_true(la.loss == lb.loss);
  size_t n;
  float *pa = get(a, "unet", "conv_out.weight", &n), *pb = get(b, "unet", "conv_out.weight", &n);
  assert_memory_equal(pa, pb, n * sizeof *pa);
  free(pa), free(pb);
  shim_pretrain_free(a), shim_pretrain_free(b);
}

static void bad_requests_are_refused(void **state) {
  (void)state;
  shim_vae_config c = vae_cfg();
  shim_pretrain *p = NULL;
  shim_err err;
  const shim_exec half = {"cpu", SHIM_F16};
  assert_int_equal(shim_pretrain_vae_new(&c, NULL, 0, 1, &kOpt, &half, &p, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "float32"));
  assert_int_equal(shim_pretrain_vae_new(&c, NULL, 0, 1, &kOpt, NULL, &p, &err), 0);
  float x[4];
  assert_int_equal(shim_pretrain_get(p, shim_pretrain_count(p), SHIM_PT_PARAM, SHIM_F32, x, &err), SHIM_E_INVALID);
  shim_pretrain_losses l;
  assert_int_equal(shim_pretrain_denoiser_step(p, x, 1, 1, 1, x, (int64_t[]){0}, (int64_t[]){0}, 1, 1e-3, &l, &err),
                   SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "no denoiser"));
  shim_pretrain_free(p);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fresh_models_get_the_reference_initialisation),
      cmocka_unit_test(vae_steps_lower_the_reconstruction_error),
      cmocka_unit_test(restored_state_continues_exactly),
      cmocka_unit_test(bad_requests_are_refused),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

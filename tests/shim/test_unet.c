/* The UNet (diffusers UNet2DConditionModel 0.21.4) against the golden references unet_sd1 and
 * unet_sd2 — every output and intermediate expected.safetensors lists — plus load errors that
 * must name the tensor, and config.json errors that must name the file and key. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "golden_tensors.h"
#include "harness/formats/json_file.h"
#include "harness/model/unet_config.h"
#include "mdh_shim.h"

/* README tolerance: relative L2 error below 1e-5. */
#define UNET_REL_TOL 1e-5

typedef struct golden_case {
  gt_case gt;
  shim_unet_config cfg;
} golden_case;

/* Opens a golden case's files (skips when the golden data is absent). */
static void case_open(golden_case *g, const char *name) {
  if (gt_case_open(&g->gt, name, "diffusion_pytorch_model.safetensors")) return;
  herr e = {{0}};
  char *cfg_path = gt_join(g->gt.dir, "config.json");
  if (unet_config_load(cfg_path, &g->cfg, &e) != 0) fail_msg("%s", e.msg);
  free(cfg_path);
}

static void case_close(golden_case *g) { gt_case_close(&g->gt); }

/* The timesteps input ([B]) that an expected name's suffix ("t_int", "t_float", "t_scalar") stands for. */
static float *timesteps_for(const golden_case *g, const char *suffix, int B) {
  const char *name = strcmp(suffix, "t_int") == 0     ? "timesteps_int"
                     : strcmp(suffix, "t_float") == 0 ? "timesteps_float"
                     : strcmp(suffix, "t_scalar") == 0 ? "timestep_scalar"
                                                       : NULL;
  if (!name) fail_msg("expected output for unknown timestep input '%s'", suffix);
  const st_tensor *t;
  float *v = gt_tensor_f32(g->gt.inputs, name, NULL, &t);
  float *out = malloc(sizeof(float) * (size_t)B);
  assert_non_null(out);
  int64_t n = st_numel(t);
  if (n != 1 && n != B) fail_msg("%s has %lld values for batch %d", name, (long long)n, B);
  for (int i = 0; i < B; i++) out[i] = v[n == 1 ? 0 : i];  /* a scalar broadcasts to the batch */
  free(v);
  return out;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the model once per timestep input named in expected.safetensors and compares every
 * "sample_<t>" and "intermediates_<t>.<tap>" tensor. */
static void check_golden(const char *name) {
  golden_case g;
  case_open(&g, name);
  shim_err err = {{0}};
  shim_unet *u = NULL;
  assert_int_equal(shim_unet_new(&g.cfg, g.gt.views, g.gt.n_views, NULL, &u, &err), SHIM_OK);
  const st_tensor *xt, *ct;
  float *x = gt_tensor_f32(g.gt.inputs, "sample", NULL, &xt);
  float *ctx = gt_tensor_f32(g.gt.inputs, "encoder_hidden_states", NULL, &ct);
  assert_int_equal(xt->ndim, 4);
  const int B = (int)xt->shape[0], H = (int)xt->shape[2], W = (int)xt->shape[3], L = (int)ct->shape[1];
  const size_t out_n = (size_t)B * (size_t)g.cfg.out_channels * (size_t)H * (size_t)W;

  size_t checked = 0;
  static const char *const suffixes[] = {"t_int", "t_float", "t_scalar"};
  for (size_t s = 0; s < 3; s++) {
    char sample_name[64], prefix[64];
    snprintf(sample_name, sizeof sample_name, "sample_%s", suffixes[s]);
    snprintf(prefix, sizeof prefix, "intermediates_%s.", suffixes[s]);
    const char *tap_names[64];
    float *tap_out[64], *tap_want[64];
    size_t tap_numel[64], n_taps = 0;
    for (size_t i = 0; i < st_count(g.gt.expected); i++) {
      const st_tensor *t = st_at(g.gt.expected, i);
      if (strncmp(t->name, prefix, strlen(prefix)) != 0) continue;
      assert_true(n_taps < 64);
      tap_names[n_taps] = t->name + strlen(prefix);
      tap_numel[n_taps] = (size_t)st_numel(t);
      tap_out[n_taps] = calloc(tap_numel[n_taps], sizeof(float));
      tap_want[n_taps] = gt_tensor_f32(g.gt.expected, t->name, NULL, NULL);
      n_taps++;
    }
    const st_tensor *want_t = st_find(g.gt.expected, sample_name);
    if (!want_t && n_taps == 0) continue;
    float *ts = timesteps_for(&g, suffixes[s], B);
    float *out = calloc(out_n, sizeof(float));
    double t0 = now_s();
    int rc = shim_unet_forward_taps(u, x, B, H, W, ts, ctx, L, out, tap_names, tap_out, tap_numel, n_taps, &err);
    double secs = now_s() - t0;
    if (rc != SHIM_OK) fail_msg("%s: %s", name, err.msg);
    print_message("%s %s: forward %.3f s\n", name, suffixes[s], secs);
    for (size_t k = 0; k < n_taps; k++) {
      double r = gt_rel_l2(tap_out[k], tap_want[k], tap_numel[k]);
      print_message("  %s%s rel L2 %.3g\n", prefix, tap_names[k], r);
      if (!(r < UNET_REL_TOL)) fail_msg("%s: %s%s rel L2 %.3g >= %g", name, prefix, tap_names[k], r, UNET_REL_TOL);
      free(tap_out[k]);
      free(tap_want[k]);
      checked++;
    }
    if (want_t) {
      assert_int_equal((size_t)st_numel(want_t), out_n);
      float *want = gt_tensor_f32(g.gt.expected, sample_name, NULL, NULL);
      double r = gt_rel_l2(out, want, out_n);
      print_message("  %s rel L2 %.3g\n", sample_name, r);
      if (!(r < UNET_REL_TOL)) fail_msg("%s: %s rel L2 %.3g >= %g", name, sample_name, r, UNET_REL_TOL);
      free(want);
      checked++;
    }
    free(out);
    free(ts);
  }
  /* Every tensor in expected.safetensors was compared: nothing listed is left unchecked. */
  assert_int_equal(checked, st_count(g.gt.expected));
  free(x);
  free(ctx);
  shim_unet_free(u);
  case_close(&g);
}

static void unet_sd1_matches_golden_outputs_and_intermediates(void **state) { check_golden("unet_sd1"); }
static void unet_sd2_matches_golden_outputs_and_intermediates(void **state) { check_golden("unet_sd2"); }

/* Odd latent sizes take diffusers' upsample_size path (each upsampler aims at its skip's size). */
static void unet_runs_on_odd_latent_sizes(void **state) {
  golden_case g;
  case_open(&g, "unet_sd1");
  shim_err err = {{0}};
  shim_unet *u = NULL;
  assert_int_equal(shim_unet_new(&g.cfg, g.gt.views, g.gt.n_views, NULL, &u, &err), SHIM_OK);
  const int B = 1, H = 9, W = 13, L = 5, D = g.cfg.cross_attention_dim[0];
  float *x = calloc((size_t)(B * g.cfg.in_channels * H * W), sizeof(float));
  float *ctx = calloc((size_t)(B * L * D), sizeof(float));
  float *out = calloc((size_t)(B * g.cfg.out_channels * H * W), sizeof(float));
  for (int i = 0; i < B * g.cfg.in_channels * H * W; i++) x[i] = (float)sin(0.37 * i);
  for (int i = 0; i < B * L * D; i++) ctx[i] = (float)cos(0.11 * i);
  float t = 250.0f;
  if (shim_unet_forward(u, x, B, H, W, &t, ctx, L, out, &err) != SHIM_OK) fail_msg("%s", err.msg);
  double sum = 0;
  for (int i = 0; i < B * g.cfg.out_channels * H * W; i++) {
    assert_true(isfinite(out[i]));
    sum += fabs(out[i]);
  }
  assert_true(sum > 0);
  free(x);
  free(ctx);
  free(out);
  shim_unet_free(u);
  case_close(&g);
}

static void expect_load_error(golden_case *g, const shim_tensor_view *views, size_t n, const char *needle1,
                              const char *needle2) {
  shim_err err = {{0}};
  shim_unet *u = (shim_unet *)0x1;
  assert_int_equal(shim_unet_new(&g->cfg, views, n, NULL, &u, &err), SHIM_E_INVALID);
  assert_null(u);
  print_message("error: %s\n", err.msg);
  if (!strstr(err.msg, needle1)) fail_msg("'%s' does not mention '%s'", err.msg, needle1);
  if (needle2 && !strstr(err.msg, needle2)) fail_msg("'%s' does not mention '%s'", err.msg, needle2);
}

static void unet_load_rejects_a_missing_weight_by_name(void **state) {
  golden_case g;
  case_open(&g, "unet_sd2");
  const char *victim = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight";
  size_t k = gt_find_view(&g.gt, victim);
  shim_tensor_view *v = malloc(sizeof *v * g.gt.n_views);
  size_t n = 0;
  for (size_t i = 0; i < g.gt.n_views; i++)
    if (i != k) v[n++] = g.gt.views[i];
  expect_load_error(&g, v, n, victim, "missing");
  free(v);
  case_close(&g);
}

static void unet_load_rejects_a_misshaped_weight_by_name(void **state) {
  golden_case g;
  case_open(&g, "unet_sd1");
  const char *victim = "up_blocks.1.resnets.2.conv1.weight";
  size_t k = gt_find_view(&g.gt, victim);
  shim_tensor_view *v = malloc(sizeof *v * g.gt.n_views);
  memcpy(v, g.gt.views, sizeof *v * g.gt.n_views);
  v[k].shape[1] -= 1; /* fewer input channels: the data is larger than needed, which is harmless */
  expect_load_error(&g, v, g.gt.n_views, victim, "shape");
  free(v);
  case_close(&g);
}

static void unet_load_rejects_an_unexpected_weight_by_name(void **state) {
  golden_case g;
  case_open(&g, "unet_sd1");
  shim_tensor_view *v = malloc(sizeof *v * (g.gt.n_views + 1));
  memcpy(v, g.gt.views, sizeof *v * g.gt.n_views);
  static const float one = 1.0f;
  v[g.gt.n_views] = (shim_tensor_view){.name = "class_embedding.linear_1.weight", .dtype = SHIM_F32, .ndim = 1,
                                    .shape = {1}, .data = &one};
  expect_load_error(&g, v, g.gt.n_views + 1, "class_embedding.linear_1.weight", "unexpected");
  free(v);
  case_close(&g);
}

/* The golden configs load with diffusers' meaning of each field. */
static void unet_config_reads_heads_projection_and_lists(void **state) {
  char *p2 = golden_path_or_skip("unet_sd2/config.json");
  if (!p2) return;
  char *p1 = golden_path_or_skip("unet_sd1/config.json");
  herr e = {{0}};
  shim_unet_config c2, c1;
  if (unet_config_load(p2, &c2, &e) != 0) fail_msg("%s", e.msg);
  if (unet_config_load(p1, &c1, &e) != 0) fail_msg("%s", e.msg);
  assert_int_equal(c2.n_blocks, 4);
  int heads2[] = {2, 2, 4, 4}, boc[] = {32, 32, 64, 64};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(c2.num_heads[i], heads2[i]);
    assert_int_equal(c1.num_heads[i], 4);
    assert_int_equal(c2.block_out_channels[i], boc[i]);
    assert_int_equal(c2.layers_per_block[i], 2);
    assert_int_equal(c2.transformer_layers_per_block[i], 1);
    assert_int_equal(c2.cross_attention_dim[i], 32);
    assert_int_equal(c2.down_cross_attn[i], i < 3);
    assert_int_equal(c2.up_cross_attn[i], i > 0);
  }
  assert_int_equal(c2.use_linear_projection, 1);
  assert_int_equal(c1.use_linear_projection, 0);
  assert_int_equal(c2.has_mid_block, 1);
  assert_int_equal(c2.norm_num_groups, 8);
  assert_true(fabs(c2.norm_eps - 1e-5) < 1e-12);
  assert_int_equal(c2.time_embed_dim, 128);
  assert_int_equal(c2.flip_sin_to_cos, 1);
  assert_int_equal(c2.sample_size, 16);
  assert_int_equal(c2.in_channels, 4);
  assert_string_equal(c2.act_fn, "silu");
  assert_string_equal(c2.time_embedding_act_fn, "");
  free(p1);
  free(p2);
}

/* An empty object is UNet2DConditionModel()'s defaults (the SD 1.x layout); null mid block. */
static void unet_config_defaults_and_null_mid_block(void **state) {
  herr e = {{0}};
  shim_unet_config c;
  cJSON *root = cJSON_Parse("{}");
  assert_int_equal(unet_config_from_json(root, "config.json", &c, &e), 0);
  cJSON_Delete(root);
  assert_int_equal(c.n_blocks, 4);
  assert_int_equal(c.block_out_channels[3], 1280);
  assert_int_equal(c.num_heads[0], 8);
  assert_int_equal(c.cross_attention_dim[2], 1280);
  assert_int_equal(c.norm_num_groups, 32);
  assert_int_equal(c.time_embed_dim, 1280);
  assert_int_equal(c.has_mid_block, 1);
  assert_int_equal(c.downsample_padding, 1);
  root = cJSON_Parse("{\"mid_block_type\": null, \"layers_per_block\": [1, 2, 3, 1],"
                     " \"down_block_types\": [\"UNetResDownBlock2D\", \"CrossAttnDownBlock2D\","
                     " \"CrossAttnDownBlock2D\", \"DownBlock2D\"], \"time_embedding_dim\": 77}");
  assert_int_equal(unet_config_from_json(root, "config.json", &c, &e), 0);
  cJSON_Delete(root);
  assert_int_equal(c.has_mid_block, 0);
  assert_int_equal(c.down_cross_attn[0], 0);
  assert_int_equal(c.layers_per_block[2], 3);
  assert_int_equal(c.time_embed_dim, 77);
}

static void expect_config_error(const char *json, const char *needle1, const char *needle2) {
  herr e = {{0}};
  shim_unet_config c;
  cJSON *root = cJSON_Parse(json);
  assert_non_null(root);
  assert_int_equal(unet_config_from_json(root, "unet/config.json", &c, &e), -1);
  cJSON_Delete(root);
  print_message("error: %s\n", e.msg);
  if (!strstr(e.msg, "unet/config.json")) fail_msg("'%s' does not name the file", e.msg);
  if (!strstr(e.msg, needle1)) fail_msg("'%s' does not mention '%s'", e.msg, needle1);
  if (needle2 && !strstr(e.msg, needle2)) fail_msg("'%s' does not mention '%s'", e.msg, needle2);
}

static void unet_config_rejects_bad_values_by_file_and_key(void **state) {
  expect_config_error("{\"down_block_types\": [\"CrossAttnDownBlock2D\", \"AttnDownBlock2D\", \"DownBlock2D\","
                      " \"DownBlock2D\"]}",
                      "down_block_types", "AttnDownBlock2D");
  expect_config_error("{\"up_block_types\": [\"UpBlock2D\", \"KUpBlock2D\", \"UpBlock2D\", \"UpBlock2D\"]}",
                      "up_block_types", "KUpBlock2D");
  expect_config_error("{\"layers_per_block\": 0}", "layers_per_block", NULL);
  expect_config_error("{\"layers_per_block\": [2, 2, 0, 2]}", "layers_per_block", NULL);
  expect_config_error("{\"layers_per_block\": [2, 2]}", "layers_per_block", NULL);
  expect_config_error("{\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"}", "mid_block_type",
                      "UNetMidBlock2DSimpleCrossAttn");
  expect_config_error("{\"block_out_channels\": [32, 64]}", "block_out_channels", NULL);
  expect_config_error("{\"attention_head_dim\": [2, 2, 4]}", "attention_head_dim", NULL);
  expect_config_error("{\"num_attention_heads\": 8}", "num_attention_heads", NULL);
  expect_config_error("{\"class_embed_type\": \"timestep\"}", "class_embed_type", "timestep");
  expect_config_error("{\"time_cond_proj_dim\": 256}", "time_cond_proj_dim", NULL);
  expect_config_error("{\"timestep_post_act\": \"silu\"}", "timestep_post_act", NULL);
  expect_config_error("{\"only_cross_attention\": true}", "only_cross_attention", NULL);
  expect_config_error("{\"resnet_time_scale_shift\": \"ada_group\"}", "resnet_time_scale_shift", "ada_group");
  expect_config_error("{\"act_fn\": \"tanh\"}", "act_fn", "tanh");
  expect_config_error("{\"norm_num_groups\": null}", "norm_num_groups", NULL);
  expect_config_error("{\"norm_num_groups\": 48}", "norm_num_groups", NULL);
  expect_config_error("{\"conv_in_kernel\": 4}", "conv_in_kernel", NULL);
  expect_config_error("{\"time_embedding_type\": \"fourier\"}", "time_embedding_type", "fourier");
  expect_config_error("{\"addition_embed_type\": \"text_time\"}", "addition_embed_type", NULL);
}

/* The shim re-checks a config struct that did not come from the parser. */
static void unet_new_rejects_an_inconsistent_config_struct(void **state) {
  golden_case g;
  case_open(&g, "unet_sd1");
  shim_unet_config c = g.cfg;
  c.layers_per_block[1] = 0;
  shim_err err = {{0}};
  shim_unet *u = NULL;
  assert_int_equal(shim_unet_new(&c, g.gt.views, g.gt.n_views, NULL, &u, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "layers_per_block[1]"));
  c = g.cfg;
  snprintf(c.act_fn, sizeof c.act_fn, "%s", "tanh");
  assert_int_equal(shim_unet_new(&c, g.gt.views, g.gt.n_views, NULL, &u, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "tanh"));
  case_close(&g);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unet_sd1_matches_golden_outputs_and_intermediates),
      cmocka_unit_test(unet_sd2_matches_golden_outputs_and_intermediates),
      cmocka_unit_test(unet_runs_on_odd_latent_sizes),
      cmocka_unit_test(unet_load_rejects_a_missing_weight_by_name),
      cmocka_unit_test(unet_load_rejects_a_misshaped_weight_by_name),
      cmocka_unit_test(unet_load_rejects_an_unexpected_weight_by_name),
      cmocka_unit_test(unet_config_reads_heads_projection_and_lists),
      cmocka_unit_test(unet_config_defaults_and_null_mid_block),
      cmocka_unit_test(unet_config_rejects_bad_values_by_file_and_key),
      cmocka_unit_test(unet_new_rejects_an_inconsistent_config_struct),
  };
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  return cmocka_run_group_tests(tests, NULL, NULL);
}

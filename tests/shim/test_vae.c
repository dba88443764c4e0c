/* The VAE against diffusers 0.21.4 AutoencoderKL (golden vae): encoder output, moments, the
 * posterior's mean/logvar/std/sample, post_quant_conv, decode and forward at relative L2 error
 * < 1e-5; old attention weight names; loader and config errors naming the weight, file, key. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_tensors.h"
#include "harness/model/vae_config.h"
#include "mdh_shim.h"

#define TOL 1e-5

typedef struct golden_case {
  gt_case gt;
  shim_vae_config cfg;
} golden_case;

static int open_case(golden_case *g) {
  if (gt_case_open(&g->gt, "vae", "diffusion_pytorch_model.safetensors")) return -1;
  herr e = {{0}};
  char *cfg = gt_join(g->gt.dir, "config.json");
  if (vae_config_load(cfg, &g->cfg, &e)) fail_msg("%s", e.msg);
  free(cfg);
  return 0;
}

static void close_case(golden_case *g) { gt_case_close(&g->gt); }

static shim_vae *new_model(const golden_case *g, const shim_tensor_view *views, size_t n) {
  shim_vae *v = NULL;
  shim_err err = {{0}};
  shim_exec exec = {.device = "cpu", .dtype = SHIM_F32};
  if (shim_vae_new(&g->cfg, views, n, &exec, &v, &err) != SHIM_OK) fail_msg("shim_vae_new: %s", err.msg);
  return v;
}

/* A float32 copy of `name` from `f`, with its 4-D shape. */
static float *load(const st_file *f, const char *name, int64_t shape[4], size_t *numel) {
  const st_tensor *t;
  float *out = gt_tensor_f32(f, name, numel, &t);
  assert_int_equal(t->ndim, 4);
  for (int i = 0; i < 4; i++) shape[i] = t->shape[i];
  return out;
}

static void expect_close(const golden_case *g, const char *name, const float *got, size_t numel) {
  const st_tensor *t = st_find(g->gt.expected, name);
  if (t) assert_int_equal(t->ndim, 4);
  gt_expect_close(g->gt.expected, name, got, numel, TOL, NULL);
}

static void encode_matches_diffusers(void **state) {
  (void)state;
  golden_case g;
  if (open_case(&g)) return;
  shim_vae *v = new_model(&g, g.gt.views, g.gt.n_views);
  shim_err err = {{0}};
  int64_t is[4], ns[4];
  size_t ni = 0, nn = 0;
  float *image = load(g.gt.inputs, "image", is, &ni);
  float *noise = load(g.gt.inputs, "posterior_noise", ns, &nn);
  int lh = 0, lw = 0;
  assert_int_equal(shim_vae_latent_size(v, (int)is[2], (int)is[3], &lh, &lw, &err), SHIM_OK);
  assert_int_equal(lh, ns[2]);
  assert_int_equal(lw, ns[3]);
  assert_int_equal(shim_vae_scale_factor(v), 2);

  const size_t half = nn, full = 2 * nn;
  float *enc = malloc(full * sizeof *enc), *moments = malloc(full * sizeof *moments);
  float *mean = malloc(half * sizeof *mean), *logvar = malloc(half * sizeof *logvar);
  float *x = calloc(half, sizeof *x);
  assert_true(enc && moments && mean && logvar && x);
  assert_int_equal(shim_vae_encode_moments(v, image, (int)is[0], (int)is[2], (int)is[3], enc, moments, &err), SHIM_OK);
  expect_close(&g, "encoder_out", enc, full);
  expect_close(&g, "moments", moments, full);
  assert_int_equal(shim_vae_encode(v, image, (int)is[0], (int)is[2], (int)is[3], mean, logvar, &err), SHIM_OK);
  expect_close(&g, "latent_dist.mean", mean, half);
  expect_close(&g, "latent_dist.logvar", logvar, half);
  for (size_t i = 0; i < half; i++) x[i] = expf(0.5f * logvar[i]);
  expect_close(&g, "latent_dist.std", x, half);
  for (size_t i = 0; i < half; i++) x[i] = mean[i] + x[i] * noise[i];
  expect_close(&g, "latent_dist.sample", x, half);

  /* forward = decode(mode) = decode(mean) */
  float *out = malloc(ni * sizeof *out);
  assert_non_null(out);
  assert_int_equal(shim_vae_decode(v, mean, (int)ns[0], (int)ns[2], (int)ns[3], out, &err), SHIM_OK);
  expect_close(&g, "forward.sample", out, ni);
  free(out);
  free(enc);
  free(moments);
  free(mean);
  free(logvar);
  free(x);
  free(image);
  free(noise);
  shim_vae_free(v);
  close_case(&g);
}

/* decode.sample for the given views (current or legacy attention names). */
static void check_decode(const golden_case *g, const shim_tensor_view *views, size_t n) {
  shim_vae *v = new_model(g, views, n);
  shim_err err = {{0}};
  int64_t zs[4];
  size_t nz = 0;
  float *z = load(g->gt.inputs, "z", zs, &nz);
  float *pq = malloc(nz * sizeof *pq);
  assert_non_null(pq);
  assert_int_equal(shim_vae_post_quant_conv(v, z, (int)zs[0], (int)zs[2], (int)zs[3], pq, &err), SHIM_OK);
  expect_close(g, "post_quant_conv_out", pq, nz);
  size_t nimg = (size_t)zs[0] * g->cfg.out_channels * (zs[2] * 2) * (zs[3] * 2);
  float *img = malloc(nimg * sizeof *img);
  assert_non_null(img);
  assert_int_equal(shim_vae_decode(v, z, (int)zs[0], (int)zs[2], (int)zs[3], img, &err), SHIM_OK);
  expect_close(g, "decode.sample", img, nimg);
  free(img);
  free(pq);
  free(z);
  shim_vae_free(v);
}

static void decode_matches_diffusers(void **state) {
  (void)state;
  golden_case g;
  if (open_case(&g)) return;
  check_decode(&g, g.gt.views, g.gt.n_views);
  close_case(&g);
}

/* Checkpoints saved before diffusers 0.14 name the mid-block attention query/key/value/proj_attn. */
static void legacy_attention_names_load(void **state) {
  (void)state;
  golden_case g;
  if (open_case(&g)) return;
  shim_tensor_view *v = malloc(g.gt.n_views * sizeof *v);
  char (*names)[160] = calloc(g.gt.n_views, sizeof *names);
  assert_true(v && names);
  memcpy(v, g.gt.views, g.gt.n_views * sizeof *v);
  static const char *const from[] = {".to_q.", ".to_k.", ".to_v.", ".to_out.0."};
  static const char *const to[] = {".query.", ".key.", ".value.", ".proj_attn."};
  size_t renamed = 0;
  for (size_t i = 0; i < g.gt.n_views; i++) {
    for (size_t k = 0; k < 4; k++) {
      const char *at = strstr(v[i].name, from[k]);
      if (!at) continue;
      snprintf(names[i], sizeof names[i], "%.*s%s%s", (int)(at - v[i].name), v[i].name, to[k], at + strlen(from[k]));
      v[i].name = names[i];
      renamed++;
    }
  }
  assert_int_equal(renamed, 16);
  check_decode(&g, v, g.gt.n_views);
  free(names);
  free(v);
  close_case(&g);
}

static int new_with(const golden_case *g, const shim_vae_config *cfg, const shim_tensor_view *views, size_t n,
                    shim_err *err) {
  shim_vae *v = NULL;
  int rc = shim_vae_new(cfg, views, n, NULL, &v, err);
  shim_vae_free(v);
  (void)g;
  return rc;
}

static void weight_errors_name_the_weight(void **state) {
  (void)state;
  golden_case g;
  if (open_case(&g)) return;
  shim_err err = {{0}};
  size_t n = g.gt.n_views;
  shim_tensor_view *v = malloc((n + 1) * sizeof *v);
  assert_non_null(v);
  const char *target = "decoder.up_blocks.1.resnets.0.conv_shortcut.weight";
  size_t at = gt_find_view(&g.gt, target);

  memcpy(v, g.gt.views, n * sizeof *v);
  v[at] = v[n - 1];
  assert_int_equal(new_with(&g, &g.cfg, v, n - 1, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'decoder.up_blocks.1.resnets.0.conv_shortcut.weight' is missing"));

  memcpy(v, g.gt.views, n * sizeof *v);
  v[at].shape[1] = 32;
  assert_int_equal(new_with(&g, &g.cfg, v, n, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'decoder.up_blocks.1.resnets.0.conv_shortcut.weight' has shape [32, 32, 1, 1], "
                                  "expected [32, 64, 1, 1]"));

  memcpy(v, g.gt.views, n * sizeof *v);
  v[n] = v[at];
  v[n].name = "decoder.up_blocks.1.upsamplers.0.conv.weight";
  assert_int_equal(new_with(&g, &g.cfg, v, n + 1, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'decoder.up_blocks.1.upsamplers.0.conv.weight'"));
  assert_non_null(strstr(err.msg, "unexpected"));

  /* a config that does not match the weights: one more layer per block */
  shim_vae_config more = g.cfg;
  more.layers_per_block = 3;
  assert_int_equal(new_with(&g, &more, g.gt.views, n, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "encoder.down_blocks.0.resnets.2."));

  /* the shim re-checks a hand-filled config */
  shim_vae_config bad = g.cfg;
  snprintf(bad.down_block_types[1], sizeof bad.down_block_types[1], "AttnDownEncoderBlock2D");
  assert_int_equal(new_with(&g, &bad, g.gt.views, n, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "down_block_types[1] 'AttnDownEncoderBlock2D'"));
  bad = g.cfg;
  bad.norm_num_groups = 5;
  assert_int_equal(new_with(&g, &bad, g.gt.views, n, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "groups"));
  free(v);

  /* bad input shapes */
  shim_vae *m = new_model(&g, g.gt.views, n);
  float img[3 * 1 * 1] = {0};
  float z[4] = {0};
  assert_int_equal(shim_vae_encode(m, img, 1, 1, 1, z, NULL, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "smaller than the downscale factor"));
  assert_int_equal(shim_vae_decode(m, z, 0, 1, 1, img, &err), SHIM_E_INVALID);
  shim_vae_free(m);
  close_case(&g);
}

static int parse_text(const char *json, shim_vae_config *cfg, herr *e, char *path, size_t cap) {
  gt_temp_config("mdh_vae_cfg_", json, path, cap);
  int rc = vae_config_load(path, cfg, e);
  gt_temp_config_remove(path);
  return rc;
}

static void config_reads_every_field_with_diffusers_defaults(void **state) {
  (void)state;
  shim_vae_config c;
  herr e = {{0}};
  char path[256];
  assert_int_equal(parse_text("{}", &c, &e, path, sizeof path), 0);
  assert_int_equal(c.in_channels, 3);
  assert_int_equal(c.out_channels, 3);
  assert_int_equal(c.latent_channels, 4);
  assert_int_equal(c.n_blocks, 1);
  assert_int_equal(c.block_out_channels[0], 64);
  assert_string_equal(c.down_block_types[0], "DownEncoderBlock2D");
  assert_string_equal(c.up_block_types[0], "UpDecoderBlock2D");
  assert_int_equal(c.layers_per_block, 1);
  assert_int_equal(c.norm_num_groups, 32);
  assert_string_equal(c.act_fn, "silu");
  assert_int_equal(c.sample_size[0], 32);
  assert_float_equal(c.scaling_factor, 0.18215, 1e-12);
  assert_int_equal(c.force_upcast, 1);
  assert_int_equal(parse_text("{\"sample_size\": [64, 96], \"force_upcast\": false, \"scaling_factor\": 0.13025}", &c,
                              &e, path, sizeof path),
                   0);
  assert_int_equal(c.sample_size[0], 64);
  assert_int_equal(c.sample_size[1], 96);
  assert_int_equal(c.force_upcast, 0);
  assert_float_equal(c.scaling_factor, 0.13025, 1e-12);

  char *p = golden_path_or_skip("vae/config.json");
  if (!p) return;
  assert_int_equal(vae_config_load(p, &c, &e), 0);
  assert_int_equal(c.n_blocks, 2);
  assert_int_equal(c.block_out_channels[0], 32);
  assert_int_equal(c.block_out_channels[1], 64);
  assert_int_equal(c.layers_per_block, 2);
  assert_int_equal(c.norm_num_groups, 8);
  assert_int_equal(c.latent_channels, 4);
  assert_int_equal(c.sample_size[0], 32);
  free(p);
}

static void config_errors_name_file_and_key(void **state) {
  (void)state;
  shim_vae_config c;
  herr e = {{0}};
  char path[256];
  static const struct {
    const char *json, *want;
  } cases[] = {
      {"{\"down_block_types\": [\"AttnDownEncoderBlock2D\"]}", "key 'down_block_types'[0] is 'AttnDownEncoderBlock2D'"},
      {"{\"up_block_types\": [\"UpBlock2D\"]}", "key 'up_block_types'[0] is 'UpBlock2D'"},
      {"{\"act_fn\": \"tanh\"}", "key 'act_fn' is 'tanh'"},
      {"{\"block_out_channels\": [32, 64]}", "key 'down_block_types' has 1 entries"},
      {"{\"block_out_channels\": [30], \"norm_num_groups\": 8}", "key 'norm_num_groups' (8) does not divide"},
      {"{\"_class_name\": \"VQModel\"}", "key '_class_name' is 'VQModel'"},
      {"{\"layers_per_block\": 0}", "key 'layers_per_block'"},
      {"{\"latent_channels\": \"4\"}", "key 'latent_channels'"},
      {"{\"scaling_factor\": 0}", "key 'scaling_factor'"},
      {"{\"sample_size\": [1, 2, 3]}", "key 'sample_size'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    gt_expect_config_error(parse_text(cases[i].json, &c, &e, path, sizeof path), &e, cases[i].json, cases[i].want,
                           path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(encode_matches_diffusers),
    cmocka_unit_test(decode_matches_diffusers),
    cmocka_unit_test(legacy_attention_names_load),
    cmocka_unit_test(weight_errors_name_the_weight),
    cmocka_unit_test(config_reads_every_field_with_diffusers_defaults),
    cmocka_unit_test(config_errors_name_file_and_key),
};

MDH_TEST_MAIN(tests)

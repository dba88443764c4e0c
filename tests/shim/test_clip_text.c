/* The CLIP text encoder against transformers 4.33 (golden text_encoder_sd1: quick_gelu,
 * text_encoder_sd2: gelu): last_hidden_state, every hidden state, clip-skip, pooler_output and
 * textual-inversion rows at relative L2 error < 1e-5; plus the loader's and config parser's
 * errors naming the weight, file and key. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden_tensors.h"
#include "harness/model/clip_config.h"
#include "mdh_shim.h"

#define TOL 1e-5

typedef struct golden_case {
  gt_case gt;
  shim_clip_text_config cfg;
} golden_case;

/* Opens golden/<name>/ (skips the test when absent). */
static int open_case(const char *name, golden_case *g) {
  if (gt_case_open(&g->gt, name, "model.safetensors")) return -1;
  herr e = {{0}};
  char *cfg = gt_join(g->gt.dir, "config.json");
  if (clip_config_load(cfg, &g->cfg, &e)) fail_msg("%s", e.msg);
  free(cfg);
  return 0;
}

static void close_case(golden_case *g) { gt_case_close(&g->gt); }

static shim_clip_text *new_model(const golden_case *g) {
  shim_clip_text *m = NULL;
  shim_err err = {{0}};
  shim_exec exec = {.device = "cpu", .dtype = SHIM_F32};
  int rc = shim_clip_text_new(&g->cfg, g->gt.views, g->gt.n_views, &exec, &m, &err);
  if (rc != SHIM_OK) fail_msg("shim_clip_text_new: %s", err.msg);
  return m;
}

/* input ids [b, len] copied out of the (possibly unaligned) mapping. */
static int64_t *load_ids(const golden_case *g, const char *name, int *b, int *len) {
  const st_tensor *t;
  int64_t *ids = gt_tensor_i64(g->gt.inputs, name, NULL, &t);
  assert_int_equal(t->ndim, 2);
  *b = (int)t->shape[0];
  *len = (int)t->shape[1];
  return ids;
}

/* ||got - ref|| / ||ref|| against expected tensor `name`, asserted below TOL. */
static void expect_close(const golden_case *g, const char *name, const float *got, size_t numel) {
  gt_expect_close(g->gt.expected, name, got, numel, TOL, NULL);
}

/* Every output the README lists for prompts `ids_name`, with expected names under `prefix`. */
static void check_outputs(const golden_case *g, shim_clip_text *m, const char *ids_name, const char *prefix) {
  int b = 0, len = 0;
  int64_t *ids = load_ids(g, ids_name, &b, &len);
  const int d = g->cfg.hidden_size, layers = g->cfg.num_hidden_layers;
  size_t numel = (size_t)b * len * d;
  float *out = malloc(numel * sizeof *out);
  assert_non_null(out);
  shim_err err = {{0}};
  char name[128];

  for (int skip = 0; skip <= 1; skip++) {
    assert_int_equal(shim_clip_text_encode(m, ids, b, len, skip, out, &err), SHIM_OK);
    snprintf(name, sizeof name, "%slast_hidden_state", prefix);
    expect_close(g, name, out, numel);
  }
  assert_int_equal(shim_clip_text_encode(m, ids, b, len, 2, out, &err), SHIM_OK);
  snprintf(name, sizeof name, "%spenultimate_final_ln", prefix);
  expect_close(g, name, out, numel);
  assert_int_equal(shim_clip_text_hidden_state(m, ids, b, len, layers - 1, 1, out, &err), SHIM_OK);
  expect_close(g, name, out, numel);
  assert_int_equal(shim_clip_text_hidden_state(m, ids, b, len, layers - 1, 0, out, &err), SHIM_OK);
  snprintf(name, sizeof name, "%spenultimate_hidden_state", prefix);
  expect_close(g, name, out, numel);
  for (int k = 0; k <= layers; k++) {
    assert_int_equal(shim_clip_text_hidden_state(m, ids, b, len, k, 0, out, &err), SHIM_OK);
    snprintf(name, sizeof name, "%shidden_states.%d", prefix, k);
    expect_close(g, name, out, numel);
  }
  assert_int_equal(shim_clip_text_pooled(m, ids, b, len, out, &err), SHIM_OK);
  snprintf(name, sizeof name, "%spooler_output", prefix);
  expect_close(g, name, out, (size_t)b * d);
  free(out);
  free(ids);
}

static void run_reference(const char *case_name) {
  golden_case g;
  if (open_case(case_name, &g)) return;
  shim_clip_text *m = new_model(&g);
  check_outputs(&g, m, "input_ids", "");
  shim_clip_text_free(m);
  close_case(&g);
}

/* Textual inversion: 16 rows appended (resize to 49424), set from ti.new_rows; the old rows
 * stay as they were and every ti.* output matches. */
static void run_textual_inversion(const char *case_name) {
  golden_case g;
  if (open_case(case_name, &g)) return;
  shim_clip_text *m = new_model(&g);
  shim_err err = {{0}};
  const int64_t old_vocab = g.cfg.vocab_size, d = g.cfg.hidden_size;
  assert_int_equal(shim_clip_text_vocab_size(m), old_vocab);
  size_t n = 0;
  float *rows = gt_tensor_f32(g.gt.expected, "ti.new_rows", &n, NULL);
  const int64_t added = (int64_t)n / d;
  assert_int_equal(added, 16);
  assert_int_equal(shim_clip_text_resize_vocab(m, old_vocab + added, &err), SHIM_OK);
  assert_int_equal(shim_clip_text_vocab_size(m), old_vocab + added);
  assert_int_equal(shim_clip_text_set_token_rows(m, old_vocab, added, rows, &err), SHIM_OK);

  float *back = malloc(n * sizeof *back);
  assert_non_null(back);
  assert_int_equal(shim_clip_text_get_token_rows(m, old_vocab, added, back, &err), SHIM_OK);
  assert_memory_equal(back, rows, n * sizeof *back);
  /* the last original row is unchanged */
  herr e = {{0}};
  const st_tensor *emb = st_find(g.gt.model, "text_model.embeddings.token_embedding.weight");
  assert_non_null(emb);
  float *all = malloc((size_t)st_numel(emb) * sizeof *all);
  assert_non_null(all);
  if (st_to_f32(emb, all, &e)) fail_msg("%s", e.msg);
  assert_int_equal(shim_clip_text_get_token_rows(m, old_vocab - 1, 1, back, &err), SHIM_OK);
  assert_memory_equal(back, all + (old_vocab - 1) * d, (size_t)d * sizeof *back);

  check_outputs(&g, m, "ti.input_ids", "ti.");

  /* add_token_rows adds; rows outside the vocabulary are refused by range */
  for (size_t i = 0; i < (size_t)d; i++) back[i] = 1.0f;
  assert_int_equal(shim_clip_text_add_token_rows(m, old_vocab, 1, back, &err), SHIM_OK);
  assert_int_equal(shim_clip_text_get_token_rows(m, old_vocab, 1, back, &err), SHIM_OK);
  for (size_t i = 0; i < (size_t)d; i++) assert_float_equal(back[i], rows[i] + 1.0f, 1e-6);
  assert_int_equal(shim_clip_text_set_token_rows(m, old_vocab + added - 1, 2, rows, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "outside the vocabulary"));
  free(all);
  free(back);
  free(rows);
  shim_clip_text_free(m);
  close_case(&g);
}

static void sd1_quick_gelu_outputs_match_transformers(void **state) {
  (void)state;
  run_reference("text_encoder_sd1");
}

static void sd2_gelu_outputs_match_transformers(void **state) {
  (void)state;
  run_reference("text_encoder_sd2");
}

static void sd1_textual_inversion_rows_match_transformers(void **state) {
  (void)state;
  run_textual_inversion("text_encoder_sd1");
}

static void sd2_textual_inversion_rows_match_transformers(void **state) {
  (void)state;
  run_textual_inversion("text_encoder_sd2");
}

/* The error text of shim_clip_text_new on views modified by `edit`. */
static int new_with(const golden_case *g, shim_tensor_view *views, size_t n, shim_err *err) {
  shim_clip_text *m = NULL;
  int rc = shim_clip_text_new(&g->cfg, views, n, NULL, &m, err);
  shim_clip_text_free(m);
  return rc;
}

static void weight_errors_name_the_weight(void **state) {
  (void)state;
  golden_case g;
  if (open_case("text_encoder_sd1", &g)) return;
  shim_err err = {{0}};
  size_t n = g.gt.n_views;
  shim_tensor_view *v = malloc((n + 1) * sizeof *v);
  assert_non_null(v);
  const char *target = "text_model.encoder.layers.1.mlp.fc1.weight";
  size_t at = gt_find_view(&g.gt, target);

  /* missing */
  memcpy(v, g.gt.views, n * sizeof *v);
  v[at] = v[n - 1];
  assert_int_equal(new_with(&g, v, n - 1, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'text_model.encoder.layers.1.mlp.fc1.weight' is missing"));

  /* wrong shape */
  memcpy(v, g.gt.views, n * sizeof *v);
  v[at].shape[0] = 32;
  v[at].shape[1] = 64;
  assert_int_equal(new_with(&g, v, n, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'text_model.encoder.layers.1.mlp.fc1.weight' has shape [32, 64], expected [64, 32]"));

  /* unexpected (a fourth layer's weight) */
  memcpy(v, g.gt.views, n * sizeof *v);
  v[n] = v[at];
  v[n].name = "text_model.encoder.layers.3.mlp.fc1.weight";
  assert_int_equal(new_with(&g, v, n + 1, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "'text_model.encoder.layers.3.mlp.fc1.weight'"));
  assert_non_null(strstr(err.msg, "unexpected"));

  /* the legacy position_ids buffer is accepted and ignored */
  static const int64_t pos[77] = {0};
  memcpy(v, g.gt.views, n * sizeof *v);
  v[n] = (shim_tensor_view){.name = "text_model.embeddings.position_ids", .dtype = SHIM_I64, .ndim = 2,
                            .shape = {1, 77}, .data = pos};
  assert_int_equal(new_with(&g, v, n + 1, &err), SHIM_OK);
  free(v);
  close_case(&g);
}

static void bad_inputs_are_refused_by_name(void **state) {
  (void)state;
  golden_case g;
  if (open_case("text_encoder_sd1", &g)) return;
  shim_clip_text *m = new_model(&g);
  shim_err err = {{0}};
  int64_t ids[4] = {49406, 320, 49407, 49408};
  float out[4 * 32];
  assert_int_equal(shim_clip_text_encode(m, ids, 1, 4, 0, out, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "token id 49408 outside the vocabulary [0, 49408)"));
  assert_int_equal(shim_clip_text_encode(m, ids, 1, 3, 4, out, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "clip_skip 4"));
  int64_t *many = calloc(78, sizeof *many);
  float *big = malloc(78 * 32 * sizeof *big);
  assert_int_equal(shim_clip_text_encode(m, many, 1, 78, 0, big, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "max_position_embeddings"));
  free(many);
  free(big);
  shim_clip_text_free(m);
  close_case(&g);
}

/* Writes `json` to a fresh temporary config.json and parses it. */
static int parse_text(const char *json, shim_clip_text_config *cfg, herr *e, char *path, size_t cap) {
  gt_temp_config("mdh_clip_cfg_", json, path, cap);
  int rc = clip_config_load(path, cfg, e);
  gt_temp_config_remove(path);
  return rc;
}

static void config_reads_every_field_with_transformers_defaults(void **state) {
  (void)state;
  shim_clip_text_config c;
  herr e = {{0}};
  char path[256];
  assert_int_equal(parse_text("{\"hidden_act\": \"gelu\", \"hidden_size\": 64, \"num_attention_heads\": 4, "
                              "\"eos_token_id\": 2, \"layer_norm_eps\": 1e-6}",
                              &c, &e, path, sizeof path),
                   0);
  assert_string_equal(c.hidden_act, "gelu");
  assert_int_equal(c.hidden_size, 64);
  assert_int_equal(c.num_attention_heads, 4);
  assert_int_equal(c.eos_token_id, 2);
  assert_float_equal(c.layer_norm_eps, 1e-6, 1e-12);
  /* CLIPTextConfig defaults */
  assert_int_equal(c.vocab_size, 49408);
  assert_int_equal(c.intermediate_size, 2048);
  assert_int_equal(c.num_hidden_layers, 12);
  assert_int_equal(c.max_position_embeddings, 77);
  assert_int_equal(c.pad_token_id, 1);
  assert_int_equal(c.bos_token_id, 49406);
  assert_int_equal(parse_text("{}", &c, &e, path, sizeof path), 0);
  assert_string_equal(c.hidden_act, "quick_gelu");
  assert_int_equal(c.eos_token_id, 49407);
  /* a full CLIPConfig is read through text_config */
  assert_int_equal(parse_text("{\"model_type\": \"clip\", \"text_config\": {\"hidden_size\": 48, "
                              "\"num_attention_heads\": 3}}",
                              &c, &e, path, sizeof path),
                   0);
  assert_int_equal(c.hidden_size, 48);

  /* the golden SD1 and SD2 configs */
  char *p1 = golden_path_or_skip("text_encoder_sd1/config.json");
  if (!p1) return;
  assert_int_equal(clip_config_load(p1, &c, &e), 0);
  assert_string_equal(c.hidden_act, "quick_gelu");
  assert_int_equal(c.num_hidden_layers, 3);
  assert_int_equal(c.intermediate_size, 64);
  assert_int_equal(c.eos_token_id, 2);
  free(p1);
  char *p2 = golden_path_or_skip("text_encoder_sd2/config.json");
  if (!p2) return;
  assert_int_equal(clip_config_load(p2, &c, &e), 0);
  assert_string_equal(c.hidden_act, "gelu");
  free(p2);
}

static void config_errors_name_file_and_key(void **state) {
  (void)state;
  shim_clip_text_config c;
  herr e = {{0}};
  char path[256];
  static const struct {
    const char *json, *want;
  } cases[] = {
      {"{\"hidden_act\": \"tanh\"}", "key 'hidden_act' is 'tanh'"},
      {"{\"hidden_size\": 30, \"num_attention_heads\": 4}", "key 'hidden_size' (30) must be divisible"},
      {"{\"num_hidden_layers\": 0}", "key 'num_hidden_layers'"},
      {"{\"vocab_size\": \"big\"}", "key 'vocab_size'"},
      {"{\"layer_norm_eps\": -1}", "key 'layer_norm_eps'"},
      {"{\"model_type\": \"bert\"}", "key 'model_type' is 'bert'"},
      {"{\"architectures\": [\"T5EncoderModel\"]}", "key 'architectures'"},
      {"{\"max_position_embeddings\": 2.5}", "key 'max_position_embeddings'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    gt_expect_config_error(parse_text(cases[i].json, &c, &e, path, sizeof path), &e, cases[i].json, cases[i].want,
                           path);
  /* the shim re-checks what a C caller fills in by hand */
  memset(&c, 0, sizeof c);
  assert_int_equal(parse_text("{}", &c, &e, path, sizeof path), 0);
  snprintf(c.hidden_act, sizeof c.hidden_act, "tanh");
  shim_clip_text *m = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_clip_text_new(&c, NULL, 0, NULL, &m, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "hidden_act"));
  assert_null(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(sd1_quick_gelu_outputs_match_transformers),
    cmocka_unit_test(sd2_gelu_outputs_match_transformers),
    cmocka_unit_test(sd1_textual_inversion_rows_match_transformers),
    cmocka_unit_test(sd2_textual_inversion_rows_match_transformers),
    cmocka_unit_test(weight_errors_name_the_weight),
    cmocka_unit_test(bad_inputs_are_refused_by_name),
    cmocka_unit_test(config_reads_every_field_with_transformers_defaults),
    cmocka_unit_test(config_errors_name_file_and_key),
};

MDH_TEST_MAIN(tests)

/* Textual-inversion training loop (harness/pipeline/ti_train) on the golden tiny SD2 pipeline:
 * only the placeholder rows change, an interrupted run resumed from its checkpoint ends
 * bit-identical to an uninterrupted one, cached latents save VAE passes, initialisation follows
 * A1111, a diverging loss stops with the step named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "harness/formats/png.h"
#include "harness/pipeline/ti_train.h"
#include "harness/util/fsutil.h"
#include "test_main.h"

static const shim_exec cpu_f32 = {.device = "cpu", .dtype = SHIM_F32};

static sd_model *load_tiny(void) {
  char *dir = golden_path_or_skip("pipeline_sd2");
  if (!dir) return NULL;
  sd_model *m = NULL;
  herr e = {{0}};
  if (sd_model_load(dir, &cpu_f32, &m, &e)) fail_msg("sd_model_load: %s", e.msg);
  free(dir);
  return m;
}

/* A temp dir with n small striped PNGs (40x36: not square, so the crop matters). */
static char *make_images(int n, ti_image_set *set) {
  char tmpl[] = "/tmp/mdh-ti-XXXXXX";
  char *dir = strdup(mkdtemp(tmpl));
  herr e = {{0}};
  memset(set, 0, sizeof *set);
  for (int i = 0; i < n; i++) {
    uint8_t px[40 * 36 * 3];
    for (int y = 0; y < 36; y++)
      for (int x = 0; x < 40; x++)
        for (int c = 0; c < 3; c++) px[(y * 40 + x) * 3 + c] = (uint8_t)((x * 6 + y * (i + 1) * 3 + c * 70) % 256);
    char name[32];
    snprintf(name, sizeof name, "img%d.png", i);
    char *p = fs_join(dir, name);
    assert_int_equal(png_write8(p, px, 40, 36, 3, NULL, 0, &e), 0);
    assert_int_equal(ti_image_set_add(set, p, i ? "striped" : "", &e), 0);
    free(p);
  }
  return dir;
}

static void base_opts(ti_train_opts *o) {
  ti_train_opts_default(o);
  o->token = "<concept>";
  o->n_vectors = 3;
  o->init_text = "a photo";
  o->steps = 4;
  o->batch_size = 2;
  o->lr = "0.01";
  o->flip_p = 0.5;
  o->seed = 7;
}

static void train_ok(sd_model *m, const ti_image_set *set, const ti_train_opts *o, ti_train_result *r) {
  herr e = {{0}};
  if (ti_train(m, set, o, r, &e)) fail_msg("ti_train: %s", e.msg);
}

static void only_placeholder_rows_change(void **state) {
  sd_model *m = load_tiny();
  ti_image_set set;
  char *dir = make_images(3, &set);
  int64_t V = shim_clip_text_vocab_size(m->text_encoder);
  int d = shim_clip_text_hidden_size(m->text_encoder);
  float *before = malloc((size_t)V * d * sizeof *before), *after = malloc((size_t)V * d * sizeof *after);
  shim_err se;
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, 0, V, before, &se), 0);
  ti_train_opts o;
  base_opts(&o);
  o.weight_decay = 0.01; /* must not reach the frozen rows either */
  ti_train_result r;
  train_ok(m, &set, &o, &r);
  assert_int_equal(shim_clip_text_vocab_size(m->text_encoder), V + 3);
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, 0, V, after, &se), 0);
  assert_memory_equal(before, after, (size_t)V * d * sizeof *before);
  /* The placeholder rows moved away from the init ("a photo": a, photo, a) and the model holds them. */
  float *rows = malloc((size_t)3 * d * sizeof *rows), init[2][64];
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, V, 3, rows, &se), 0);
  assert_memory_equal(rows, r.embedding.items[0].data, (size_t)3 * d * sizeof *rows);
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, 320, 1, init[0], &se), 0);  /* "a</w>" */
  double moved = 0;
  for (int k = 0; k < d; k++) moved += fabs(rows[k] - init[0][k]);
  assert_true(moved > 1e-3);
  assert_int_equal(r.n_steps, 4);
  for (int s = 0; s < 4; s++) assert_true(isfinite(r.losses[s]) && r.losses[s] > 0);
  assert_int_equal(r.embedding.items[0].n_vectors, 3);
  assert_string_equal(r.embedding.items[0].token, "<concept>");
  assert_int_equal(r.embedding.step, 4);
  ti_train_result_free(&r);
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(rows);
  free(before);
  free(after);
  sd_model_free(m);
}

/* A1111's create_embedding: vector i = token embedding number i * n_tokens / n_vectors. */
static void init_text_spreads_over_vectors(void **state) {
  sd_model *m = load_tiny();
  ti_image_set set;
  char *dir = make_images(1, &set);
  ti_train_opts o;
  base_opts(&o);
  o.n_vectors = 4;
  o.init_text = "a photo"; /* 2 tokens -> a, a, photo, photo */
  o.lr = "0";
  o.steps = 1;
  ti_train_result r;
  train_ok(m, &set, &o, &r);
  int d = shim_clip_text_hidden_size(m->text_encoder);
  float a[64], photo[64];
  shim_err se;
  int64_t *ids = NULL;
  size_t n = 0;
  herr e = {{0}};
  assert_int_equal(tok_clip_encode_raw(m->tokenizer, "a photo", &ids, &n, &e), 0);
  assert_int_equal(n, 2);
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, ids[0], 1, a, &se), 0);
  assert_int_equal(shim_clip_text_get_token_rows(m->text_encoder, ids[1], 1, photo, &se), 0);
  const float *v = r.embedding.items[0].data;
  assert_memory_equal(v + 0 * d, a, d * sizeof(float));
  assert_memory_equal(v + 1 * d, a, d * sizeof(float));
  assert_memory_equal(v + 2 * d, photo, d * sizeof(float));
  assert_memory_equal(v + 3 * d, photo, d * sizeof(float));
  free(ids);
  ti_train_result_free(&r);
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
  sd_model_free(m);
}

static int stop_at_3(void *user, const ti_step_info *s, herr *e) {
  (void)user;
  return s->step == 3 ? herr_set(e, "stopped on purpose at step 3") : 0;
}

static void resumed_run_is_bit_identical(void **state) {
  ti_image_set set;
  char *dir = make_images(3, &set);
  char *ck_a = fs_join(dir, "ck-a"), *ck_b = fs_join(dir, "ck-b");
  ti_train_opts o;
  base_opts(&o);
  o.steps = 6;
  o.grad_accum = 2;
  o.latent_sampling = TI_LATENT_RANDOM;
  o.checkpoint_every = 2;
  /* Uninterrupted. */
  sd_model *m = load_tiny();
  o.checkpoint_dir = ck_a;
  ti_train_result full;
  train_ok(m, &set, &o, &full);
  sd_model_free(m);
  /* Interrupted after step 3 (the checkpoint holds step 2), then resumed in a fresh process' model. */
  m = load_tiny();
  o.checkpoint_dir = ck_b;
  o.on_step = stop_at_3;
  ti_train_result part;
  herr e = {{0}};
  assert_int_not_equal(ti_train(m, &set, &o, &part, &e), 0);
  assert_non_null(strstr(e.msg, "step 3"));
  sd_model_free(m);
  m = load_tiny();
  o.on_step = NULL;
  /* Without resume the existing state is refused, not overwritten. */
  assert_int_not_equal(ti_train(m, &set, &o, &part, &e), 0);
  assert_non_null(strstr(e.msg, "resume"));
  sd_model_free(m);
  m = load_tiny();
  o.resume = true;
  ti_train_result rest;
  train_ok(m, &set, &o, &rest);
  assert_int_equal(rest.resumed_from, 2);
  assert_int_equal(rest.n_steps, 6);
  assert_memory_equal(full.embedding.items[0].data, rest.embedding.items[0].data,
                      (size_t)3 * full.embedding.items[0].dim * sizeof(float));
  assert_memory_equal(full.losses, rest.losses, 6 * sizeof(double));
  /* A different training refuses the state rather than continuing from it. */
  sd_model_free(m);
  m = load_tiny();
  o.seed = 8;
  assert_int_not_equal(ti_train(m, &set, &o, &part, &e), 0);
  assert_non_null(strstr(e.msg, "different training"));
  ti_train_result_free(&full);
  ti_train_result_free(&rest);
  sd_model_free(m);
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(ck_a);
  free(ck_b);
}

/* With a centre crop each image and flip is encoded once, whatever the number of steps. */
static void cached_latents_save_vae_passes(void **state) {
  sd_model *m = load_tiny();
  ti_image_set set;
  char *dir = make_images(2, &set);
  ti_train_opts o;
  base_opts(&o);
  o.steps = 6;
  o.flip_p = 0;
  ti_train_result r;
  train_ok(m, &set, &o, &r);
  assert_int_equal(r.vae_passes, 2);
  ti_train_result_free(&r);
  sd_model_free(m);
  m = load_tiny();
  o.crop = TI_CROP_RANDOM;
  train_ok(m, &set, &o, &r);
  assert_int_equal(r.vae_passes, 6 * 2); /* every use */
  ti_train_result_free(&r);
  sd_model_free(m);
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
}

static void diverging_loss_names_the_step(void **state) {
  sd_model *m = load_tiny();
  ti_image_set set;
  char *dir = make_images(1, &set);
  ti_train_opts o;
  base_opts(&o);
  o.lr = "1e30"; /* the first step throws the rows to ~1e30: the text encoder overflows */
  o.steps = 5;
  ti_train_result r;
  herr e = {{0}};
  assert_int_not_equal(ti_train(m, &set, &o, &r, &e), 0);
  print_message("%s\n", e.msg);
  assert_non_null(strstr(e.msg, "loss became"));
  assert_non_null(strstr(e.msg, "at step 2"));
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
  sd_model_free(m);
}

static void previews_and_checkpoint_files(void **state) {
  sd_model *m = load_tiny();
  ti_image_set set;
  char *dir = make_images(2, &set);
  char *ck = fs_join(dir, "ck"), *pv = fs_join(dir, "pv");
  ti_train_opts o;
  base_opts(&o);
  o.checkpoint_dir = ck;
  o.checkpoint_every = 2;
  o.preview_dir = pv;
  o.preview_every = 2;
  o.preview_steps = 2;
  ti_train_result r;
  train_ok(m, &set, &o, &r);
  const char *want[] = {"ck/ti-state.safetensors", "ck/embeddings/<concept>-2.pt", "ck/embeddings/<concept>-4.pt",
                        "pv/step-000002.png", "pv/step-000004.png"};
  for (size_t i = 0; i < 5; i++) {
    char *p = fs_join(dir, want[i]);
    if (!fs_exists(p)) fail_msg("%s missing", p);
    free(p);
  }
  /* The step-4 checkpoint embedding is the result. */
  char *p = fs_join(dir, "ck/embeddings/<concept>-4.pt");
  emb_file f;
  herr e = {{0}};
  assert_int_equal(emb_read(p, &f, &e), 0);
  assert_int_equal(f.step, 4);
  assert_memory_equal(f.items[0].data, r.embedding.items[0].data, (size_t)3 * f.items[0].dim * sizeof(float));
  emb_file_free(&f);
  free(p);
  ti_train_result_free(&r);
  ti_image_set_free(&set);
  fs_remove_tree(dir, NULL);
  free(dir);
  free(ck);
  free(pv);
  sd_model_free(m);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(only_placeholder_rows_change),
    cmocka_unit_test(init_text_spreads_over_vectors),
    cmocka_unit_test(resumed_run_is_bit_identical),
    cmocka_unit_test(cached_latents_save_vae_passes),
    cmocka_unit_test(diverging_loss_names_the_step),
    cmocka_unit_test(previews_and_checkpoint_files),
};
MDH_TEST_MAIN(tests)

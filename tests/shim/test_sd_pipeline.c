/* The whole txt2img pipeline against diffusers 0.21.4 StableDiffusionPipeline on the tiny SD2
 * folder (golden pipeline_sd2, README there): folder loading, tokenizer and prompt embeddings,
 * PNDM/DDIM/Euler runs at rel L2 < 1e-4, textual inversion, loader and parameter errors. */
#include "test_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "golden_tensors.h"
#include "harness/formats/json_file.h"
#include "harness/loader/sd_model.h"
#include "harness/text/clip_tokenizer.h"
#include "harness/util/fsutil.h"
#include "mdh_shim.h"

#define IMG_TOL 1e-4 /* README: images / latents after 5 CFG steps */
#define EMB_TOL 1e-5 /* README: text embeddings */
#define SEQ 77
#define MAX_B 8

static const shim_exec cpu_f32 = {.device = "cpu", .dtype = SHIM_F32};

/* ---- helpers ---- */

static sd_model *load_model(const char *dir) {
  sd_model *m = NULL;
  herr e = {{0}};
  if (sd_model_load(dir, &cpu_f32, &m, &e)) fail_msg("sd_model_load(%s): %s", dir, e.msg);
  return m;
}

/* The loader's error for `dir` (which must fail). */
static void expect_load_error(const char *dir, const char *const *needles, size_t n_needles) {
  sd_model *m = NULL;
  herr e = {{0}};
  int rc = sd_model_load(dir, &cpu_f32, &m, &e);
  if (rc == 0) {
    sd_model_free(m);
    fail_msg("sd_model_load(%s) succeeded, expected an error", dir);
  }
  assert_null(m);
  print_message("load error: %s\n", e.msg);
  for (size_t i = 0; i < n_needles; i++)
    if (!strstr(e.msg, needles[i])) fail_msg("message '%s' does not mention '%s'", e.msg, needles[i]);
}

static cJSON *read_json(const char *dir, const char *rel) {
  char *p = fs_join(dir, rel);
  herr e = {{0}};
  cJSON *root = jf_read(p, 1u << 22, &e);
  if (!root) fail_msg("%s", e.msg);
  free(p);
  return root;
}

/* Tokenizes the strings of JSON array `list` (max_length padding, 77) into ids[B * 77]. */
static int tokenize_list(const sd_model *m, const cJSON *list, int64_t *ids) {
  assert_true(cJSON_IsArray(list));
  int b = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    assert_true(cJSON_IsString(it));
    assert_true(b < MAX_B);
    herr e = {{0}};
    if (tok_clip_encode(m->tokenizer, it->valuestring, ids + (size_t)b * SEQ, SEQ, NULL, &e))
      fail_msg("tokenizing '%s': %s", it->valuestring, e.msg);
    b++;
  }
  return b;
}

/* A temp folder whose components are symlinks to the golden folder's, to change one thing. */
static const char *const components[] = {"model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"};

static char *link_folder(const char *golden) {
  char tmpl[] = "/tmp/mdh_sd_pipe_XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  for (size_t i = 0; i < sizeof components / sizeof *components; i++) {
    char *src = fs_join(golden, components[i]), *dst = fs_join(tmpl, components[i]);
    assert_int_equal(symlink(src, dst), 0);
    free(src);
    free(dst);
  }
  return strdup(tmpl);
}

/* Replaces the link dir/sub by a real folder of links to golden/sub's files except `skip`. */
static void unfold(const char *golden, const char *dir, const char *sub, const char *skip) {
  char *src_dir = fs_join(golden, sub), *dst_dir = fs_join(dir, sub);
  assert_int_equal(unlink(dst_dir), 0);
  assert_int_equal(mkdir(dst_dir, 0755), 0);
  DIR *d = opendir(src_dir);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || (skip && !strcmp(de->d_name, skip))) continue;
    char *s = fs_join(src_dir, de->d_name), *t = fs_join(dst_dir, de->d_name);
    assert_int_equal(symlink(s, t), 0);
    free(s);
    free(t);
  }
  closedir(d);
  free(src_dir);
  free(dst_dir);
}

static void write_file(const char *dir, const char *rel, const void *data, size_t len) {
  char *p = fs_join(dir, rel);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(p);
}

static void write_json(const char *dir, const char *rel, const cJSON *root) {
  char *text = cJSON_Print(root);
  assert_non_null(text);
  write_file(dir, rel, text, strlen(text));
  free(text);
}

static void remove_folder(char *dir) {
  herr e = {{0}};
  if (fs_remove_tree(dir, &e)) fail_msg("%s", e.msg);
  free(dir);
}

/* ---- the golden case ---- */

typedef struct golden_run {
  char *dir;
  sd_model *m;
  cJSON *run;     /* expected/run.json */
  st_file *inputs; /* expected/inputs.safetensors */
  int B, height, width;
  int64_t cond[MAX_B * SEQ], uncond[MAX_B * SEQ];
  float *latents; /* inputs:latents [B, 4, 16, 16] */
  size_t n_latents;
} golden_run;

static int open_run(golden_run *g) {
  memset(g, 0, sizeof *g);
  if (!(g->dir = golden_path_or_skip("pipeline_sd2"))) return -1;
  g->m = load_model(g->dir);
  g->run = read_json(g->dir, "expected/run.json");
  g->inputs = gt_open_st(g->dir, "expected/inputs.safetensors");
  g->B = tokenize_list(g->m, cJSON_GetObjectItemCaseSensitive(g->run, "prompt"), g->cond);
  assert_int_equal(tokenize_list(g->m, cJSON_GetObjectItemCaseSensitive(g->run, "negative_prompt"), g->uncond), g->B);
  g->height = cJSON_GetObjectItemCaseSensitive(g->run, "height")->valueint;
  g->width = cJSON_GetObjectItemCaseSensitive(g->run, "width")->valueint;
  g->latents = gt_tensor_f32(g->inputs, "latents", &g->n_latents, NULL);
  return 0;
}

static void close_run(golden_run *g) {
  free(g->latents);
  st_close(g->inputs);
  cJSON_Delete(g->run);
  sd_model_free(g->m);
  free(g->dir);
}

static shim_txt2img_params run_params(const golden_run *g) {
  shim_txt2img_params p = {
      .n_images = g->B,
      .seq_len = SEQ,
      .cond_ids = g->cond,
      .uncond_ids = g->uncond,
      .clip_skip = 0,
      .height = g->height,
      .width = g->width,
      .steps = cJSON_GetObjectItemCaseSensitive(g->run, "num_inference_steps")->valueint,
      .guidance = cJSON_GetObjectItemCaseSensitive(g->run, "guidance_scale")->valuedouble,
      .seed = 0,
      .init_latents = g->latents,
      .vae_scaling_factor = g->m->scaling_factor,
  };
  return p;
}

static size_t image_numel(const golden_run *g) { return (size_t)g->B * g->height * g->width * 3; }

/* ---- 1. tokenizer ---- */

static void tokenizer_reproduces_pipeline_input_ids(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  assert_int_equal(g.B, 2);
  assert_int_equal(g.m->seq_len, SEQ);
  static const char *const names[2] = {"prompt_input_ids", "negative_input_ids"};
  const int64_t *got[2] = {g.cond, g.uncond};
  for (int k = 0; k < 2; k++) {
    size_t n = 0;
    int64_t *want = gt_tensor_i64(g.inputs, names[k], &n, NULL);
    assert_int_equal(n, (size_t)g.B * SEQ);
    for (size_t i = 0; i < n; i++)
      if (got[k][i] != want[i])
        fail_msg("%s[%zu][%zu]: got %lld, diffusers %lld", names[k], i / SEQ, i % SEQ, (long long)got[k][i],
                 (long long)want[i]);
    free(want);
  }
  close_run(&g);
}

/* ---- 2. text embeddings ---- */

static void text_embeddings_match_encode_prompt(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  st_file *ref = gt_open_st(g.dir, "expected/text_embeddings.safetensors");
  int hidden = shim_clip_text_hidden_size(g.m->text_encoder);
  assert_int_equal(hidden, 32);
  size_t n = (size_t)g.B * SEQ * hidden;
  float *out = malloc(n * sizeof *out);
  assert_non_null(out);
  shim_err err = {{0}};
  assert_int_equal(shim_clip_text_encode(g.m->text_encoder, g.cond, g.B, SEQ, 0, out, &err), SHIM_OK);
  gt_expect_close(ref, "prompt_embeds", out, n, EMB_TOL, "encode");
  assert_int_equal(shim_clip_text_encode(g.m->text_encoder, g.uncond, g.B, SEQ, 0, out, &err), SHIM_OK);
  gt_expect_close(ref, "negative_prompt_embeds", out, n, EMB_TOL, "encode");
  free(out);
  st_close(ref);
  close_run(&g);
}

/* ---- 3. txt2img against each run ---- */

/* Runs txt2img with `sampler_name` on model `m` (the golden one or a variant) and compares with
 * expected/run_<run>.safetensors and run.json's schedule for that run. */
static void check_run(golden_run *g, const sd_model *m, const char *sampler_name, const char *run,
                      const char *want_class) {
  const cJSON *info = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g->run, "runs"), run);
  assert_non_null(info);
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  if (shim_sampler_new(&m->scheduler, sampler_name, &s, &err)) fail_msg("sampler %s: %s", run, err.msg);
  assert_string_equal(shim_sampler_class(s), want_class);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(info, "scheduler_class")->valuestring, want_class);

  shim_txt2img_params p = run_params(g);
  assert_int_equal(shim_sampler_set_timesteps(s, p.steps, &err), SHIM_OK);
  const cJSON *ts = cJSON_GetObjectItemCaseSensitive(info, "timesteps");
  int n_ts = cJSON_GetArraySize(ts);
  assert_int_equal(shim_sampler_num_model_evals(s), n_ts);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(info, "n_unet_calls")->valueint, n_ts);
  double got_ts[64];
  size_t n = 0;
  assert_int_equal(shim_sampler_timesteps(s, got_ts, 64, &n, &err), SHIM_OK);
  assert_int_equal(n, (size_t)n_ts);
  for (int i = 0; i < n_ts; i++) {
    double want = cJSON_GetArrayItem(ts, i)->valuedouble;
    if (got_ts[i] != want) fail_msg("%s timesteps[%d]: got %.9g, diffusers %.9g", run, i, got_ts[i], want);
  }
  double sigma = cJSON_GetObjectItemCaseSensitive(info, "init_noise_sigma")->valuedouble;
  assert_true(fabs(shim_sampler_init_noise_sigma(s) - sigma) <= 1e-6 * sigma);

  float *images = malloc(image_numel(g) * sizeof *images), *lat = malloc(g->n_latents * sizeof *lat);
  assert_true(images && lat);
  if (shim_txt2img(m->text_encoder, m->unet, m->vae, s, &p, images, lat, &err))
    fail_msg("txt2img %s: %s", run, err.msg);
  char rel[96];
  snprintf(rel, sizeof rel, "expected/run_%s.safetensors", run);
  st_file *ref = gt_open_st(g->dir, rel);
  gt_expect_close(ref, "images_np", images, image_numel(g), IMG_TOL, run);
  gt_expect_close(ref, "latents_out", lat, g->n_latents, IMG_TOL, run);
  st_close(ref);
  free(images);
  free(lat);
  shim_sampler_free(s);
}

static void txt2img_model_scheduler_matches_pndm_run(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  assert_string_equal(g.m->scheduler_class, "PNDMScheduler");
  assert_int_equal(g.m->sample_size * g.m->vae_scale_factor, g.height);
  check_run(&g, g.m, NULL, "pndm", "PNDMScheduler");
  close_run(&g);
}

static void txt2img_ddim_matches_ddim_run(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  check_run(&g, g.m, "ddim", "ddim", "DDIMScheduler");
  close_run(&g);
}

/* The folder's scheduler_config.json names timestep_spacing "leading": Euler inherits it. */
static void txt2img_euler_inherits_leading_spacing(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  check_run(&g, g.m, "euler", "euler", "EulerDiscreteScheduler");
  close_run(&g);
}

/* Without the key Euler uses its own default, linspace (timesteps from 999). */
static void txt2img_euler_keyless_config_uses_linspace(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  char *dir = link_folder(g.dir);
  unfold(g.dir, dir, "scheduler", "scheduler_config.json");
  cJSON *sc = read_json(g.dir, "scheduler/scheduler_config.json");
  assert_true(cJSON_HasObjectItem(sc, "timestep_spacing"));
  cJSON_DeleteItemFromObjectCaseSensitive(sc, "timestep_spacing");
  write_json(dir, "scheduler/scheduler_config.json", sc);
  cJSON_Delete(sc);
  sd_model *m = load_model(dir);
  check_run(&g, m, "euler", "euler_keyless", "EulerDiscreteScheduler");
  sd_model_free(m);
  remove_folder(dir);
  close_run(&g);
}

/* ---- 4. seeds, guidance 1, progress ---- */

typedef struct progress_log {
  int calls, last_done, total, stop_at, out_of_order;
} progress_log;

/* No cmocka asserts in here: a longjmp out of the callback would cross the shim's C++ frames. */
static int on_progress(void *user, int done, int total) {
  progress_log *l = user;
  l->calls++;
  if (done != l->calls) l->out_of_order = 1;
  l->last_done = done;
  l->total = total;
  return l->stop_at > 0 && done >= l->stop_at;
}

static void seeded_generation_is_deterministic(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  /* Euler ancestral draws noise in every step as well as the initial latents */
  assert_int_equal(shim_sampler_new(&g.m->scheduler, "euler_a", &s, &err), SHIM_OK);
  assert_true(shim_sampler_needs_noise(s));
  size_t n = image_numel(&g);
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  assert_true(a && b && c);
  shim_txt2img_params p = run_params(&g);
  p.init_latents = NULL;
  p.seed = 1234;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, a, NULL, &err), SHIM_OK);
  /* the same sampler again: set_timesteps must reset its state */
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, b, NULL, &err), SHIM_OK);
  assert_memory_equal(a, b, n * sizeof *a);
  p.seed = 1235;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, c, NULL, &err), SHIM_OK);
  assert_true(gt_rel_l2(c, a, n) > 1e-3);
  for (size_t i = 0; i < n; i++) assert_true(a[i] >= 0.0f && a[i] <= 1.0f);
  free(a);
  free(b);
  free(c);
  shim_sampler_free(s);
  close_run(&g);
}

static void guidance_one_needs_no_negative_prompt(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_sampler_new(&g.m->scheduler, "ddim", &s, &err), SHIM_OK);
  size_t n = image_numel(&g);
  float *img = malloc(n * sizeof *img), *lat = malloc(g.n_latents * sizeof *lat);
  assert_true(img && lat);
  shim_txt2img_params p = run_params(&g);
  p.guidance = 1.0;
  p.uncond_ids = NULL;
  if (shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, img, lat, &err)) fail_msg("%s", err.msg);
  for (size_t i = 0; i < n; i++) assert_true(img[i] >= 0.0f && img[i] <= 1.0f);
  for (size_t i = 0; i < g.n_latents; i++) assert_true(isfinite(lat[i]));
  /* without CFG the result is not the guided one */
  st_file *ref = gt_open_st(g.dir, "expected/run_ddim.safetensors");
  size_t nr = 0;
  float *guided = gt_tensor_f32(ref, "latents_out", &nr, NULL);
  assert_int_equal(nr, g.n_latents);
  assert_true(gt_rel_l2(lat, guided, nr) > 1e-3);
  free(guided);
  st_close(ref);
  /* guidance > 1 without negative ids is refused */
  p.guidance = 7.5;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, img, lat, &err), SHIM_E_INVALID);
  assert_non_null(strstr(err.msg, "negative"));
  free(img);
  free(lat);
  shim_sampler_free(s);
  close_run(&g);
}

static void progress_reports_every_evaluation_and_can_cancel(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_sampler_new(&g.m->scheduler, NULL, &s, &err), SHIM_OK);
  float *lat = malloc(g.n_latents * sizeof *lat);
  assert_non_null(lat);
  shim_txt2img_params p = run_params(&g);
  progress_log log = {0};
  p.progress = on_progress;
  p.progress_user = &log;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, NULL, lat, &err), SHIM_OK);
  int evals = shim_sampler_num_model_evals(s);
  assert_int_equal(evals, p.steps + 1); /* PNDM with skip_prk_steps */
  assert_int_equal(log.calls, evals);
  assert_int_equal(log.total, evals);
  assert_int_equal(log.last_done, evals);
  assert_false(log.out_of_order);

  memset(&log, 0, sizeof log);
  log.stop_at = 2;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, NULL, lat, &err), SHIM_E_CANCELLED);
  assert_int_equal(log.calls, 2);
  print_message("cancelled: %s\n", err.msg);
  assert_true(err.msg[0] != '\0');
  free(lat);
  shim_sampler_free(s);
  close_run(&g);
}

/* ---- 5. textual inversion ---- */

static void learned_embeds_load_expand_and_encode(void **state) {
  (void)state;
  char *dir = golden_path_or_skip("pipeline_sd2");
  if (!dir) return;
  sd_model *m = load_model(dir);
  char *path = test_data_path("embeddings/learned_embeds.safetensors");
  char *exp_json = test_data_path("embeddings/learned_embeds.expected.json");
  char *exp_st = test_data_path("embeddings/learned_embeds.expected.safetensors");
  herr e = {{0}};
  cJSON *want = jf_read(exp_json, 1u << 20, &e);
  if (!want) fail_msg("%s", e.msg);
  st_file *ref = st_open(exp_st, &e);
  if (!ref) fail_msg("%s", e.msg);

  if (sd_model_add_embedding(m, path, &e)) fail_msg("%s", e.msg);
  const cJSON *toks = cJSON_GetObjectItemCaseSensitive(want, "loaded_tokens");
  const cJSON *ids = cJSON_GetObjectItemCaseSensitive(want, "loaded_ids");
  assert_int_equal(cJSON_GetArraySize(toks), 4);
  assert_int_equal(cJSON_GetArraySize(ids), 4);
  for (int i = 0; i < 4; i++) {
    const char *tok = cJSON_GetArrayItem(toks, i)->valuestring;
    int64_t id = tok_clip_token_id(m->tokenizer, tok);
    if (id != (int64_t)cJSON_GetArrayItem(ids, i)->valuedouble)
      fail_msg("token %s: id %lld, diffusers %d", tok, (long long)id, cJSON_GetArrayItem(ids, i)->valueint);
  }
  assert_int_equal(shim_clip_text_vocab_size(m->text_encoder), 49412);

  const char *prompt = cJSON_GetObjectItemCaseSensitive(want, "prompt")->valuestring;
  char *expanded = sd_model_expand_prompt(m, prompt, &e);
  if (!expanded) fail_msg("%s", e.msg);
  assert_string_equal(expanded, cJSON_GetObjectItemCaseSensitive(want, "maybe_convert_prompt")->valuestring);

  int64_t got_ids[SEQ];
  if (tok_clip_encode(m->tokenizer, expanded, got_ids, SEQ, NULL, &e)) fail_msg("%s", e.msg);
  size_t n = 0;
  int64_t *want_ids = gt_tensor_i64(ref, "input_ids", &n, NULL);
  assert_int_equal(n, SEQ);
  for (size_t i = 0; i < n; i++)
    if (got_ids[i] != want_ids[i])
      fail_msg("input_ids[%zu]: got %lld, diffusers %lld", i, (long long)got_ids[i], (long long)want_ids[i]);

  int hidden = shim_clip_text_hidden_size(m->text_encoder);
  float *emb = malloc((size_t)SEQ * hidden * sizeof *emb);
  assert_non_null(emb);
  shim_err err = {{0}};
  assert_int_equal(shim_clip_text_encode(m->text_encoder, got_ids, 1, SEQ, 0, emb, &err), SHIM_OK);
  gt_expect_close(ref, "prompt_embeds", emb, (size_t)SEQ * hidden, EMB_TOL, "textual inversion");

  /* a second load would shadow the first */
  assert_int_equal(sd_model_add_embedding(m, path, &e), -1);
  print_message("reload: %s\n", e.msg);
  assert_non_null(strstr(e.msg, "<concept>"));
  assert_non_null(strstr(e.msg, "already"));
  assert_int_equal(tok_clip_token_id(m->tokenizer, "<concept>"), 49408);

  free(emb);
  free(want_ids);
  free(expanded);
  st_close(ref);
  cJSON_Delete(want);
  free(exp_json);
  free(exp_st);
  free(path);
  sd_model_free(m);
  free(dir);
}

static void embedding_of_another_width_is_refused(void **state) {
  (void)state;
  char *dir = golden_path_or_skip("pipeline_sd2");
  if (!dir) return;
  sd_model *m = load_model(dir);
  char *path = test_data_path("embeddings/prostate_pos.pt");
  herr e = {{0}};
  assert_int_equal(sd_model_add_embedding(m, path, &e), -1);
  print_message("%s\n", e.msg);
  assert_non_null(strstr(e.msg, "1024"));
  assert_non_null(strstr(e.msg, "32"));
  assert_non_null(strstr(e.msg, "prostate_pos.pt"));
  /* nothing was added */
  assert_int_equal(tok_clip_token_id(m->tokenizer, "prostate_pos"), -1);
  assert_int_equal(shim_clip_text_vocab_size(m->text_encoder), 49408);
  free(path);
  sd_model_free(m);
  free(dir);
}

/* ---- 6. loader errors ---- */

static void pickle_only_unet_is_refused(void **state) {
  (void)state;
  char *golden = golden_path_or_skip("pipeline_sd2");
  if (!golden) return;
  char *dir = link_folder(golden);
  unfold(golden, dir, "unet", "diffusion_pytorch_model.safetensors");
  static const char fake_pickle[] = "\x80\x02}q\x00.";
  write_file(dir, "unet/diffusion_pytorch_model.bin", fake_pickle, sizeof fake_pickle - 1);
  const char *needles[] = {"unet/diffusion_pytorch_model.bin", "pickle", "safetensors"};
  expect_load_error(dir, needles, 3);
  remove_folder(dir);
  free(golden);
}

static void model_index_with_other_unet_class_is_refused(void **state) {
  (void)state;
  char *golden = golden_path_or_skip("pipeline_sd2");
  if (!golden) return;
  char *dir = link_folder(golden);
  cJSON *idx = read_json(golden, "model_index.json");
  const char *pair[2] = {"diffusers", "UNet2DModel"};
  cJSON_ReplaceItemInObjectCaseSensitive(idx, "unet", cJSON_CreateStringArray(pair, 2));
  char *link = fs_join(dir, "model_index.json");
  assert_int_equal(unlink(link), 0);
  free(link);
  write_json(dir, "model_index.json", idx);
  cJSON_Delete(idx);
  const char *needles[] = {"model_index.json", "UNet2DModel", "UNet2DConditionModel"};
  expect_load_error(dir, needles, 3);
  remove_folder(dir);
  free(golden);
}

static void missing_vae_folder_is_named(void **state) {
  (void)state;
  char *golden = golden_path_or_skip("pipeline_sd2");
  if (!golden) return;
  char *dir = link_folder(golden);
  char *vae = fs_join(dir, "vae");
  assert_int_equal(unlink(vae), 0);
  free(vae);
  const char *needles[] = {"no vae/ folder"};
  expect_load_error(dir, needles, 1);
  remove_folder(dir);
  free(golden);
}

static void cross_attention_dim_must_match_text_encoder(void **state) {
  (void)state;
  char *golden = golden_path_or_skip("pipeline_sd2");
  if (!golden) return;
  char *dir = link_folder(golden);
  unfold(golden, dir, "unet", "config.json");
  cJSON *cfg = read_json(golden, "unet/config.json");
  assert_true(cJSON_HasObjectItem(cfg, "cross_attention_dim"));
  cJSON_ReplaceItemInObjectCaseSensitive(cfg, "cross_attention_dim", cJSON_CreateNumber(64));
  write_json(dir, "unet/config.json", cfg);
  cJSON_Delete(cfg);
  const char *needles[] = {"cross_attention_dim", "64", "hidden_size 32"};
  expect_load_error(dir, needles, 3);
  remove_folder(dir);
  free(golden);
}

static void truncated_text_encoder_weights_name_the_file(void **state) {
  (void)state;
  char *golden = golden_path_or_skip("pipeline_sd2");
  if (!golden) return;
  char *dir = link_folder(golden);
  unfold(golden, dir, "text_encoder", "model.safetensors");
  char *src = fs_join(golden, "text_encoder/model.safetensors");
  FILE *f = fopen(src, "rb");
  assert_non_null(f);
  char head[1000];
  assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
  fclose(f);
  free(src);
  write_file(dir, "text_encoder/model.safetensors", head, sizeof head);
  const char *needles[] = {"text_encoder/model.safetensors"};
  expect_load_error(dir, needles, 1);
  remove_folder(dir);
  free(golden);
}

/* ---- 7. parameters ---- */

static void invalid_txt2img_params_are_refused(void **state) {
  (void)state;
  golden_run g;
  if (open_run(&g)) return;
  shim_sampler *s = NULL;
  shim_err err = {{0}};
  assert_int_equal(shim_sampler_new(&g.m->scheduler, NULL, &s, &err), SHIM_OK);
  float *img = malloc(image_numel(&g) * 2 * sizeof *img);
  assert_non_null(img);
  shim_txt2img_params p = run_params(&g);
  p.init_latents = NULL;
  p.height = g.height + 1;
  if (g.m->vae_scale_factor > 1) {
    assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, img, NULL, &err), SHIM_E_INVALID);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "multiples"));
  }
  p = run_params(&g);
  p.steps = 0;
  assert_int_equal(shim_txt2img(g.m->text_encoder, g.m->unet, g.m->vae, s, &p, img, NULL, &err), SHIM_E_INVALID);
  print_message("%s\n", err.msg);
  assert_non_null(strstr(err.msg, "steps"));
  free(img);
  shim_sampler_free(s);
  close_run(&g);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tokenizer_reproduces_pipeline_input_ids),
    cmocka_unit_test(text_embeddings_match_encode_prompt),
    cmocka_unit_test(txt2img_model_scheduler_matches_pndm_run),
    cmocka_unit_test(txt2img_ddim_matches_ddim_run),
    cmocka_unit_test(txt2img_euler_inherits_leading_spacing),
    cmocka_unit_test(txt2img_euler_keyless_config_uses_linspace),
    cmocka_unit_test(seeded_generation_is_deterministic),
    cmocka_unit_test(guidance_one_needs_no_negative_prompt),
    cmocka_unit_test(progress_reports_every_evaluation_and_can_cancel),
    cmocka_unit_test(learned_embeds_load_expand_and_encode),
    cmocka_unit_test(embedding_of_another_width_is_refused),
    cmocka_unit_test(pickle_only_unet_is_refused),
    cmocka_unit_test(model_index_with_other_unet_class_is_refused),
    cmocka_unit_test(missing_vae_folder_is_named),
    cmocka_unit_test(cross_attention_dim_must_match_text_encoder),
    cmocka_unit_test(truncated_text_encoder_weights_name_the_file),
    cmocka_unit_test(invalid_txt2img_params_are_refused),
};

MDH_TEST_MAIN(tests)

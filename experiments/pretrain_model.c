/* pretrain_model: the tiny model's config.json files from pretrain.model.*, a trainer's
 * tensors to and from safetensors (components and resume checkpoints), and the corpus as the
 * training stages read it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/pretrain_schema.h"
#include "harness/formats/safetensors.h"
#include "harness/util/fsutil.h"

#define MAXB 8

static int ints_at(const cfg_node *c, const char *path, long long *out, size_t *n, herr *e) {
  const cfg_node *s = cfg_get(c, path);
  if (!s || s->kind != CFG_SEQ) return herr_set(e, "%s: expected a list of integers", path);
  if (s->len < 1 || s->len > MAXB) return herr_set(e, "%s: expected 1 to %d entries, got %zu", path, MAXB, s->len);
  for (size_t i = 0; i < s->len; i++) {
    char key[160];
    snprintf(key, sizeof key, "%s.%zu", path, i);
    if (cfg_int_at(c, key, &out[i], e)) return -1;
  }
  *n = s->len;
  return 0;
}

static int write_json(cJSON *root, const char *dir, const char *file, herr *e) {
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return herr_set(e, "%s/%s: out of memory", dir, file);
  char *path = fs_join(dir, file);
  int rc = fs_mkdir_p(dir, e);
  if (!rc) rc = fs_write_atomic(path, text, strlen(text), e);
  free(path);
  free(text);
  return rc;
}

static void add_str_array(cJSON *o, const char *key, const char *v, size_t n) {
  cJSON *a = cJSON_AddArrayToObject(o, key);
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v));
}

static void add_int_array(cJSON *o, const char *key, const long long *v, size_t n) {
  cJSON *a = cJSON_AddArrayToObject(o, key);
  for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
}

int pretrain_write_text_config(const cfg_node *c, const char *dir, herr *e) {
  long long d, layers, heads, ff;
  if (cfg_int_at(c, "pretrain.model.text.hidden_size", &d, e) || cfg_int_at(c, "pretrain.model.text.layers", &layers, e) ||
      cfg_int_at(c, "pretrain.model.text.heads", &heads, e) ||
      cfg_int_at(c, "pretrain.model.text.intermediate_size", &ff, e))
    return -1;
  if (d % heads) return herr_set(e, "pretrain.model.text: hidden_size %lld is not divisible by heads %lld", d, heads);
  cJSON *o = cJSON_CreateObject();
  cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
  cJSON_AddItemToArray(arch, cJSON_CreateString("CLIPTextModel"));
  cJSON_AddNumberToObject(o, "attention_dropout", 0.0);
  cJSON_AddNumberToObject(o, "bos_token_id", 0);
  cJSON_AddNumberToObject(o, "dropout", 0.0);
  cJSON_AddNumberToObject(o, "eos_token_id", 2);
  cJSON_AddStringToObject(o, "hidden_act", "gelu");
  cJSON_AddNumberToObject(o, "hidden_size", (double)d);
  cJSON_AddNumberToObject(o, "initializer_factor", 1.0);
  cJSON_AddNumberToObject(o, "initializer_range", 0.02);
  cJSON_AddNumberToObject(o, "intermediate_size", (double)ff);
  cJSON_AddNumberToObject(o, "layer_norm_eps", 1e-5);
  cJSON_AddNumberToObject(o, "max_position_embeddings", 77);
  cJSON_AddStringToObject(o, "model_type", "clip_text_model");
  cJSON_AddNumberToObject(o, "num_attention_heads", (double)heads);
  cJSON_AddNumberToObject(o, "num_hidden_layers", (double)layers);
  cJSON_AddNumberToObject(o, "pad_token_id", 1);
  cJSON_AddNumberToObject(o, "projection_dim", (double)d);
  cJSON_AddStringToObject(o, "torch_dtype", "float32");
  cJSON_AddNumberToObject(o, "vocab_size", 49408);
  return write_json(o, dir, "config.json", e);
}

int pretrain_write_unet_config(const cfg_node *c, const char *dir, herr *e) {
  long long ch[MAXB], heads[MAXB], lpb, groups, text_d;
  size_t n, nh;
  if (ints_at(c, "pretrain.model.unet.block_out_channels", ch, &n, e) ||
      ints_at(c, "pretrain.model.unet.attention_heads", heads, &nh, e) ||
      cfg_int_at(c, "pretrain.model.unet.layers_per_block", &lpb, e) ||
      cfg_int_at(c, "pretrain.model.unet.norm_num_groups", &groups, e) ||
      cfg_int_at(c, "pretrain.model.text.hidden_size", &text_d, e))
    return -1;
  if (nh != n)
    return herr_set(e, "pretrain.model.unet.attention_heads has %zu entries, block_out_channels %zu", nh, n);
  long long vae_ch[MAXB], image;
  size_t nv;
  if (ints_at(c, "pretrain.model.vae.block_out_channels", vae_ch, &nv, e) ||
      cfg_int_at(c, "pretrain.corpus.image_size", &image, e))
    return -1;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "_class_name", "UNet2DConditionModel");
  cJSON_AddStringToObject(o, "_diffusers_version", "0.21.4");
  cJSON_AddStringToObject(o, "act_fn", "silu");
  add_int_array(o, "attention_head_dim", heads, n);
  add_int_array(o, "block_out_channels", ch, n);
  cJSON_AddBoolToObject(o, "center_input_sample", 0);
  cJSON_AddNumberToObject(o, "cross_attention_dim", (double)text_d);
  cJSON *down = cJSON_AddArrayToObject(o, "down_block_types");
  cJSON *up = cJSON_AddArrayToObject(o, "up_block_types");
  for (size_t i = 0; i < n; i++) {
    cJSON_AddItemToArray(down, cJSON_CreateString(i + 1 < n ? "CrossAttnDownBlock2D" : "DownBlock2D"));
    cJSON_AddItemToArray(up, cJSON_CreateString(i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D"));
  }
  cJSON_AddNumberToObject(o, "downsample_padding", 1);
  cJSON_AddBoolToObject(o, "flip_sin_to_cos", 1);
  cJSON_AddNumberToObject(o, "freq_shift", 0);
  cJSON_AddNumberToObject(o, "in_channels", 4);
  cJSON_AddNumberToObject(o, "layers_per_block", (double)lpb);
  cJSON_AddNumberToObject(o, "mid_block_scale_factor", 1);
  cJSON_AddStringToObject(o, "mid_block_type", "UNetMidBlock2DCrossAttn");
  cJSON_AddNumberToObject(o, "norm_eps", 1e-5);
  cJSON_AddNumberToObject(o, "norm_num_groups", (double)groups);
  cJSON_AddNumberToObject(o, "out_channels", 4);
  cJSON_AddStringToObject(o, "resnet_time_scale_shift", "default");
  cJSON_AddNumberToObject(o, "sample_size", (double)(image >> (nv - 1)));
  cJSON_AddNumberToObject(o, "transformer_layers_per_block", 1);
  cJSON_AddBoolToObject(o, "upcast_attention", 0);
  cJSON_AddBoolToObject(o, "use_linear_projection", 1);
  return write_json(o, dir, "config.json", e);
}

int pretrain_write_vae_config(const cfg_node *c, const char *dir, double scaling_factor, herr *e) {
  long long ch[MAXB], lpb, lat, groups, image;
  size_t n;
  if (ints_at(c, "pretrain.model.vae.block_out_channels", ch, &n, e) ||
      cfg_int_at(c, "pretrain.model.vae.layers_per_block", &lpb, e) ||
      cfg_int_at(c, "pretrain.model.vae.latent_channels", &lat, e) ||
      cfg_int_at(c, "pretrain.model.vae.norm_num_groups", &groups, e) ||
      cfg_int_at(c, "pretrain.corpus.image_size", &image, e))
    return -1;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "_class_name", "AutoencoderKL");
  cJSON_AddStringToObject(o, "_diffusers_version", "0.21.4");
  cJSON_AddStringToObject(o, "act_fn", "silu");
  add_int_array(o, "block_out_channels", ch, n);
  add_str_array(o, "down_block_types", "DownEncoderBlock2D", n);
  cJSON_AddBoolToObject(o, "force_upcast", 1);
  cJSON_AddNumberToObject(o, "in_channels", 3);
  cJSON_AddNumberToObject(o, "latent_channels", (double)lat);
  cJSON_AddNumberToObject(o, "layers_per_block", (double)lpb);
  cJSON_AddNumberToObject(o, "norm_num_groups", (double)groups);
  cJSON_AddNumberToObject(o, "out_channels", 3);
  cJSON_AddNumberToObject(o, "sample_size", (double)image);
  cJSON_AddNumberToObject(o, "scaling_factor", scaling_factor);
  add_str_array(o, "up_block_types", "UpDecoderBlock2D", n);
  return write_json(o, dir, "config.json", e);
}

int pretrain_write_scheduler_config(const char *dir, herr *e) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "_class_name", "PNDMScheduler");
  cJSON_AddStringToObject(o, "_diffusers_version", "0.21.4");
  cJSON_AddNumberToObject(o, "beta_end", 0.012);
  cJSON_AddStringToObject(o, "beta_schedule", "scaled_linear");
  cJSON_AddNumberToObject(o, "beta_start", 0.00085);
  cJSON_AddBoolToObject(o, "clip_sample", 0);
  cJSON_AddNumberToObject(o, "num_train_timesteps", 1000);
  cJSON_AddStringToObject(o, "prediction_type", "epsilon");
  cJSON_AddBoolToObject(o, "set_alpha_to_one", 0);
  cJSON_AddBoolToObject(o, "skip_prk_steps", 1);
  cJSON_AddNumberToObject(o, "steps_offset", 1);
  cJSON_AddStringToObject(o, "timestep_spacing", "leading");
  cJSON_AddNullToObject(o, "trained_betas");
  return write_json(o, dir, "scheduler_config.json", e);
}

/* ---- tensors ---- */

typedef struct tensor_buf {
  st_tensor *t;
  void **data;
  char **names;
  size_t n, cap;
} tensor_buf;

static void tb_free(tensor_buf *b) {
  for (size_t i = 0; i < b->n; i++) {
    free(b->data[i]);
    free(b->names[i]);
  }
  free(b->t);
  free(b->data);
  free(b->names);
}

static int tb_add(tensor_buf *b, const shim_pretrain *p, size_t i, shim_pretrain_role role, shim_dtype dt,
                  const char *name, herr *e) {
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->t = realloc(b->t, b->cap * sizeof *b->t);
    b->data = realloc(b->data, b->cap * sizeof *b->data);
    b->names = realloc(b->names, b->cap * sizeof *b->names);
    if (!b->t || !b->data || !b->names) abort();
  }
  shim_err err;
  int ndim;
  int64_t shape[SHIM_MAX_DIMS];
  if (shim_pretrain_info(p, i, NULL, NULL, &ndim, shape, &err)) return herr_set(e, "%s", err.msg);
  size_t numel = 1;
  for (int d = 0; d < ndim; d++) numel *= (size_t)shape[d];
  const size_t esz = dt == SHIM_F32 ? 4 : 2;
  void *data = malloc(numel * esz + 1);
  if (!data) abort();
  if (shim_pretrain_get(p, i, role, dt, data, &err)) {
    free(data);
    return herr_set(e, "%s", err.msg);
  }
  st_tensor *t = &b->t[b->n];
  memset(t, 0, sizeof *t);
  b->names[b->n] = strdup(name);
  b->data[b->n] = data;
  t->name = b->names[b->n];
  t->dtype = dt == SHIM_F32 ? ST_F32 : dt == SHIM_F16 ? ST_F16 : ST_BF16;
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
  t->data = data;
  t->nbytes = numel * esz;
  b->n++;
  return 0;
}

int pretrain_save_component(const shim_pretrain *p, const char *component, shim_dtype dtype, const char *path,
                            herr *e) {
  tensor_buf b = {0};
  int rc = 0;
  shim_err err;
  for (size_t i = 0; i < shim_pretrain_count(p) && !rc; i++) {
    const char *comp, *name;
    if (shim_pretrain_info(p, i, &comp, &name, NULL, NULL, &err)) rc = herr_set(e, "%s", err.msg);
    if (!rc && !strcmp(comp, component)) rc = tb_add(&b, p, i, SHIM_PT_PARAM, dtype, name, e);
  }
  if (!rc && !b.n) rc = herr_set(e, "%s: the trainer has no component '%s'", path, component);
  char *dir = rc ? NULL : fs_dirname(path);
  if (!rc) rc = fs_mkdir_p(dir, e);
  const char *mk[] = {"format"}, *mv[] = {"pt"};
  if (!rc) rc = st_write(path, b.t, b.n, mk, mv, 1, e);
  free(dir);
  tb_free(&b);
  return rc;
}

static const char *const role_names[] = {"param", "exp_avg", "exp_avg_sq"};

int pretrain_save_checkpoint(const shim_pretrain *p, const double *series, size_t n_rows, size_t n_cols,
                             const char *path, herr *e) {
  tensor_buf b = {0};
  int rc = 0;
  shim_err err;
  for (size_t i = 0; i < shim_pretrain_count(p) && !rc; i++) {
    const char *comp, *name;
    if (shim_pretrain_info(p, i, &comp, &name, NULL, NULL, &err)) rc = herr_set(e, "%s", err.msg);
    for (int r = 0; r < 3 && !rc; r++) {
      char key[512];
      snprintf(key, sizeof key, "%s/%s/%s", role_names[r], comp, name);
      rc = tb_add(&b, p, i, (shim_pretrain_role)r, SHIM_F32, key, e);
    }
  }
  st_tensor s = {.name = "series", .dtype = ST_F64, .ndim = 2, .shape = {(int64_t)n_rows, (int64_t)n_cols},
                 .data = series, .nbytes = n_rows * n_cols * sizeof(double)};
  double dummy = 0;
  if (!n_rows) s.data = &dummy;
  char steps[32];
  snprintf(steps, sizeof steps, "%lld", (long long)shim_pretrain_steps(p));
  const char *mk[] = {"steps"}, *mv[] = {steps};
  if (!rc) {
    st_tensor *all = malloc((b.n + 1) * sizeof *all);
    if (!all) abort();
    memcpy(all, b.t, b.n * sizeof *all);
    all[b.n] = s;
    rc = st_write(path, all, b.n + 1, mk, mv, 1, e);
    free(all);
  }
  tb_free(&b);
  return rc;
}

int pretrain_load_checkpoint(shim_pretrain *p, const char *path, double **series, size_t *n_rows, size_t n_cols,
                             herr *e) {
  st_file *f = st_open(path, e);
  if (!f) return -1;
  int rc = 0;
  shim_err err;
  float *buf = NULL;
  for (size_t i = 0; i < shim_pretrain_count(p) && !rc; i++) {
    const char *comp, *name;
    int ndim;
    int64_t shape[SHIM_MAX_DIMS];
    if (shim_pretrain_info(p, i, &comp, &name, &ndim, shape, &err)) rc = herr_set(e, "%s", err.msg);
    for (int r = 0; r < 3 && !rc; r++) {
      char key[512];
      snprintf(key, sizeof key, "%s/%s/%s", role_names[r], comp, name);
      const st_tensor *t = st_expect(f, key, ST_F32, ndim, shape, e);
      if (!t) {
        rc = -1;
        break;
      }
      buf = realloc(buf, t->nbytes + 4);
      if (!buf) abort();
      rc = st_to_f32(t, buf, e);
      if (!rc && shim_pretrain_set(p, i, (shim_pretrain_role)r, buf, &err)) rc = herr_set(e, "%s: %s", path, err.msg);
    }
  }
  free(buf);
  const char *steps = rc ? NULL : st_metadata(f, "steps");
  if (!rc && !steps) rc = herr_set(e, "%s: no 'steps' in the metadata", path);
  if (!rc && shim_pretrain_set_steps(p, atoll(steps), &err)) rc = herr_set(e, "%s: %s", path, err.msg);
  const st_tensor *s = rc ? NULL : st_find(f, "series");
  if (!rc && (!s || s->dtype != ST_F64 || s->ndim != 2 || s->shape[1] != (int64_t)n_cols))
    rc = herr_set(e, "%s: tensor 'series' is missing or not F64 [rows, %zu]", path, n_cols);
  if (!rc) {
    *n_rows = (size_t)s->shape[0];
    *series = malloc(s->nbytes + sizeof(double));
    if (!*series) abort();
    if (s->nbytes) memcpy(*series, s->data, s->nbytes);
  }
  st_close(f);
  return rc;
}

/* ---- corpus ---- */

int pretrain_corpus_load(stage_ctx *ctx, pretrain_corpus *out, herr *e) {
  memset(out, 0, sizeof *out);
  const char *dir = stage_dep_dir(ctx, "corpus", e);
  if (!dir) return -1;
  char *st_path = fs_join(dir, "artifacts/corpus.safetensors");
  char *cap_path = fs_join(dir, "artifacts/captions.txt");
  int rc = 0;
  st_file *f = st_open(st_path, e);
  const st_tensor *t = f ? st_find(f, "images") : NULL;
  if (!f) rc = -1;
  else if (!t || t->dtype != ST_U8 || t->ndim != 4 || t->shape[3] != 3 || t->shape[1] != t->shape[2])
    rc = herr_set(e, "%s: expected tensor 'images' U8 [n, size, size, 3]", st_path);
  size_t len = 0;
  char *text = rc ? NULL : fs_read_file_max(cap_path, (size_t)1 << 30, &len, e);
  if (!rc && !text) rc = -1;
  if (!rc) {
    out->n = (size_t)t->shape[0];
    out->size = (int)t->shape[1];
    out->images = malloc(t->nbytes + 1);
    out->captions = calloc(out->n + 1, sizeof *out->captions);
    if (!out->images || !out->captions) abort();
    memcpy(out->images, t->data, t->nbytes);
    size_t k = 0;
    for (char *line = text, *next; line && *line && k < out->n; line = next) {
      next = strchr(line, '\n');
      if (next) *next++ = 0;
      out->captions[k++] = strdup(line);
    }
    if (k != out->n) rc = herr_set(e, "%s: %zu captions for %zu images", cap_path, k, out->n);
  }
  free(text);
  if (f) st_close(f);
  free(st_path);
  free(cap_path);
  if (rc) pretrain_corpus_free(out);
  return rc;
}

void pretrain_corpus_free(pretrain_corpus *c) {
  if (c->captions)
    for (size_t i = 0; i < c->n; i++) free(c->captions[i]);
  free(c->captions);
  free(c->images);
  memset(c, 0, sizeof *c);
}

void pretrain_corpus_chw(const pretrain_corpus *c, size_t i, int flip, float *out) {
  const int s = c->size;
  const uint8_t *img = c->images + i * (size_t)s * s * 3;
  for (int ch = 0; ch < 3; ch++)
    for (int y = 0; y < s; y++)
      for (int x = 0; x < s; x++) {
        const int sx = flip ? s - 1 - x : x;
        out[((size_t)ch * s + y) * s + x] = img[((size_t)y * s + sx) * 3 + ch] / 127.5f - 1.0f;
      }
}

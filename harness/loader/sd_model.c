/* sd_model: reads a diffusers Stable Diffusion folder — model_index.json names the component
 * classes, each component folder holds config.json and safetensors weights — and builds the
 * shim's models from them. Pickle checkpoints (.bin/.ckpt) are refused, never executed. */
#include "harness/loader/sd_model.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/json_file.h"
#include "harness/formats/safetensors.h"
#include "harness/model/clip_config.h"
#include "harness/model/scheduler_config.h"
#include "harness/model/unet_config.h"
#include "harness/model/vae_config.h"
#include "harness/model/weights_view.h"
#include "harness/util/fsutil.h"

#define SD_CONFIG_MAX_BYTES (1u << 20)

/* model_index.json maps each component to [library, class]; only the classes this code
 * implements are accepted, so that a folder of another pipeline kind fails here by name. */
static int check_index(const char *dir, herr *e) {
  char *path = fs_join(dir, "model_index.json");
  cJSON *root = jf_read(path, SD_CONFIG_MAX_BYTES, e);
  if (!root) {
    free(path);
    return -1;
  }
  static const char *const want[][2] = {{"text_encoder", "CLIPTextModel"},
                                        {"tokenizer", "CLIPTokenizer"},
                                        {"unet", "UNet2DConditionModel"},
                                        {"vae", "AutoencoderKL"},
                                        {"scheduler", NULL}};
  int rc = 0;
  for (size_t i = 0; i < sizeof want / sizeof *want && !rc; i++) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, want[i][0]);
    const cJSON *cls = cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2 ? cJSON_GetArrayItem(item, 1) : NULL;
    if (!cJSON_IsString(cls)) {
      rc = herr_set(e, "%s: key '%s' must be [library, class] (is this a Stable Diffusion pipeline folder?)", path,
                    want[i][0]);
    } else if (want[i][1] && strcmp(cls->valuestring, want[i][1]) &&
               !(i == 1 && !strcmp(cls->valuestring, "CLIPTokenizerFast"))) {
      rc = herr_set(e, "%s: %s is '%s'; this harness implements %s", path, want[i][0], cls->valuestring, want[i][1]);
    }
  }
  cJSON_Delete(root);
  free(path);
  return rc;
}

/* The component's safetensors weights: <dir>/<sub>/<base>.safetensors. A folder holding only
 * pickle weights gets an error that says how to convert instead of a silent load. */
static char *find_weights(const char *dir, const char *sub, const char *base, herr *e) {
  char name[128];
  snprintf(name, sizeof name, "%s/%s.safetensors", sub, base);
  char *p = fs_join(dir, name);
  if (fs_exists(p)) return p;
  free(p);
  snprintf(name, sizeof name, "%s/%s.bin", sub, base);
  char *bin = fs_join(dir, name);
  if (fs_exists(bin))
    herr_set(e, "%s: pickle checkpoints are never loaded (loading one can execute code); convert it with "
                "diffusers (save_pretrained(..., safe_serialization=True)) to %s.safetensors", bin, base);
  else
    herr_set(e, "%s/%s: no %s.safetensors", dir, sub, base);
  free(bin);
  return NULL;
}

/* Opens the weights and hands their views to `make`, which builds one shim model. */
typedef int (*make_fn)(const void *cfg, const shim_tensor_view *v, size_t n, const shim_exec *exec, void **out,
                       shim_err *err);

static int load_component(const char *dir, const char *sub, const char *base, const void *cfg, make_fn make,
                          const shim_exec *exec, void **out, herr *e) {
  char *path = find_weights(dir, sub, base, e);
  if (!path) return -1;
  st_file *f = st_open(path, e);
  shim_tensor_view *views = NULL;
  size_t n = 0;
  int rc = -1;
  if (f && !wv_from_safetensors(f, NULL, &views, &n, e)) {
    shim_err err;
    if (make(cfg, views, n, exec, out, &err) == SHIM_OK)
      rc = 0;
    else
      herr_set(e, "%s: %s", path, err.msg);
  }
  wv_free(views);
  st_close(f);
  free(path);
  return rc;
}

static int make_text(const void *cfg, const shim_tensor_view *v, size_t n, const shim_exec *x, void **out,
                     shim_err *err) {
  return shim_clip_text_new(cfg, v, n, x, (shim_clip_text **)out, err);
}
static int make_unet(const void *cfg, const shim_tensor_view *v, size_t n, const shim_exec *x, void **out,
                     shim_err *err) {
  return shim_unet_new(cfg, v, n, x, (shim_unet **)out, err);
}
static int make_vae(const void *cfg, const shim_tensor_view *v, size_t n, const shim_exec *x, void **out,
                    shim_err *err) {
  return shim_vae_new(cfg, v, n, x, (shim_vae **)out, err);
}

static int config_path_load(const char *dir, const char *sub, int (*load)(const char *, void *, herr *), void *cfg,
                            herr *e) {
  char rel[128];
  snprintf(rel, sizeof rel, "%s/config.json", sub);
  char *p = fs_join(dir, rel);
  int rc = load(p, cfg, e);
  free(p);
  return rc;
}

static int load_clip_cfg(const char *p, void *c, herr *e) { return clip_config_load(p, c, e); }
static int load_unet_cfg(const char *p, void *c, herr *e) { return unet_config_load(p, c, e); }
static int load_vae_cfg(const char *p, void *c, herr *e) { return vae_config_load(p, c, e); }

int sd_model_load(const char *dir, const shim_exec *exec, sd_model **out, herr *e) {
  *out = NULL;
  if (!fs_is_dir(dir)) return herr_set(e, "%s: not a directory (expected a diffusers model folder)", dir);
  if (check_index(dir, e)) return -1;
  static const char *const parts[] = {"tokenizer", "text_encoder", "unet", "vae", "scheduler"};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
    char *sub = fs_join(dir, parts[i]);
    bool ok = fs_is_dir(sub);
    free(sub);
    if (!ok)
      return herr_set(e, "%s: no %s/ folder (a diffusers Stable Diffusion folder has tokenizer/, text_encoder/, "
                         "unet/, vae/ and scheduler/)", dir, parts[i]);
  }
  sd_model *m = calloc(1, sizeof *m);
  if (!m) return herr_set(e, "out of memory");
  m->dir = strdup(dir);
  shim_clip_text_config tc;
  shim_unet_config uc;
  shim_vae_config vc;
  char *tok_dir = fs_join(dir, "tokenizer");
  char *sched_path = fs_join(dir, "scheduler/scheduler_config.json");
  int rc = -1;
  if (!(m->tokenizer = tok_clip_load(tok_dir, e))) goto done;
  if (config_path_load(dir, "text_encoder", load_clip_cfg, &tc, e) ||
      config_path_load(dir, "unet", load_unet_cfg, &uc, e) || config_path_load(dir, "vae", load_vae_cfg, &vc, e))
    goto done;
  if (sched_config_load(sched_path, &m->scheduler, e)) goto done;
  snprintf(m->scheduler_class, sizeof m->scheduler_class, "%s", m->scheduler.class_name);
  /* The pieces must agree with each other, not just each be valid. */
  for (int b = 0; b < uc.n_blocks; b++) {
    if (uc.cross_attention_dim[b] != tc.hidden_size) {
      herr_set(e, "%s: unet cross_attention_dim %d (block %d) does not match the text encoder's hidden_size %d", dir,
               uc.cross_attention_dim[b], b, tc.hidden_size);
      goto done;
    }
  }
  if (uc.in_channels != vc.latent_channels || uc.out_channels != vc.latent_channels) {
    herr_set(e, "%s: unet in/out_channels %d/%d do not match the VAE's latent_channels %d", dir, uc.in_channels,
             uc.out_channels, vc.latent_channels);
    goto done;
  }
  if ((int64_t)tok_clip_vocab_size(m->tokenizer) > tc.vocab_size) {
    herr_set(e, "%s: the tokenizer has %zu tokens but the text encoder only %d embedding rows", dir,
             tok_clip_vocab_size(m->tokenizer), tc.vocab_size);
    goto done;
  }
  size_t max_len = tok_clip_model_max_length(m->tokenizer);
  m->seq_len = max_len > 0 && max_len <= (size_t)tc.max_position_embeddings ? (int)max_len
                                                                           : tc.max_position_embeddings;
  if (load_component(dir, "text_encoder", "model", &tc, make_text, exec, (void **)&m->text_encoder, e) ||
      load_component(dir, "unet", "diffusion_pytorch_model", &uc, make_unet, exec, (void **)&m->unet, e) ||
      load_component(dir, "vae", "diffusion_pytorch_model", &vc, make_vae, exec, (void **)&m->vae, e))
    goto done;
  m->scaling_factor = vc.scaling_factor;
  m->vae_scale_factor = 1 << (vc.n_blocks - 1);
  m->sample_size = uc.sample_size;
  m->latent_channels = vc.latent_channels;
  rc = 0;
done:
  free(tok_dir);
  free(sched_path);
  if (rc) {
    sd_model_free(m);
    return -1;
  }
  *out = m;
  return 0;
}

void sd_model_free(sd_model *m) {
  if (!m) return;
  tok_clip_free(m->tokenizer);
  shim_clip_text_free(m->text_encoder);
  shim_unet_free(m->unet);
  shim_vae_free(m->vae);
  sched_config_free(&m->scheduler);
  free(m->dir);
  free(m);
}

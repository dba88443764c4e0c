/* pretrain_export: assembles the trained components into a diffusers Stable Diffusion folder
 * (artifacts/tiny-sd: model_index.json, text_encoder/, unet/, vae/, tokenizer/, scheduler/, in the
 * SD 2.0 layout, weights in pretrain.export.dtype), loads it back through sd_model_load (the
 * loader every model goes through), renders one sample grid per caption (samples/<caption>.png, one
 * column per seed) and writes PROVENANCE.md; optionally installs a copy (models/tiny-sd). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "experiments/pretrain_schema.h"
#include "harness/formats/png.h"
#include "harness/formats/safetensors.h"
#include "harness/loader/sd_model.h"
#include "harness/model/clip_config.h"
#include "harness/model/scheduler_config.h"
#include "harness/model/unet_config.h"
#include "harness/model/vae_config.h"
#include "harness/model/weights_view.h"
#include "harness/pipeline/sd_sample.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/strbuf.h"

static int copy_file(const char *from, const char *to, herr *e) {
  size_t len = 0;
  char *data = fs_read_file_max(from, (size_t)256 << 20, &len, e);
  int rc = data ? fs_write_atomic(to, data, len, e) : -1;
  free(data);
  return rc;
}

static int copy_tree(const char *from, const char *to, herr *e) {
  DIR *d = opendir(from);
  if (!d) return herr_set(e, "%s: cannot open the folder", from);
  int rc = fs_mkdir_p(to, e);
  for (struct dirent *de; !rc && (de = readdir(d));) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *a = fs_join(from, de->d_name), *b = fs_join(to, de->d_name);
    rc = fs_is_dir(a) ? copy_tree(a, b, e) : copy_file(a, b, e);
    free(a);
    free(b);
  }
  closedir(d);
  return rc;
}

static long long tree_bytes(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  long long total = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char *a = fs_join(dir, de->d_name);
    struct stat st;
    if (fs_is_dir(a))
      total += tree_bytes(a);
    else if (!stat(a, &st))
      total += (long long)st.st_size;
    free(a);
  }
  closedir(d);
  return total;
}

static int write_model_index(const char *dir, herr *e) {
  static const char *const parts[][3] = {{"scheduler", "diffusers", "PNDMScheduler"},
                                         {"text_encoder", "transformers", "CLIPTextModel"},
                                         {"tokenizer", "transformers", "CLIPTokenizer"},
                                         {"unet", "diffusers", "UNet2DConditionModel"},
                                         {"vae", "diffusers", "AutoencoderKL"}};
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "_class_name", "StableDiffusionPipeline");
  cJSON_AddStringToObject(o, "_diffusers_version", "0.21.4");
  cJSON *fe = cJSON_AddArrayToObject(o, "feature_extractor");
  cJSON_AddItemToArray(fe, cJSON_CreateNull());
  cJSON_AddItemToArray(fe, cJSON_CreateNull());
  cJSON_AddBoolToObject(o, "requires_safety_checker", 0);
  cJSON *sc = cJSON_AddArrayToObject(o, "safety_checker");
  cJSON_AddItemToArray(sc, cJSON_CreateNull());
  cJSON_AddItemToArray(sc, cJSON_CreateNull());
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    cJSON *a = cJSON_AddArrayToObject(o, parts[i][0]);
    cJSON_AddItemToArray(a, cJSON_CreateString(parts[i][1]));
    cJSON_AddItemToArray(a, cJSON_CreateString(parts[i][2]));
  }
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  char *path = fs_join(dir, "model_index.json");
  int rc = fs_write_atomic(path, text, strlen(text), e);
  free(path);
  free(text);
  return rc;
}

typedef struct loaded {
  st_file *f;
  shim_tensor_view *views;
  size_t n;
} loaded;

static int load_views(const char *path, loaded *l, herr *e) {
  memset(l, 0, sizeof *l);
  if (!(l->f = st_open(path, e))) return -1;
  return wv_from_safetensors(l->f, NULL, &l->views, &l->n, e);
}
static void loaded_free(loaded *l) {
  wv_free(l->views);
  if (l->f) st_close(l->f);
}

/* Re-saves the F32 weights in dtype through the trainer's exporter (same names, converted). */
static int convert_weights(const char *vae_art, const char *dn_art, const char *out, shim_dtype dt, herr *e) {
  char *p[8];
  p[0] = fs_join(vae_art, "vae/config.json");
  p[1] = fs_join(vae_art, "vae/diffusion_pytorch_model.safetensors");
  p[2] = fs_join(dn_art, "text_encoder/config.json");
  p[3] = fs_join(dn_art, "text_encoder/model.safetensors");
  p[4] = fs_join(dn_art, "unet/config.json");
  p[5] = fs_join(dn_art, "unet/diffusion_pytorch_model.safetensors");
  p[6] = fs_join(dn_art, "scheduler/scheduler_config.json");
  p[7] = NULL;
  shim_vae_config vc;
  shim_clip_text_config tc;
  shim_unet_config uc;
  shim_scheduler_config sc;
  shim_scheduler_config_init(&sc);
  loaded lv = {0}, lt = {0}, lu = {0};
  shim_pretrain *pv = NULL, *pd = NULL;
  shim_err err;
  shim_pretrain_opt po = {0.9, 0.999, 1e-8, 0, 0};
  const shim_exec ex = {"cpu", SHIM_F32};
  int rc = vae_config_load(p[0], &vc, e);
  if (!rc) rc = clip_config_load(p[2], &tc, e);
  if (!rc) rc = unet_config_load(p[4], &uc, e);
  if (!rc) rc = sched_config_load(p[6], &sc, e);
  if (!rc) rc = load_views(p[1], &lv, e);
  if (!rc) rc = load_views(p[3], &lt, e);
  if (!rc) rc = load_views(p[5], &lu, e);
  if (!rc && shim_pretrain_vae_new(&vc, lv.views, lv.n, 0, &po, &ex, &pv, &err)) rc = herr_set(e, "%s: %s", p[1], err.msg);
  if (!rc && shim_pretrain_denoiser_new(&tc, lt.views, lt.n, &uc, lu.views, lu.n, &sc, 0, &po, &ex, &pd, &err))
    rc = herr_set(e, "%s: %s", p[3], err.msg);
  char *o1 = fs_join(out, "vae/diffusion_pytorch_model.safetensors"), *o2 = fs_join(out, "text_encoder/model.safetensors");
  char *o3 = fs_join(out, "unet/diffusion_pytorch_model.safetensors");
  char *c1 = fs_join(out, "vae/config.json"), *c2 = fs_join(out, "text_encoder/config.json");
  char *c3 = fs_join(out, "unet/config.json"), *c4 = fs_join(out, "scheduler/scheduler_config.json");
  char *sd = fs_join(out, "scheduler");
  if (!rc) rc = pretrain_save_component(pv, "vae", dt, o1, e);
  if (!rc) rc = pretrain_save_component(pd, "text_encoder", dt, o2, e);
  if (!rc) rc = pretrain_save_component(pd, "unet", dt, o3, e);
  if (!rc) rc = copy_file(p[0], c1, e);
  if (!rc) rc = copy_file(p[2], c2, e);
  if (!rc) rc = copy_file(p[4], c3, e);
  if (!rc) rc = fs_mkdir_p(sd, e);
  if (!rc) rc = copy_file(p[6], c4, e);
  char *all[] = {o1, o2, o3, c1, c2, c3, c4, sd};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
  shim_pretrain_free(pv);
  shim_pretrain_free(pd);
  loaded_free(&lv);
  loaded_free(&lt);
  loaded_free(&lu);
  sched_config_free(&sc);
  for (int i = 0; p[i]; i++) free(p[i]);
  return rc;
}

static void slug(const char *caption, char *out, size_t cap) {
  size_t k = 0;
  for (const char *s = caption; *s && k + 1 < cap; s++) {
    const char ch = (char)tolower((unsigned char)*s);
    if (isalnum((unsigned char)ch))
      out[k++] = ch;
    else if (k && out[k - 1] != '_')
      out[k++] = '_';
  }
  while (k && out[k - 1] == '_') k--;
  out[k] = 0;
}

typedef struct sample_opts {
  long long seeds, steps;
  double guidance;
} sample_opts;

/* One row of `seeds` images per caption, seed s in column s (harness generate --seed s gives it). */
static int render_samples(stage_ctx *ctx, const char *model_dir, const cfg_node *caps, const sample_opts *so,
                          strbuf *md, herr *e) {
  sd_model *m = NULL;
  const shim_exec ex = {"cpu", SHIM_F32};
  if (sd_model_load(model_dir, &ex, &m, e)) return herr_prefix(e, "loading the exported model");
  char *sdir = fs_join(model_dir, "samples");
  int rc = fs_mkdir_p(sdir, e);
  int w = 0, h = 0;
  sd_sample_params sp = {.prompt = "", .n_images = 1, .steps = (int)so->steps, .guidance = so->guidance};
  if (!rc) rc = sd_sample_size(m, &sp, &w, &h, e);
  const int n = (int)so->seeds;
  float *img = malloc((size_t)w * h * 3 * sizeof *img);
  uint8_t *grid = malloc((size_t)n * w * h * 3);
  if (!img || !grid) abort();
  stage_progress_begin(ctx, "sample grids", (uint64_t)(caps->len * (size_t)n));
  for (size_t c = 0; c < caps->len && !rc; c++) {
    const char *caption = caps->items[c]->str ? caps->items[c]->str : "";
    for (int s = 0; s < n && !rc; s++) {
      sp.prompt = caption;
      sp.seed = (uint64_t)s;
      rc = sd_sample(m, &sp, img, e);
      uint8_t *px = malloc((size_t)w * h * 3);
      if (!px) abort();
      png_from_unit_float(img, (size_t)w * h * 3, px);
      for (int y = 0; y < h; y++) memcpy(grid + ((size_t)y * n * w + (size_t)s * w) * 3, px + (size_t)y * w * 3, (size_t)w * 3);
      free(px);
      stage_progress_update(ctx, c * (size_t)n + (size_t)s + 1);
    }
    char name[96], file[128];
    slug(caption, name, sizeof name);
    snprintf(file, sizeof file, "%s.png", name);
    char *path = fs_join(sdir, file);
    png_text_kv kv = {"caption", caption};
    if (!rc) rc = png_write8(path, grid, (uint32_t)(n * w), (uint32_t)h, 3, &kv, 1, e);
    if (!rc) sb_appendf(md, "| %s | samples/%s |\n", caption, file);
    free(path);
  }
  stage_progress_end(ctx);
  free(img);
  free(grid);
  free(sdir);
  sd_model_free(m);
  return rc;
}

static double dep_metric(stage_ctx *ctx, const char *role, const char *name) {
  herr e = {0};
  store_reader *r = stage_dep_store(ctx, role, &e);
  double v = NAN;
  if (r && store_get_metric(r, name, &v, &e)) v = NAN;
  return v;
}

static int export_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  const char *dtype, *install;
  sample_opts so;
  if (cfg_str_at(c, "pretrain.export.dtype", &dtype, e) || cfg_str_at(c, "pretrain.export.install_dir", &install, e) ||
      cfg_int_at(c, "pretrain.export.samples.seeds", &so.seeds, e) ||
      cfg_int_at(c, "pretrain.export.samples.steps", &so.steps, e) ||
      cfg_double_at(c, "pretrain.export.samples.guidance", &so.guidance, e))
    return -1;
  const cfg_node *caps = cfg_get(c, "pretrain.export.samples.captions");
  if (!caps || caps->kind != CFG_SEQ) return herr_set(e, "pretrain.export.samples.captions: expected a list");
  const char *vd = stage_dep_dir(ctx, "vae", e), *dd = vd ? stage_dep_dir(ctx, "denoiser", e) : NULL;
  if (!vd || !dd) return -1;
  const double t0 = clock_now_s();
  char *va = fs_join(vd, "artifacts"), *da = fs_join(dd, "artifacts");
  char *out = fs_join(stage_artifact_dir(ctx), "tiny-sd");
  char *tok_from = fs_join(da, "tokenizer"), *tok_to = fs_join(out, "tokenizer");
  int rc = fs_mkdir_p(out, e);
  if (!rc) rc = write_model_index(out, e);
  if (!rc) rc = copy_tree(tok_from, tok_to, e);
  if (!rc) rc = convert_weights(va, da, out, !strcmp(dtype, "f16") ? SHIM_F16 : SHIM_F32, e);
  const long long weight_bytes = rc ? 0 : tree_bytes(out);
  strbuf table = STRBUF_INIT;
  if (!rc) rc = render_samples(ctx, out, caps, &so, &table, e);
  const double secs = clock_now_s() - t0;
  if (!rc) {
    strbuf md = STRBUF_INIT;
    struct utsname u;
    char date[64] = "?";
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    if (uname(&u)) strcpy(u.machine, "?"), strcpy(u.sysname, "?"), strcpy(u.release, "?");
    sb_appendf(&md, "# tiny-sd: provenance\n\n");
    sb_appendf(&md, "A tiny Stable-Diffusion-architecture model (SD 2.0-base layout and conventions: CLIP text encoder "
                    "with gelu and the \"!\" pad token, UNet2DConditionModel, AutoencoderKL, PNDMScheduler, epsilon "
                    "prediction) pretrained from scratch by `harness run configs/pretrain_tiny.yaml` on the "
                    "procedural captioned corpus of harness/data/corpus.h (shapes, textures, colours and layouts; "
                    "no medical content).\n\n");
    sb_appendf(&md, "- date: %s\n- machine: %s %s %s, %ld online cores, libtorch %s, BLAS %s\n", date, u.sysname,
               u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), shim_libtorch_version(), shim_blas_backend());
    sb_appendf(&md, "- stage ids: export %s\n- weights: %s, %.2f MB in total (weights, configs, tokenizer)\n\n",
               stage_id(ctx), dtype, weight_bytes / 1e6);
    sb_appendf(&md, "## Training\n\n| phase | steps | final losses | wall time |\n|---|---|---|---|\n");
    sb_appendf(&md, "| VAE (reconstruction MSE + KL) | %.0f | rec %.5f, KL %.4f (means of the last 50 steps); "
                    "scaling_factor %.5f | %.0f s |\n",
               dep_metric(ctx, "vae", "steps"), dep_metric(ctx, "vae", "final_rec"), dep_metric(ctx, "vae", "final_kl"),
               dep_metric(ctx, "vae", "scaling_factor"), dep_metric(ctx, "vae", "train_seconds"));
    sb_appendf(&md, "| text encoder + UNet (epsilon MSE, VAE frozen) | %.0f | %.5f (mean of the last 200 steps) | %.0f s |\n",
               dep_metric(ctx, "denoiser", "steps"), dep_metric(ctx, "denoiser", "final_loss"),
               dep_metric(ctx, "denoiser", "train_seconds"));
    sb_appendf(&md, "| export + sample grids | | | %.0f s |\n\n", secs);
    sb_appendf(&md, "## Samples\n\nOne row per caption, seeds 0..%lld left to right (`harness generate --model "
                    "models/tiny-sd --prompt CAPTION --seed S --steps %lld --guidance %g` reproduces each), PNDM.\n\n"
                    "| caption | grid |\n|---|---|\n%s\n",
               so.seeds - 1, so.steps, so.guidance, sb_str(&table) ? sb_str(&table) : "");
    char *yaml = cfg_to_yaml(c);
    sb_appendf(&md, "## Config (resolved)\n\n```yaml\n%s```\n", yaml ? yaml : "");
    free(yaml);
    char *path = fs_join(out, "PROVENANCE.md");
    rc = fs_write_atomic(path, sb_str(&md), md.len, e);
    free(path);
    sb_free(&md);
  }
  sb_free(&table);
  if (!rc && *install) {
    char *tmp = malloc(strlen(install) + 8);
    if (!tmp) abort();
    sprintf(tmp, "%s.new", install);
    if (fs_exists(tmp)) rc = fs_remove_tree(tmp, e);
    if (!rc) rc = copy_tree(out, tmp, e);
    if (!rc && fs_exists(install)) rc = fs_remove_tree(install, e);
    if (!rc) rc = fs_rename_durable(tmp, install, e);
    if (!rc) stage_log(ctx, "installed the model in %s", install);
    free(tmp);
  }
  store_writer *w = stage_store(ctx);
  if (!rc) rc = store_put_artifact(w, "model", "artifacts/tiny-sd", e);
  if (!rc) rc = store_put_metric(w, "model_bytes", (double)tree_bytes(out), e);
  if (!rc) rc = store_put_metric(w, "export_seconds", secs, e);
  free(va);
  free(da);
  free(out);
  free(tok_from);
  free(tok_to);
  return rc;
}

static int export_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  (void)point, (void)variant, (void)e;
  *out = calloc(2, sizeof **out);
  if (!*out) abort();
  (*out)[0] = (stage_dep){.role = "vae", .kind = "pretrain_vae", .variant = strdup("")};
  (*out)[1] = (stage_dep){.role = "denoiser", .kind = "pretrain_denoiser", .variant = strdup("")};
  *n = 2;
  return 0;
}

static const char *const export_keys[] = {
    "pretrain.corpus",         "pretrain.model",         "pretrain.vae.steps",    "pretrain.vae.batch",
    "pretrain.vae.lr",         "pretrain.vae.warmup",    "pretrain.vae.weight_decay", "pretrain.vae.max_grad_norm",
    "pretrain.vae.kl_weight",  "pretrain.denoiser.steps", "pretrain.denoiser.batch", "pretrain.denoiser.lr",
    "pretrain.denoiser.warmup", "pretrain.denoiser.weight_decay", "pretrain.denoiser.max_grad_norm",
    "pretrain.denoiser.caption_dropout", "pretrain.export.dtype", "pretrain.export.samples", NULL};
static const char *const export_runtime_keys[] = {"pretrain.export.install_dir", NULL};

const stage_kind pretrain_export_stage = {
    .name = "pretrain_export",
    .version = 1,
    .summary = "writes the pretrained tiny model as a diffusers folder with sample grids and provenance",
    .section = "pretrain",
    .schema = &pretrain_section_schema,
    .keys = export_keys,
    .runtime_keys = export_runtime_keys,
    .seeded = true,
    .deps = export_deps,
    .run = export_run,
};

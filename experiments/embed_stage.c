/* embed: one textual-inversion embedding per class (the variant) — trained on the data stage's
 * embedding subset with the diffusion model, or taken from a given file (the paper's released
 * embeddings) — written to artifacts/embedding.pt with its loss curve in the stage's HDF5. The
 * training checkpoints in the stage's resume folder, so a killed run continues where it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/data_stage.h"
#include "experiments/diffusion_schema.h"
#include "harness/model/clip_config.h"
#include "harness/pipeline/ti_train.h"
#include "harness/util/fsutil.h"

static int put_embedding(stage_ctx *ctx, const emb_file *f, herr *e) {
  char *pt = fs_join(stage_artifact_dir(ctx), "embedding.pt");
  char *diff = fs_join(stage_artifact_dir(ctx), "learned_embeds.safetensors");
  int rc = emb_write(pt, f, "a1111-pt", e);
  if (!rc) rc = emb_write(diff, f, "diffusers", e);
  store_writer *w = stage_store(ctx);
  if (!rc) rc = store_put_artifact(w, "embedding", "artifacts/embedding.pt", e);
  if (!rc) rc = store_put_artifact(w, "learned_embeds", "artifacts/learned_embeds.safetensors", e);
  if (!rc) rc = store_put_metric(w, "vectors", (double)f->items[0].n_vectors, e);
  if (!rc) rc = store_put_metric(w, "dim", (double)f->items[0].dim, e);
  if (!rc) rc = store_put_metric_str(w, "token", f->items[0].token, e);
  free(pt);
  free(diff);
  return rc;
}

/* source: file — the embedding is checked against the model's text encoder width, then copied. */
static int embed_from_file(stage_ctx *ctx, const char *token, herr *e) {
  const cfg_node *c = stage_config(ctx);
  char key[64];
  snprintf(key, sizeof key, "diffusion.embed.files.%s", stage_variant(ctx));
  const char *path, *model;
  if (cfg_str_at(c, key, &path, e) || cfg_str_at(c, "diffusion.model.dir", &model, e)) return -1;
  if (!*path) return herr_set(e, "%s: no embedding file given (diffusion.embed.source is 'file')", key);
  emb_file f;
  if (emb_read(path, &f, e)) return herr_prefix(e, "%s", key);
  int rc = f.n == 1 ? 0 : herr_set(e, "%s: %s holds %zu embeddings, expected one", key, path, f.n);
  char *cfg_path = fs_join(model, "text_encoder/config.json");
  shim_clip_text_config tc;
  if (!rc && clip_config_load(cfg_path, &tc, e)) rc = -1;
  if (!rc && f.items[0].dim != tc.hidden_size)
    rc = herr_set(e, "%s: %s has vectors of width %lld, but the model's text encoder (%s) has %d", key, path,
                  (long long)f.items[0].dim, cfg_path, tc.hidden_size);
  free(cfg_path);
  if (!rc) {
    /* The class's token replaces the file's own, so prompts name classes the same way whatever the source. */
    free(f.items[0].token);
    f.items[0].token = strdup(token);
    rc = put_embedding(ctx, &f, e);
  }
  emb_file_free(&f);
  return rc;
}

typedef struct embed_ui {
  stage_ctx *ctx;
} embed_ui;

static int on_step(void *user, const ti_step_info *s, herr *e) {
  stage_progress_update(((embed_ui *)user)->ctx, (uint64_t)s->step);
  return 0;
}
static bool cancelled(void *user) { return stage_cancelled(((embed_ui *)user)->ctx); }
static void on_log(void *user, const char *msg) { stage_log(((embed_ui *)user)->ctx, "%s", msg); }

static int read_train_opts(const cfg_node *c, ti_train_opts *o, long long *cases, herr *e) {
  long long v, batch, accum, repeats, res;
  const char *crop, *latent;
  double clip;
  bool gc;
  if (cfg_int_at(c, "diffusion.embed.train.cases", cases, e) || cfg_int_at(c, "diffusion.embed.train.vectors", &v, e) ||
      cfg_str_at(c, "diffusion.embed.train.init", &o->init, e) ||
      cfg_str_at(c, "diffusion.embed.train.init_text", &o->init_text, e) ||
      cfg_int_at(c, "diffusion.embed.train.steps", &o->steps, e) ||
      cfg_int_at(c, "diffusion.embed.train.batch_size", &batch, e) ||
      cfg_int_at(c, "diffusion.embed.train.grad_accum", &accum, e) || cfg_str_at(c, "diffusion.embed.train.lr", &o->lr, e) ||
      cfg_str_at(c, "diffusion.embed.train.lr_schedule", &o->lr_kind, e) ||
      cfg_int_at(c, "diffusion.embed.train.warmup", &o->warmup_steps, e) ||
      cfg_double_at(c, "diffusion.embed.train.weight_decay", &o->weight_decay, e) ||
      cfg_double_at(c, "diffusion.embed.train.clip_grad_norm", &clip, e) ||
      cfg_str_at(c, "diffusion.embed.train.template", &o->templates, e) ||
      cfg_int_at(c, "diffusion.embed.train.resolution", &res, e) || cfg_str_at(c, "diffusion.embed.train.crop", &crop, e) ||
      cfg_double_at(c, "diffusion.embed.train.flip", &o->flip_p, e) ||
      cfg_int_at(c, "diffusion.embed.train.repeats", &repeats, e) ||
      cfg_str_at(c, "diffusion.embed.train.latent_sampling", &latent, e) ||
      cfg_bool_at(c, "diffusion.embed.train.gradient_checkpointing", &gc, e) ||
      cfg_int_at(c, "diffusion.embed.checkpoint_every", &o->checkpoint_every, e) ||
      cfg_int_at(c, "diffusion.embed.preview_every", &o->preview_every, e))
    return -1;
  o->n_vectors = (int)v;
  o->batch_size = (int)batch;
  o->grad_accum = (int)accum;
  o->repeats = (int)repeats;
  o->resolution = (int)res;
  o->crop = !strcmp(crop, "random") ? TI_CROP_RANDOM : TI_CROP_CENTER;
  o->clip = clip > 0 ? SHIM_CLIP_NORM : SHIM_CLIP_NONE;
  o->clip_value = clip;
  o->grad_checkpointing = gc;
  return ti_latent_sampling_parse(latent, &o->latent_sampling, e);
}

static int write_losses(stage_ctx *ctx, const ti_train_result *r, herr *e) {
  const char *cols[] = {"step", "loss", "lr"};
  store_series *s = store_series_create(stage_store(ctx), "loss", cols, 3, e);
  if (!s) return -1;
  int rc = 0;
  for (long long i = 0; i < r->n_steps && !rc; i++) {
    double row[3] = {(double)(i + 1), r->losses[i], r->lrs[i]};
    rc = store_series_append(s, row, e);
  }
  if (!rc) rc = store_series_close(s, e);
  return rc;
}

/* Moves the previews from the resume folder into artifacts/previews. */
static int keep_previews(stage_ctx *ctx, const char *from, herr *e) {
  if (!fs_is_dir(from)) return 0;
  char *to = fs_join(stage_artifact_dir(ctx), "previews");
  int rc = fs_rename_durable(from, to, e);
  free(to);
  return rc;
}

static int embed_train(stage_ctx *ctx, const char *token, herr *e) {
  const cfg_node *c = stage_config(ctx);
  ti_train_opts o;
  ti_train_opts_default(&o);
  long long cases;
  if (read_train_opts(c, &o, &cases, e)) return -1;
  int label = diffusion_variant_label(stage_variant(ctx));
  ds_manifest data;
  if (data_stage_dataset(ctx, "data", &data, e)) return -1;
  size_t *idx = NULL, n = 0;
  int rc = ds_select(&data, "embed", label, &idx, &n, e);
  if (!rc && n < (size_t)cases)
    rc = herr_set(e, "diffusion.embed.train.cases is %lld but the data stage's embedding subset has %zu cases of "
                     "class '%s' (raise data.split.embed_per_class or lower the case count)",
                  cases, n, stage_variant(ctx));
  ti_image_set set = {0};
  for (size_t i = 0; i < (size_t)cases && !rc; i++) {
    char *path = ds_case_path(&data, data.cases[idx[i]].image);
    rc = ti_image_set_add(&set, path, "", e);
    free(path);
  }
  free(idx);
  ds_manifest_free(&data);
  sd_model *m = NULL;
  if (!rc) rc = diffusion_load_model(ctx, &m, e);
  char *prev = fs_join(stage_resume_dir(ctx), "previews");
  embed_ui ui = {ctx};
  o.token = token;
  o.name = token;
  o.seed = stage_seed(ctx);
  o.checkpoint_dir = stage_resume_dir(ctx);
  o.resume = true;
  o.preview_dir = prev;
  o.on_step = on_step;
  o.cancelled = cancelled;
  o.log = on_log;
  o.user = &ui;
  ti_train_result r = {0};
  if (!rc) {
    char what[160];
    snprintf(what, sizeof what, "%s: %d vectors on %zu images", token, o.n_vectors, set.n);
    stage_progress_begin(ctx, what, (uint64_t)o.steps);
    rc = ti_train(m, &set, &o, &r, e);
    stage_progress_end(ctx);
  }
  store_writer *w = stage_store(ctx);
  if (!rc) rc = put_embedding(ctx, &r.embedding, e);
  if (!rc) rc = write_losses(ctx, &r, e);
  if (!rc) rc = store_put_metric(w, "final_loss", r.losses[r.n_steps - 1], e);
  if (!rc) rc = store_put_metric(w, "train_cases", (double)set.n, e);
  if (!rc) rc = store_put_metric(w, "steps", (double)r.n_steps, e);
  if (!rc) rc = store_put_metric(w, "resumed_from_step", (double)r.resumed_from, e);
  if (!rc) rc = store_put_metric(w, "train_seconds", r.seconds, e);
  if (!rc && r.seconds > 0)
    rc = store_put_metric(w, "steps_per_second", (double)(r.n_steps - r.resumed_from) / r.seconds, e);
  if (!rc) rc = store_put_metric(w, "vae_passes", (double)r.vae_passes, e);
  if (!rc) rc = keep_previews(ctx, prev, e);
  free(prev);
  ti_train_result_free(&r);
  ti_image_set_free(&set);
  sd_model_free(m);
  return rc;
}

static int embed_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  char key[64];
  snprintf(key, sizeof key, "diffusion.embed.tokens.%s", stage_variant(ctx));
  const char *token, *source;
  if (cfg_str_at(c, key, &token, e) || cfg_str_at(c, "diffusion.embed.source", &source, e)) return -1;
  if (!*token) return herr_set(e, "%s is empty", key);
  return !strcmp(source, "file") ? embed_from_file(ctx, token, e) : embed_train(ctx, token, e);
}

static int embed_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  const cfg_node *src = cfg_get(point, "diffusion.embed.source");
  bool from_file = src && src->str && !strcmp(src->str, "file");
  *n = 0;
  *out = calloc(1, sizeof **out);
  if (!*out) abort();
  if (!from_file) (*out)[(*n)++] = (stage_dep){.role = "data", .kind = "data", .variant = strdup("")};
  return 0;
}

/* The model, and with source: file the class's embedding file. */
static int embed_preflight(const cfg_node *config, const char *variant, herr *e) {
  herr model = {{0}};
  int bad_model = diffusion_preflight_model(config, variant, &model);
  const cfg_node *src = cfg_get(config, "diffusion.embed.source");
  if (!src || !src->str || strcmp(src->str, "file")) return bad_model ? herr_set(e, "%s", model.msg) : 0;
  char key[64];
  snprintf(key, sizeof key, "diffusion.embed.files.%s", variant);
  const char *path;
  if (cfg_str_at(config, key, &path, e)) return -1;
  if (!*path || !fs_exists(path))
    /* Both problems at once (one per line), so one look at the message fixes the config. */
    return herr_set(e, "%s: embedding file '%s' not found (diffusion.embed.source is 'file': give one .pt or "
                       ".safetensors per class, e.g. the paper's released embeddings)%s%s",
                    key, path, bad_model ? "\n" : "", bad_model ? model.msg : "");
  return bad_model ? herr_set(e, "%s", model.msg) : 0;
}

static const char *const embed_keys[] = {"diffusion.model", "diffusion.embed.source", "diffusion.embed.train",
                                         "diffusion.embed.tokens.{variant}", "diffusion.embed.files.{variant}", NULL};
static const char *const embed_runtime_keys[] = {"diffusion.embed.checkpoint_every", "diffusion.embed.preview_every",
                                                 NULL};

const stage_kind embed_stage = {
    .name = "embed",
    .version = 1,
    .summary = "textual-inversion embedding of one class (neg/pos), trained or from a file",
    .section = "diffusion",
    .schema = &diffusion_section_schema,
    .keys = embed_keys,
    .runtime_keys = embed_runtime_keys,
    .seeded = false, /* diffusion.embed.train.seed instead: every point seed shares the embedding */
    .variants = diffusion_class_variants,
    .deps = embed_deps,
    .preflight = embed_preflight,
    .run = embed_run,
};

/* pretrain_denoiser: trains the tiny model's text encoder and UNet together from scratch on the
 * corpus's latents under the frozen VAE of pretrain_vae (epsilon MSE, DDPM noising, the empty
 * caption with probability caption_dropout for classifier-free guidance), and writes
 * artifacts/{text_encoder,unet,tokenizer,scheduler}/ (F32 weights). Resumable from checkpoints in
 * the resume folder; losses in the HDF5 series "loss". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/pretrain_schema.h"
#include "harness/formats/safetensors.h"
#include "harness/model/clip_config.h"
#include "harness/model/scheduler_config.h"
#include "harness/model/unet_config.h"
#include "harness/model/vae_config.h"
#include "harness/model/weights_view.h"
#include "harness/text/clip_tokenizer.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"

#define DN_COLS 4 /* step, loss, lr, grad_norm */
#define SEQ 77

typedef struct dn_opts {
  long long steps, batch, warmup, every;
  double lr, wd, clip, dropout;
  const char *bpe_dir, *tok_cfg_dir;
} dn_opts;

static int read_opts(const cfg_node *c, dn_opts *o, herr *e) {
  return cfg_int_at(c, "pretrain.denoiser.steps", &o->steps, e) ||
                 cfg_int_at(c, "pretrain.denoiser.batch", &o->batch, e) ||
                 cfg_int_at(c, "pretrain.denoiser.warmup", &o->warmup, e) ||
                 cfg_int_at(c, "pretrain.denoiser.checkpoint_every", &o->every, e) ||
                 cfg_double_at(c, "pretrain.denoiser.lr", &o->lr, e) ||
                 cfg_double_at(c, "pretrain.denoiser.weight_decay", &o->wd, e) ||
                 cfg_double_at(c, "pretrain.denoiser.max_grad_norm", &o->clip, e) ||
                 cfg_double_at(c, "pretrain.denoiser.caption_dropout", &o->dropout, e) ||
                 cfg_str_at(c, "pretrain.model.tokenizer.bpe_dir", &o->bpe_dir, e) ||
                 cfg_str_at(c, "pretrain.model.tokenizer.config_dir", &o->tok_cfg_dir, e)
             ? -1
             : 0;
}

static int copy_file(const char *from_dir, const char *to_dir, const char *name, herr *e) {
  char *from = fs_join(from_dir, name), *to = fs_join(to_dir, name);
  size_t len = 0;
  char *data = fs_read_file_max(from, (size_t)64 << 20, &len, e);
  int rc = data ? fs_write_atomic(to, data, len, e) : -1;
  free(data);
  free(from);
  free(to);
  return rc;
}

/* The SD2 tokenizer folder: vocab.json and merges.txt from bpe_dir, the two SD2 configs (pad "!")
 * from config_dir. */
static int make_tokenizer(const dn_opts *o, const char *dir, herr *e) {
  int rc = fs_mkdir_p(dir, e);
  if (!rc) rc = copy_file(o->bpe_dir, dir, "vocab.json", e);
  if (!rc) rc = copy_file(o->bpe_dir, dir, "merges.txt", e);
  if (!rc) rc = copy_file(o->tok_cfg_dir, dir, "tokenizer_config.json", e);
  if (!rc) rc = copy_file(o->tok_cfg_dir, dir, "special_tokens_map.json", e);
  return rc ? herr_prefix(e, "pretrain.model.tokenizer") : 0;
}

/* Posterior means and log-variances of every corpus image under the trained VAE. */
static int encode_corpus(stage_ctx *ctx, const pretrain_corpus *cp, float **mean, float **logvar, int *lh, int *lw,
                         double *scale, herr *e) {
  const char *vdir = stage_dep_dir(ctx, "vae", e);
  if (!vdir) return -1;
  char *cfg = fs_join(vdir, "artifacts/vae/config.json");
  char *wts = fs_join(vdir, "artifacts/vae/diffusion_pytorch_model.safetensors");
  shim_vae_config vc;
  shim_vae *v = NULL;
  shim_tensor_view *views = NULL;
  size_t nv = 0;
  shim_err err;
  st_file *f = NULL;
  int rc = vae_config_load(cfg, &vc, e);
  if (!rc) rc = (f = st_open(wts, e)) ? 0 : -1;
  if (!rc) rc = wv_from_safetensors(f, NULL, &views, &nv, e);
  const shim_exec ex = {stage_device(ctx), SHIM_F32};
  if (!rc && shim_vae_new(&vc, views, nv, &ex, &v, &err)) rc = herr_set(e, "%s: %s", wts, err.msg);
  *scale = vc.scaling_factor;
  const int s = cp->size, B = 32;
  if (!rc && shim_vae_latent_size(v, s, s, lh, lw, &err)) rc = herr_set(e, "%s", err.msg);
  const size_t per = rc ? 0 : (size_t)4 * *lh * *lw;
  if (!rc) {
    *mean = malloc(cp->n * per * sizeof(float));
    *logvar = malloc(cp->n * per * sizeof(float));
    float *img = malloc((size_t)B * 3 * s * s * sizeof(float));
    if (!*mean || !*logvar || !img) abort();
    stage_progress_begin(ctx, "encoding the corpus", (uint64_t)cp->n);
    for (size_t i0 = 0; i0 < cp->n && !rc; i0 += B) {
      const int b = (int)(cp->n - i0 < (size_t)B ? cp->n - i0 : (size_t)B);
      for (int k = 0; k < b; k++) pretrain_corpus_chw(cp, i0 + k, 0, img + (size_t)k * 3 * s * s);
      if (shim_vae_encode(v, img, b, s, s, *mean + i0 * per, *logvar + i0 * per, &err)) rc = herr_set(e, "%s", err.msg);
      stage_progress_update(ctx, i0 + (size_t)b);
    }
    stage_progress_end(ctx);
    free(img);
  }
  shim_vae_free(v);
  wv_free(views);
  if (f) st_close(f);
  free(cfg);
  free(wts);
  return rc;
}

static int write_series(stage_ctx *ctx, const double *rows, size_t n, herr *e) {
  const char *cols[DN_COLS] = {"step", "loss", "lr", "grad_norm"};
  store_series *s = store_series_create(stage_store(ctx), "loss", cols, DN_COLS, e);
  if (!s) return -1;
  int rc = n ? store_series_append_rows(s, rows, n, e) : 0;
  if (!rc) rc = store_series_close(s, e);
  return rc;
}

static double tail_mean(const double *rows, size_t n) {
  const size_t k = n < 200 ? n : 200;
  double s = 0;
  for (size_t i = n - k; i < n; i++) s += rows[i * DN_COLS + 1];
  return k ? s / k : NAN;
}

static int denoiser_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  dn_opts o;
  if (read_opts(c, &o, e)) return -1;
  pretrain_corpus cp;
  if (pretrain_corpus_load(ctx, &cp, e)) return -1;
  const char *art = stage_artifact_dir(ctx);
  char *tdir = fs_join(art, "text_encoder"), *udir = fs_join(art, "unet"), *sdir = fs_join(art, "scheduler");
  char *kdir = fs_join(art, "tokenizer");
  char *tcfg = fs_join(tdir, "config.json"), *ucfg = fs_join(udir, "config.json");
  char *scfg = fs_join(sdir, "scheduler_config.json");
  char *ckpt = fs_join(stage_resume_dir(ctx), "checkpoint.safetensors");
  shim_clip_text_config tc;
  shim_unet_config uc;
  shim_scheduler_config sc;
  shim_scheduler_config_init(&sc);
  shim_pretrain *p = NULL;
  shim_err err;
  tok_clip *tok = NULL;
  double *rows = NULL;
  size_t n_rows = 0;
  float *mean = NULL, *logvar = NULL, *lat = NULL, *noise = NULL;
  int64_t *ids = NULL, *batch_ids = NULL, empty[SEQ], *ts = NULL;
  int lh = 0, lw = 0;
  double scale = 1.0;
  int rc = pretrain_write_text_config(c, tdir, e);
  if (!rc) rc = pretrain_write_unet_config(c, udir, e);
  if (!rc) rc = pretrain_write_scheduler_config(sdir, e);
  if (!rc) rc = make_tokenizer(&o, kdir, e);
  if (!rc) rc = clip_config_load(tcfg, &tc, e);
  if (!rc) rc = unet_config_load(ucfg, &uc, e);
  if (!rc) rc = sched_config_load(scfg, &sc, e);
  if (!rc) rc = (tok = tok_clip_load(kdir, e)) ? 0 : -1;
  if (!rc) {
    ids = malloc(cp.n * SEQ * sizeof *ids);
    if (!ids) abort();
    for (size_t i = 0; i < cp.n && !rc; i++) rc = tok_clip_encode(tok, cp.captions[i], ids + i * SEQ, SEQ, NULL, e);
    if (!rc) rc = tok_clip_encode(tok, "", empty, SEQ, NULL, e);
  }
  if (!rc) rc = encode_corpus(ctx, &cp, &mean, &logvar, &lh, &lw, &scale, e);
  const shim_exec ex = {stage_device(ctx), SHIM_F32};
  shim_pretrain_opt po = {0.9, 0.999, 1e-8, o.wd, o.clip};
  if (!rc && shim_pretrain_denoiser_new(&tc, NULL, 0, &uc, NULL, 0, &sc, stage_seed(ctx), &po, &ex, &p, &err))
    rc = herr_set(e, "%s", err.msg);
  if (!rc && fs_exists(ckpt)) {
    rc = pretrain_load_checkpoint(p, ckpt, &rows, &n_rows, DN_COLS, e);
    if (!rc) stage_log(ctx, "resuming from step %zu", n_rows);
  }
  const size_t per = (size_t)4 * (lh ? lh : 1) * (lw ? lw : 1), B = (size_t)o.batch;
  rows = realloc(rows, (size_t)(o.steps + 1) * DN_COLS * sizeof *rows);
  lat = malloc(B * per * sizeof *lat);
  noise = malloc(B * per * sizeof *noise);
  batch_ids = malloc(B * SEQ * sizeof *batch_ids);
  ts = malloc(B * sizeof *ts);
  if (!rows || !lat || !noise || !batch_ids || !ts) abort();
  const double t0 = clock_now_s();
  stage_progress_begin(ctx, "text encoder + UNet steps", (uint64_t)o.steps);
  for (long long step = (long long)n_rows; step < o.steps && !rc; step++) {
    rng r;
    rng_seed(&r, stage_seed(ctx), 2000 + (uint64_t)step);
    for (size_t k = 0; k < B; k++) {
      const size_t i = (size_t)rng_below(&r, cp.n);
      for (size_t j = 0; j < per; j++)
        lat[k * per + j] = (float)((mean[i * per + j] + exp(0.5 * logvar[i * per + j]) * rng_normal(&r)) * scale);
      for (size_t j = 0; j < per; j++) noise[k * per + j] = (float)rng_normal(&r);
      memcpy(batch_ids + k * SEQ, rng_uniform(&r) < o.dropout ? empty : ids + i * SEQ, SEQ * sizeof *ids);
      ts[k] = (int64_t)rng_below(&r, (uint64_t)sc.num_train_timesteps);
    }
    const double lr = pretrain_lr(o.lr, o.warmup, step);
    shim_pretrain_losses l;
    if (shim_pretrain_denoiser_step(p, lat, (int)B, lh, lw, noise, ts, batch_ids, SEQ, lr, &l, &err)) {
      rc = herr_set(e, "pretrain_denoiser step %lld: %s", step + 1, err.msg);
      break;
    }
    double *row = rows + (size_t)step * DN_COLS;
    row[0] = (double)(step + 1), row[1] = l.loss, row[2] = lr, row[3] = l.grad_norm;
    n_rows = (size_t)step + 1;
    stage_progress_update(ctx, n_rows);
    if (n_rows % 50 == 0) stage_log(ctx, "step %zu: loss %.5f (mean of last 200 %.5f)", n_rows, l.loss, tail_mean(rows, n_rows));
    if (n_rows % (size_t)o.every == 0 && n_rows < (size_t)o.steps) {
      rc = fs_mkdir_p(stage_resume_dir(ctx), e);
      if (!rc) rc = pretrain_save_checkpoint(p, rows, n_rows, DN_COLS, ckpt, e);
    }
    if (!rc && stage_cancelled(ctx)) rc = herr_set(e, "cancelled at step %zu (the checkpoint resumes it)", n_rows);
  }
  stage_progress_end(ctx);
  const double secs = clock_now_s() - t0;
  char *tw = fs_join(tdir, "model.safetensors"), *uw = fs_join(udir, "diffusion_pytorch_model.safetensors");
  if (!rc) rc = pretrain_save_component(p, "text_encoder", SHIM_F32, tw, e);
  if (!rc) rc = pretrain_save_component(p, "unet", SHIM_F32, uw, e);
  store_writer *w = stage_store(ctx);
  if (!rc) rc = write_series(ctx, rows, n_rows, e);
  if (!rc) rc = store_put_artifact(w, "text_encoder", "artifacts/text_encoder", e);
  if (!rc) rc = store_put_artifact(w, "unet", "artifacts/unet", e);
  if (!rc) rc = store_put_metric(w, "steps", (double)n_rows, e);
  if (!rc) rc = store_put_metric(w, "final_loss", tail_mean(rows, n_rows), e);
  if (!rc) rc = store_put_metric(w, "train_seconds", secs, e);
  free(tw);
  free(uw);
  free(mean);
  free(logvar);
  free(lat);
  free(noise);
  free(ids);
  free(batch_ids);
  free(ts);
  free(rows);
  tok_clip_free(tok);
  shim_pretrain_free(p);
  sched_config_free(&sc);
  free(tdir);
  free(udir);
  free(sdir);
  free(kdir);
  free(tcfg);
  free(ucfg);
  free(scfg);
  free(ckpt);
  pretrain_corpus_free(&cp);
  return rc;
}

static int denoiser_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  (void)point, (void)variant, (void)e;
  *out = calloc(2, sizeof **out);
  if (!*out) abort();
  (*out)[0] = (stage_dep){.role = "corpus", .kind = "pretrain_corpus", .variant = strdup("")};
  (*out)[1] = (stage_dep){.role = "vae", .kind = "pretrain_vae", .variant = strdup("")};
  *n = 2;
  return 0;
}

static const char *const denoiser_keys[] = {
    "pretrain.corpus",         "pretrain.model",         "pretrain.vae.steps",    "pretrain.vae.batch",
    "pretrain.vae.lr",         "pretrain.vae.warmup",    "pretrain.vae.weight_decay", "pretrain.vae.max_grad_norm",
    "pretrain.vae.kl_weight",  "pretrain.denoiser.steps", "pretrain.denoiser.batch", "pretrain.denoiser.lr",
    "pretrain.denoiser.warmup", "pretrain.denoiser.weight_decay", "pretrain.denoiser.max_grad_norm",
    "pretrain.denoiser.caption_dropout", NULL};
static const char *const denoiser_runtime_keys[] = {"pretrain.denoiser.checkpoint_every", NULL};

const stage_kind pretrain_denoiser_stage = {
    .name = "pretrain_denoiser",
    .version = 1,
    .summary = "trains the tiny model's text encoder and UNet from scratch (VAE frozen)",
    .section = "pretrain",
    .schema = &pretrain_section_schema,
    .keys = denoiser_keys,
    .runtime_keys = denoiser_runtime_keys,
    .seeded = true,
    .deps = denoiser_deps,
    .run = denoiser_run,
};

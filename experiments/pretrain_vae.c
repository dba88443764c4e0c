/* pretrain_vae: trains the tiny model's AutoencoderKL from scratch on the corpus
 * (reconstruction MSE + a small KL term, AdamW), then measures the latent scale (scaling_factor
 * = 1 / std of the latents, as the LDM recipe sets it) and writes artifacts/vae/ (config.json,
 * diffusion_pytorch_model.safetensors F32) and a reconstruction preview. Checkpoints go to the
 * resume folder, so a killed run continues where it was; losses go to the HDF5 series "loss". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/pretrain_schema.h"
#include "harness/formats/png.h"
#include "harness/model/vae_config.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/rng.h"

#define VAE_COLS 6 /* step, loss, rec, kl, lr, grad_norm */

typedef struct vae_opts {
  long long steps, batch, warmup, every;
  double lr, wd, clip, kl;
} vae_opts;

static int read_opts(const cfg_node *c, vae_opts *o, herr *e) {
  return cfg_int_at(c, "pretrain.vae.steps", &o->steps, e) || cfg_int_at(c, "pretrain.vae.batch", &o->batch, e) ||
                 cfg_int_at(c, "pretrain.vae.warmup", &o->warmup, e) ||
                 cfg_int_at(c, "pretrain.vae.checkpoint_every", &o->every, e) ||
                 cfg_double_at(c, "pretrain.vae.lr", &o->lr, e) ||
                 cfg_double_at(c, "pretrain.vae.weight_decay", &o->wd, e) ||
                 cfg_double_at(c, "pretrain.vae.max_grad_norm", &o->clip, e) ||
                 cfg_double_at(c, "pretrain.vae.kl_weight", &o->kl, e)
             ? -1
             : 0;
}

/* Encodes the whole corpus (posterior means and one draw) for the latent scale. */
static int latent_scale(shim_vae *v, const pretrain_corpus *cp, uint64_t seed, double *scale, herr *e) {
  const int s = cp->size, B = 32;
  int lh, lw;
  shim_err err;
  if (shim_vae_latent_size(v, s, s, &lh, &lw, &err)) return herr_set(e, "%s", err.msg);
  const size_t per = (size_t)4 * lh * lw; /* latent_channels checked by the caller */
  float *img = malloc((size_t)B * 3 * s * s * sizeof(float));
  float *mean = malloc((size_t)B * per * sizeof(float)), *logvar = malloc((size_t)B * per * sizeof(float));
  if (!img || !mean || !logvar) abort();
  double sum = 0, sum2 = 0;
  size_t count = 0;
  rng r;
  rng_seed(&r, seed, 0x5ca1e);
  int rc = 0;
  const size_t n = cp->n < 2048 ? cp->n : 2048;
  for (size_t i0 = 0; i0 < n && !rc; i0 += B) {
    const int b = (int)(n - i0 < (size_t)B ? n - i0 : (size_t)B);
    for (int k = 0; k < b; k++) pretrain_corpus_chw(cp, i0 + k, 0, img + (size_t)k * 3 * s * s);
    if (shim_vae_encode(v, img, b, s, s, mean, logvar, &err)) rc = herr_set(e, "%s", err.msg);
    for (size_t j = 0; !rc && j < (size_t)b * per; j++) {
      const double z = mean[j] + exp(0.5 * logvar[j]) * rng_normal(&r);
      sum += z;
      sum2 += z * z;
      count++;
    }
  }
  free(img);
  free(mean);
  free(logvar);
  if (rc) return rc;
  const double var = sum2 / count - (sum / count) * (sum / count);
  if (!(var > 0)) return herr_set(e, "pretrain_vae: the latents have no variance (the VAE collapsed)");
  *scale = 1.0 / sqrt(var);
  return 0;
}

/* Originals (top row) over reconstructions (bottom row) of the first 8 corpus images. */
static int write_recon(shim_vae *v, const pretrain_corpus *cp, const char *path, herr *e) {
  const int s = cp->size, n = cp->n < 8 ? (int)cp->n : 8;
  int lh, lw;
  shim_err err;
  if (shim_vae_latent_size(v, s, s, &lh, &lw, &err)) return herr_set(e, "%s", err.msg);
  float *img = malloc((size_t)n * 3 * s * s * sizeof(float)), *out = malloc((size_t)n * 3 * s * s * sizeof(float));
  float *mean = malloc((size_t)n * 4 * lh * lw * sizeof(float));
  uint8_t *grid = calloc((size_t)2 * s * n * s * 3, 1);
  if (!img || !out || !mean || !grid) abort();
  for (int k = 0; k < n; k++) pretrain_corpus_chw(cp, (size_t)k, 0, img + (size_t)k * 3 * s * s);
  int rc = 0;
  if (shim_vae_encode(v, img, n, s, s, mean, NULL, &err) || shim_vae_decode(v, mean, n, lh, lw, out, &err))
    rc = herr_set(e, "%s", err.msg);
  const int gw = n * s;
  for (int row = 0; row < 2 && !rc; row++)
    for (int k = 0; k < n; k++)
      for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < s; y++)
          for (int x = 0; x < s; x++) {
            float f = (row ? out : img)[(((size_t)k * 3 + ch) * s + y) * s + x] * 0.5f + 0.5f;
            f = f < 0 ? 0 : f > 1 ? 1 : f;
            grid[((size_t)(row * s + y) * gw + k * s + x) * 3 + ch] = (uint8_t)lrintf(f * 255.0f);
          }
  if (!rc) rc = png_write8(path, grid, (uint32_t)gw, (uint32_t)(2 * s), 3, NULL, 0, e);
  free(img);
  free(out);
  free(mean);
  free(grid);
  return rc;
}

static int write_series(stage_ctx *ctx, const double *rows, size_t n, herr *e) {
  const char *cols[VAE_COLS] = {"step", "loss", "rec", "kl", "lr", "grad_norm"};
  store_series *s = store_series_create(stage_store(ctx), "loss", cols, VAE_COLS, e);
  if (!s) return -1;
  int rc = n ? store_series_append_rows(s, rows, n, e) : 0;
  if (!rc) rc = store_series_close(s, e);
  return rc;
}

static double tail_mean(const double *rows, size_t n, int col) {
  const size_t k = n < 50 ? n : 50;
  double s = 0;
  for (size_t i = n - k; i < n; i++) s += rows[i * VAE_COLS + col];
  return k ? s / k : NAN;
}

static int vae_run(stage_ctx *ctx, herr *e) {
  const cfg_node *c = stage_config(ctx);
  vae_opts o;
  if (read_opts(c, &o, e)) return -1;
  pretrain_corpus cp;
  if (pretrain_corpus_load(ctx, &cp, e)) return -1;
  char *vdir = fs_join(stage_artifact_dir(ctx), "vae");
  char *cfg_path = fs_join(vdir, "config.json");
  char *ckpt = fs_join(stage_resume_dir(ctx), "checkpoint.safetensors");
  shim_vae_config vc;
  shim_pretrain *p = NULL;
  shim_err err;
  double *rows = NULL;
  size_t n_rows = 0;
  float *img = NULL, *noise = NULL;
  int rc = pretrain_write_vae_config(c, vdir, 1.0, e);
  if (!rc) rc = vae_config_load(cfg_path, &vc, e);
  if (!rc && vc.latent_channels != 4)
    rc = herr_set(e, "pretrain.model.vae.latent_channels must be 4 (the UNet's in_channels), got %d", vc.latent_channels);
  const shim_exec ex = {stage_device(ctx), SHIM_F32};
  shim_pretrain_opt po = {0.9, 0.999, 1e-8, o.wd, o.clip};
  if (!rc && shim_pretrain_vae_new(&vc, NULL, 0, stage_seed(ctx), &po, &ex, &p, &err)) rc = herr_set(e, "%s", err.msg);
  if (!rc && fs_exists(ckpt)) {
    rc = pretrain_load_checkpoint(p, ckpt, &rows, &n_rows, VAE_COLS, e);
    if (!rc) stage_log(ctx, "resuming from step %zu", n_rows);
  }
  rows = realloc(rows, (size_t)(o.steps + 1) * VAE_COLS * sizeof *rows);
  const int s = cp.size;
  int lh = 0, lw = 0;
  if (!rc && shim_vae_latent_size(shim_pretrain_vae(p), s, s, &lh, &lw, &err)) rc = herr_set(e, "%s", err.msg);
  img = malloc((size_t)o.batch * 3 * s * s * sizeof *img);
  noise = malloc((size_t)o.batch * 4 * (lh ? lh : 1) * (lw ? lw : 1) * sizeof *noise);
  if (!rows || !img || !noise) abort();
  const double t0 = clock_now_s();
  stage_progress_begin(ctx, "VAE steps", (uint64_t)o.steps);
  for (long long step = (long long)n_rows; step < o.steps && !rc; step++) {
    rng r;
    rng_seed(&r, stage_seed(ctx), 1000 + (uint64_t)step);
    for (long long k = 0; k < o.batch; k++)
      pretrain_corpus_chw(&cp, rng_below(&r, cp.n), rng_uniform(&r) < 0.5, img + (size_t)k * 3 * s * s);
    for (size_t j = 0; j < (size_t)o.batch * 4 * lh * lw; j++) noise[j] = (float)rng_normal(&r);
    const double lr = pretrain_lr(o.lr, o.warmup, step);
    shim_pretrain_losses l;
    if (shim_pretrain_vae_step(p, img, (int)o.batch, s, s, noise, o.kl, lr, &l, &err)) {
      rc = herr_set(e, "pretrain_vae step %lld: %s", step + 1, err.msg);
      break;
    }
    double *row = rows + (size_t)step * VAE_COLS;
    row[0] = (double)(step + 1), row[1] = l.loss, row[2] = l.rec, row[3] = l.kl, row[4] = lr, row[5] = l.grad_norm;
    n_rows = (size_t)step + 1;
    stage_progress_update(ctx, n_rows);
    if (n_rows % 50 == 0) stage_log(ctx, "step %zu: rec %.5f kl %.4f", n_rows, l.rec, l.kl);
    if (n_rows % (size_t)o.every == 0 && n_rows < (size_t)o.steps) {
      rc = fs_mkdir_p(stage_resume_dir(ctx), e);
      if (!rc) rc = pretrain_save_checkpoint(p, rows, n_rows, VAE_COLS, ckpt, e);
    }
    if (!rc && stage_cancelled(ctx)) rc = herr_set(e, "cancelled at step %zu (the checkpoint resumes it)", n_rows);
  }
  stage_progress_end(ctx);
  const double secs = clock_now_s() - t0;
  double scale = 1.0;
  if (!rc) rc = latent_scale(shim_pretrain_vae(p), &cp, stage_seed(ctx), &scale, e);
  if (!rc) rc = pretrain_write_vae_config(c, vdir, scale, e);
  char *wpath = fs_join(vdir, "diffusion_pytorch_model.safetensors");
  char *recon = fs_join(stage_artifact_dir(ctx), "reconstruction.png");
  if (!rc) rc = pretrain_save_component(p, "vae", SHIM_F32, wpath, e);
  if (!rc) rc = write_recon(shim_pretrain_vae(p), &cp, recon, e);
  store_writer *w = stage_store(ctx);
  if (!rc) rc = write_series(ctx, rows, n_rows, e);
  if (!rc) rc = store_put_artifact(w, "vae", "artifacts/vae", e);
  if (!rc) rc = store_put_artifact(w, "reconstruction", "artifacts/reconstruction.png", e);
  if (!rc) rc = store_put_metric(w, "steps", (double)n_rows, e);
  if (!rc) rc = store_put_metric(w, "final_rec", tail_mean(rows, n_rows, 2), e);
  if (!rc) rc = store_put_metric(w, "final_kl", tail_mean(rows, n_rows, 3), e);
  if (!rc) rc = store_put_metric(w, "scaling_factor", scale, e);
  if (!rc) rc = store_put_metric(w, "train_seconds", secs, e);
  free(wpath);
  free(recon);
  free(img);
  free(noise);
  free(rows);
  shim_pretrain_free(p);
  free(vdir);
  free(cfg_path);
  free(ckpt);
  pretrain_corpus_free(&cp);
  return rc;
}

static int vae_deps(const cfg_node *point, const char *variant, stage_dep **out, size_t *n, herr *e) {
  (void)point, (void)variant, (void)e;
  *out = calloc(1, sizeof **out);
  if (!*out) abort();
  (*out)[0] = (stage_dep){.role = "corpus", .kind = "pretrain_corpus", .variant = strdup("")};
  *n = 1;
  return 0;
}

static const char *const vae_keys[] = {"pretrain.corpus", "pretrain.model.vae", "pretrain.vae.steps",
                                       "pretrain.vae.batch", "pretrain.vae.lr", "pretrain.vae.warmup",
                                       "pretrain.vae.weight_decay", "pretrain.vae.max_grad_norm",
                                       "pretrain.vae.kl_weight", NULL};
static const char *const vae_runtime_keys[] = {"pretrain.vae.checkpoint_every", NULL};

const stage_kind pretrain_vae_stage = {
    .name = "pretrain_vae",
    .version = 1,
    .summary = "trains the tiny model's VAE from scratch on the corpus",
    .section = "pretrain",
    .schema = &pretrain_section_schema,
    .keys = vae_keys,
    .runtime_keys = vae_runtime_keys,
    .seeded = true,
    .deps = vae_deps,
    .run = vae_run,
};

/* ti_train: the textual-inversion loop. Every random draw comes from a stream fixed by
 * (seed, what it is for, its index) — the epoch's order, a micro-batch's templates, flips,
 * timesteps and noise — so a run resumed from its checkpoint repeats exactly what the
 * uninterrupted run would have done. */
#include "harness/pipeline/ti_train.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/pipeline/sd_sample.h"
#include "harness/pipeline/ti_checkpoint.h"
#include "harness/pipeline/ti_latents.h"
#include "harness/train/lr_schedule.h"
#include "harness/train/prompt_templates.h"
#include "harness/util/clock.h"
#include "harness/util/fsutil.h"
#include "harness/util/sha256.h"
#include "harness/util/strbuf.h"

#define TI_STREAM_SHUFFLE (UINT64_C(1) << 40)
#define TI_STREAM_MICRO (UINT64_C(2) << 40)
#define TI_STREAM_INIT (UINT64_C(4) << 40)

void ti_train_opts_default(ti_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->token = "<embedding>";
  o->n_vectors = 1;
  o->init = "text";
  o->init_text = "*";
  o->steps = 1000;
  o->batch_size = 1;
  o->grad_accum = 1;
  o->lr = "0.005";
  o->lr_kind = "constant";
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->templates = "subject";
  o->crop = TI_CROP_CENTER;
  o->filter = IMG_LANCZOS;
  o->repeats = 1;
  o->latent_sampling = TI_LATENT_ONCE;
  o->checkpoint_every = 500;
  o->preview_steps = 20;
  o->preview_guidance = 7.5;
}

int ti_latent_sampling_parse(const char *s, ti_latent_sampling *out, herr *e) {
  static const char *const names[] = {"once", "deterministic", "random"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, names[i])) {
      *out = (ti_latent_sampling)i;
      return 0;
    }
  return herr_set(e, "latent sampling '%s': expected once, deterministic or random", s);
}

void ti_train_result_free(ti_train_result *r) {
  emb_file_free(&r->embedding);
  free(r->losses);
  free(r->lrs);
  memset(r, 0, sizeof *r);
}

static void say(const ti_train_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const ti_train_opts *o, const char *fmt, ...) {
  if (!o->log) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  o->log(o->user, buf);
}

static int check_opts(const ti_train_opts *o, herr *e) {
  if (!o->token || !*o->token) return herr_set(e, "the embedding needs a token (e.g. '<cspca>')");
  if (o->n_vectors < 1 || o->n_vectors > EMB_MAX_VECTORS)
    return herr_set(e, "vectors per token must be 1..%d, got %d", EMB_MAX_VECTORS, o->n_vectors);
  if (o->steps < 1) return herr_set(e, "steps must be at least 1, got %lld", o->steps);
  if (o->batch_size < 1 || o->batch_size > 1024) return herr_set(e, "batch size must be 1..1024, got %d", o->batch_size);
  if (o->grad_accum < 1 || o->grad_accum > 1024)
    return herr_set(e, "gradient accumulation must be 1..1024, got %d", o->grad_accum);
  if (o->repeats < 1) return herr_set(e, "repeats must be at least 1, got %d", o->repeats);
  if (!(o->flip_p >= 0 && o->flip_p <= 1)) return herr_set(e, "flip probability must be in [0, 1], got %g", o->flip_p);
  if (o->clip < 0 || o->clip > 2) return herr_set(e, "gradient clipping mode %d unknown", o->clip);
  if (o->clip && !(o->clip_value > 0)) return herr_set(e, "the gradient clip value must be > 0, got %g", o->clip_value);
  if (strcmp(o->init, "text") && strcmp(o->init, "zeros") && strcmp(o->init, "random"))
    return herr_set(e, "initialisation '%s': expected text, zeros or random", o->init);
  if (o->checkpoint_dir && o->checkpoint_every < 1)
    return herr_set(e, "checkpoint interval must be at least 1, got %lld", o->checkpoint_every);
  if (o->preview_every < 0) return herr_set(e, "preview interval must be >= 0, got %lld", o->preview_every);
  return 0;
}

/* A1111's create_embedding: vector i takes the init text's token embedding number
 * i * n_tokens / n_vectors (so a short text repeats, a long one is subsampled); an empty text
 * gives zeros. */
static int init_rows(sd_model *m, const ti_train_opts *o, int64_t dim, float *rows, herr *e) {
  shim_err se;
  size_t n = (size_t)o->n_vectors * dim;
  memset(rows, 0, n * sizeof *rows);
  if (!strcmp(o->init, "zeros")) return 0;
  if (!strcmp(o->init, "random")) {
    /* N(0, sd) with sd of the vocabulary's rows (sampled every 97th row): the scale the text
     * encoder expects. */
    int64_t V = tok_clip_vocab_size(m->tokenizer);
    float *row = malloc((size_t)dim * sizeof *row);
    if (!row) abort();
    double s = 0, s2 = 0;
    long long cnt = 0;
    for (int64_t id = 0; id < V; id += 97) {
      if (shim_clip_text_get_token_rows(m->text_encoder, id, 1, row, &se)) {
        free(row);
        return herr_set(e, "%s", se.msg);
      }
      for (int64_t k = 0; k < dim; k++, cnt++) s += row[k], s2 += (double)row[k] * row[k];
    }
    free(row);
    double mean = s / (double)cnt, sd = sqrt(fmax(s2 / (double)cnt - mean * mean, 0));
    rng r;
    rng_seed(&r, o->seed, TI_STREAM_INIT);
    for (size_t k = 0; k < n; k++) rows[k] = (float)(sd * rng_normal(&r));
    return 0;
  }
  int64_t *ids = NULL;
  size_t nt = 0;
  if (tok_clip_encode_raw(m->tokenizer, o->init_text ? o->init_text : "", &ids, &nt, e))
    return herr_prefix(e, "initialisation text '%s'", o->init_text);
  int rc = 0;
  for (int i = 0; i < o->n_vectors && nt && !rc; i++) {
    int64_t id = ids[(size_t)i * nt / (size_t)o->n_vectors];
    if (shim_clip_text_get_token_rows(m->text_encoder, id, 1, rows + (size_t)i * dim, &se))
      rc = herr_set(e, "initialisation text '%s': %s", o->init_text, se.msg);
  }
  free(ids);
  return rc;
}

/* Everything that decides the result, hashed: a checkpoint is resumed only into the run that
 * wrote it. */
static void fingerprint(const sd_model *m, const ti_image_set *imgs, const ti_train_opts *o, int size, char out[65]) {
  strbuf b = STRBUF_INIT;
  sb_appendf(&b, "ti-v1|model=%s|token=%s|n=%d|init=%s:%s|steps=%lld|batch=%d|accum=%d|lr=%s|kind=%s|warmup=%lld|"
                 "adam=%.17g,%.17g,%.17g,%.17g|clip=%d:%.17g|templates=%s|size=%d|crop=%d|filter=%d|flip=%.17g|"
                 "repeats=%d|latent=%d|seed=%" PRIu64 "|gc=%d|ls=%d",
             m->dir, o->token, o->n_vectors, o->init, o->init_text ? o->init_text : "", o->steps, o->batch_size,
             o->grad_accum, o->lr, o->lr_kind, o->warmup_steps, o->beta1, o->beta2, o->eps, o->weight_decay, o->clip,
             o->clip_value, o->templates, size, (int)o->crop, (int)o->filter, o->flip_p, o->repeats,
             (int)o->latent_sampling, o->seed, o->grad_checkpointing, o->loss_scaling);
  for (size_t i = 0; i < imgs->n; i++) sb_appendf(&b, "|%s:%s", imgs->items[i].path, imgs->items[i].caption);
  sha256_hex(sb_str(&b), out);
  sb_free(&b);
}

/* The epoch order: a Fisher-Yates permutation of n_images * repeats slots per epoch. */
typedef struct order {
  long long epoch;
  size_t n;
  size_t *perm;
} order;

static size_t order_image(order *ord, const ti_train_opts *o, size_t n_images, long long pos) {
  long long epoch = pos / (long long)ord->n;
  if (epoch != ord->epoch) {
    rng r;
    rng_seed(&r, o->seed, TI_STREAM_SHUFFLE + (uint64_t)epoch);
    for (size_t i = 0; i < ord->n; i++) ord->perm[i] = i % n_images;
    for (size_t i = ord->n; i > 1; i--) {
      size_t j = (size_t)rng_below(&r, i), t = ord->perm[i - 1];
      ord->perm[i - 1] = ord->perm[j];
      ord->perm[j] = t;
    }
    ord->epoch = epoch;
  }
  return ord->perm[pos % (long long)ord->n];
}

typedef struct run {
  sd_model *m;
  const ti_image_set *imgs;
  const ti_train_opts *o;
  ti_templates *tpl;
  lr_schedule *lr;
  ti_latents *lat;
  shim_ti_trainer *tr;
  order ord;
  char *placeholder; /* "<t> <t>_1 …": what [name] becomes in a template */
  int64_t first_id, dim;
  int B, C, h, w, T;
  float *latents, *noise;
  int64_t *timesteps, *ids;
  char fp[65];
} run;

/* One micro-batch (global index `micro`): its draws, forward and backward. */
static int micro_batch(run *R, long long micro, double grad_scale, double *loss, herr *e) {
  const ti_train_opts *o = R->o;
  rng r;
  rng_seed(&r, o->seed, TI_STREAM_MICRO + (uint64_t)micro);
  size_t per = (size_t)R->C * R->h * R->w;
  for (int b = 0; b < R->B; b++) {
    size_t img = order_image(&R->ord, o, R->imgs->n, micro * R->B + b);
    size_t t = (size_t)rng_below(&r, ti_templates_count(R->tpl));
    int flip = o->flip_p > 0 && rng_uniform(&r) < o->flip_p;
    char *prompt = ti_templates_render(R->tpl, t, R->placeholder, R->imgs->items[img].caption);
    if (!prompt) abort();
    int rc = sd_model_tokenize(R->m, prompt, R->ids + (size_t)b * R->m->seq_len, e);
    free(prompt);
    if (rc || ti_latents_get(R->lat, img, flip, &r, R->latents + b * per, e)) return -1;
  }
  for (int b = 0; b < R->B; b++) R->timesteps[b] = (int64_t)rng_below(&r, (uint64_t)R->T);
  for (size_t k = 0; k < per * R->B; k++) R->noise[k] = (float)rng_normal(&r);
  shim_err se;
  if (shim_ti_accumulate(R->tr, R->latents, R->B, R->h, R->w, R->noise, R->timesteps, R->ids, R->m->seq_len, grad_scale,
                         loss, &se))
    return herr_set(e, "%s", se.msg);
  return 0;
}

static int save_checkpoint(run *R, ti_state *st, const char *model_name, herr *e) {
  const ti_train_opts *o = R->o;
  shim_err se;
  if (shim_ti_get_state(R->tr, st->rows, st->exp_avg, st->exp_avg_sq, &st->step, &st->loss_scale, &se))
    return herr_set(e, "%s", se.msg);
  snprintf(st->fingerprint, sizeof st->fingerprint, "%s", R->fp);
  char *path = fs_join(o->checkpoint_dir, "ti-state.safetensors");
  int rc = ti_state_write(path, st, e);
  free(path);
  if (rc) return -1;
  /* The embedding itself at this step, as A1111 keeps one per save. */
  char name[300];
  snprintf(name, sizeof name, "%s-%" PRId64 ".pt", o->name ? o->name : o->token, st->step);
  char *sub = fs_join(o->checkpoint_dir, "embeddings");
  char *emb_path = fs_join(sub, name);
  emb_vectors v = {.token = (char *)o->token, .n_vectors = o->n_vectors, .dim = R->dim, .data = st->rows};
  emb_file f = {.n = 1, .items = &v, .format = "a1111-pt", .name = (char *)(o->name ? o->name : o->token),
                .step = st->step, .sd_checkpoint_name = (char *)model_name};
  rc = fs_mkdir_p(sub, e);
  if (!rc) rc = emb_write(emb_path, &f, "a1111-pt", e);
  free(sub);
  free(emb_path);
  return rc;
}

static int preview(run *R, long long step, herr *e) {
  const ti_train_opts *o = R->o;
  char *prompt = o->preview_prompt ? strdup(o->preview_prompt) : ti_templates_render(R->tpl, 0, R->placeholder, "");
  sd_sample_params p = {.prompt = prompt, .n_images = 1, .width = 0, .height = 0, .steps = o->preview_steps,
                        .guidance = o->preview_guidance, .seed = o->preview_seed};
  int W, H;
  int rc = sd_sample_size(R->m, &p, &W, &H, e);
  float *img = rc ? NULL : malloc((size_t)W * H * 3 * sizeof *img);
  if (!rc && !img) abort();
  if (!rc) rc = sd_sample(R->m, &p, img, e);
  if (!rc) rc = fs_mkdir_p(o->preview_dir, e);
  if (!rc) {
    char name[64], params[1200];
    snprintf(name, sizeof name, "step-%06lld.png", step);
    snprintf(params, sizeof params, "%s\nSteps: %d, CFG scale: %g, Seed: %" PRIu64 ", Size: %dx%d, Training step: %lld",
             prompt, o->preview_steps, o->preview_guidance, o->preview_seed, W, H, step);
    char *path = fs_join(o->preview_dir, name);
    rc = sd_sample_write_png(path, img, 0, W, H, params, e);
    free(path);
  }
  free(img);
  free(prompt);
  return rc ? herr_prefix(e, "preview at step %lld", step) : 0;
}

/* Loads a resumable state when there is one. Returns 1 when resumed, 0 when starting fresh. */
static int maybe_resume(run *R, ti_state *st, herr *e) {
  const ti_train_opts *o = R->o;
  if (!o->checkpoint_dir) return 0;
  char *path = fs_join(o->checkpoint_dir, "ti-state.safetensors");
  int rc = 0;
  if (fs_exists(path)) {
    char fp[65];
    if (ti_state_peek_fingerprint(path, fp, e)) {
      rc = -1;
    } else if (strcmp(fp, R->fp)) {
      rc = herr_set(e, "%s holds the state of a different training (other options, images or model); remove it "
                       "or choose another checkpoint folder",
                    path);
    } else if (!o->resume) {
      rc = herr_set(e, "%s exists: resume that training (--resume) or remove it", path);
    } else {
      ti_state_free(st);
      rc = ti_state_read(path, o->n_vectors, R->dim, o->steps, st, e);
      shim_err se;
      if (!rc && shim_ti_set_state(R->tr, st->rows, st->exp_avg, st->exp_avg_sq, st->step, st->loss_scale, &se))
        rc = herr_set(e, "%s: %s", path, se.msg);
      if (!rc) rc = 1;
    }
  }
  free(path);
  return rc;
}

static void run_free(run *R) {
  shim_ti_trainer_free(R->tr);
  ti_latents_free(R->lat);
  lr_schedule_free(R->lr);
  ti_templates_free(R->tpl);
  free(R->ord.perm);
  free(R->placeholder);
  free(R->latents);
  free(R->noise);
  free(R->timesteps);
  free(R->ids);
}

/* The folder name of the model, as A1111 records the checkpoint it trained on. */
static const char *model_basename(const sd_model *m) {
  const char *s = strrchr(m->dir, '/');
  return s && s[1] ? s + 1 : m->dir;
}

static int train_loop(run *R, ti_state *st, ti_train_result *res, herr *e) {
  const ti_train_opts *o = R->o;
  const char *model_name = o->sd_checkpoint_name ? o->sd_checkpoint_name : model_basename(R->m);
  int rc = 0;
  for (long long step = st->step + 1; step <= o->steps && !rc; step++) {
    double lr = lr_schedule_at(R->lr, step), sum = 0;
    for (int k = 0; k < o->grad_accum && !rc; k++) {
      if (o->cancelled && o->cancelled(o->user)) return herr_set(e, "interrupted at step %lld", step);
      double loss;
      rc = micro_batch(R, (step - 1) * o->grad_accum + k, 1.0 / o->grad_accum, &loss, e);
      if (!rc && !isfinite(loss))
        rc = herr_set(e, "the loss became %g at step %lld (learning rate %g too high, or a broken model?)", loss,
                      step, lr);
      sum += loss;
    }
    if (rc) break;
    ti_step_info info = {.step = step, .total = o->steps, .loss = sum / o->grad_accum, .lr = lr};
    shim_err se;
    if (shim_ti_step(R->tr, lr, (shim_grad_clip)o->clip, o->clip_value, &info.grad_norm, &info.skipped, &se)) {
      rc = herr_set(e, "step %lld: %s", step, se.msg);
      break;
    }
    st->losses[step - 1] = info.loss;
    st->lrs[step - 1] = lr;
    st->step = step;
    if (o->on_step && o->on_step(o->user, &info, e)) rc = -1;
    if (!rc && o->checkpoint_dir && (step % o->checkpoint_every == 0 || step == o->steps))
      rc = save_checkpoint(R, st, model_name, e);
    if (!rc && o->preview_every > 0 && o->preview_dir && step % o->preview_every == 0) rc = preview(R, step, e);
  }
  if (rc) return -1;
  /* The result: the final rows (from the trainer, in float32). */
  shim_err se;
  if (shim_ti_get_state(R->tr, st->rows, st->exp_avg, st->exp_avg_sq, &st->step, &st->loss_scale, &se))
    return herr_set(e, "%s", se.msg);
  emb_file *f = &res->embedding;
  memset(f, 0, sizeof *f);
  f->n = 1;
  f->items = calloc(1, sizeof *f->items);
  if (!f->items) abort();
  f->items[0] = (emb_vectors){.token = strdup(o->token), .n_vectors = o->n_vectors, .dim = R->dim};
  f->items[0].data = malloc((size_t)o->n_vectors * R->dim * sizeof(float));
  if (!f->items[0].data) abort();
  memcpy(f->items[0].data, st->rows, (size_t)o->n_vectors * R->dim * sizeof(float));
  f->format = strdup("a1111-pt");
  f->name = strdup(o->name ? o->name : o->token);
  f->step = st->step;
  f->sd_checkpoint_name = strdup(model_name);
  res->n_steps = st->step;
  res->losses = st->losses;
  res->lrs = st->lrs;
  st->losses = st->lrs = NULL;
  return 0;
}

int ti_train(sd_model *m, const ti_image_set *imgs, const ti_train_opts *o, ti_train_result *res, herr *e) {
  memset(res, 0, sizeof *res);
  if (check_opts(o, e)) return -1;
  if (!imgs->n) return herr_set(e, "no training images");
  double t0 = clock_now_s();
  run R = {.m = m, .imgs = imgs, .o = o, .B = o->batch_size};
  R.dim = shim_clip_text_hidden_size(m->text_encoder);
  int size = o->resolution > 0 ? o->resolution : m->sample_size * m->vae_scale_factor;
  if (size % m->vae_scale_factor || size > 4096)
    return herr_set(e, "training resolution %d must be a multiple of %d and at most 4096", size, m->vae_scale_factor);
  R.T = m->scheduler.num_train_timesteps > 0 ? m->scheduler.num_train_timesteps : 1000;
  ti_state st = {0};
  float *rows = malloc((size_t)o->n_vectors * R.dim * sizeof *rows);
  if (!rows) abort();
  int rc = init_rows(m, o, R.dim, rows, e);
  if (!rc) rc = sd_model_add_token_rows(m, o->token, o->n_vectors, R.dim, rows, &R.first_id, e);
  free(rows);
  if (!rc && ti_templates_load(o->templates, &R.tpl, e)) rc = -1;
  if (!rc && lr_schedule_new(o->lr, o->lr_kind, o->warmup_steps, o->steps, &R.lr, e)) rc = -1;
  if (!rc) rc = ti_latents_new(m, imgs, o, size, &R.lat, e);
  if (!rc) {
    shim_ti_config tc = {.first_row = R.first_id, .n_rows = o->n_vectors, .noise = m->scheduler,
                         .v_prediction = !strcmp(m->scheduler.prediction_type, "v_prediction"), .beta1 = o->beta1,
                         .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay,
                         .grad_checkpointing = o->grad_checkpointing, .loss_scaling = o->loss_scaling};
    shim_err se;
    if (shim_ti_trainer_new(m->text_encoder, m->unet, &tc, &R.tr, &se)) rc = herr_set(e, "%s", se.msg);
  }
  if (!rc) {
    R.placeholder = sd_model_expand_prompt(m, o->token, e);
    if (!R.placeholder) rc = -1;
  }
  if (!rc) {
    ti_latents_shape(R.lat, &R.C, &R.h, &R.w);
    size_t per = (size_t)R.C * R.h * R.w;
    R.latents = malloc(per * R.B * sizeof *R.latents);
    R.noise = malloc(per * R.B * sizeof *R.noise);
    R.timesteps = malloc((size_t)R.B * sizeof *R.timesteps);
    R.ids = malloc((size_t)R.B * m->seq_len * sizeof *R.ids);
    R.ord = (order){.epoch = -1, .n = imgs->n * (size_t)o->repeats};
    R.ord.perm = malloc(R.ord.n * sizeof *R.ord.perm);
    if (!R.latents || !R.noise || !R.timesteps || !R.ids || !R.ord.perm) abort();
    fingerprint(m, imgs, o, size, R.fp);
    rc = ti_state_alloc(&st, o->n_vectors, R.dim, o->steps, e);
  }
  if (!rc && o->checkpoint_dir) rc = fs_mkdir_p(o->checkpoint_dir, e);
  if (!rc) {
    int r = maybe_resume(&R, &st, e);
    if (r < 0) rc = -1;
    if (r > 0) {
      res->resumed_from = st.step;
      say(o, "resuming '%s' from step %" PRId64 " of %lld", o->token, st.step, o->steps);
    }
  }
  if (!rc) rc = train_loop(&R, &st, res, e);
  if (R.lat) res->vae_passes = ti_latents_vae_passes(R.lat);
  res->seconds = clock_now_s() - t0;
  ti_state_free(&st);
  run_free(&R);
  if (rc) {
    free(res->losses);
    free(res->lrs);
    emb_file_free(&res->embedding);
    memset(res, 0, sizeof *res);
  }
  return rc;
}

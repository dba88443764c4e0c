/* ti_train: textual-inversion training of one embedding on a loaded Stable Diffusion model —
 * placeholder tokens, initialisation, data (templates, augmentation, cached latents), the
 * optimizer loop through the shim's trainer, learning-rate schedule, checkpoints and resume,
 * previews. Used by `harness train-embedding` and the embed stage. */
#ifndef MDH_PIPELINE_TI_TRAIN_H
#define MDH_PIPELINE_TI_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "harness/image/resize.h"
#include "harness/loader/sd_model.h"
#include "harness/model/embedding_file.h"
#include "harness/train/ti_dataset.h"

/* How the VAE latent of a training image is drawn (A1111's latent_sampling_method). With a
 * centre crop the posterior is computed once per image and flip, saving VAE passes:
 *   once:          one sample per image drawn when cached, reused every time;
 *   deterministic: the posterior mean;
 *   random:        a fresh sample from the cached posterior each time it is used.
 * A random crop changes the pixels every time, so it encodes every use. */
typedef enum ti_latent_sampling { TI_LATENT_ONCE = 0, TI_LATENT_DETERMINISTIC, TI_LATENT_RANDOM } ti_latent_sampling;

typedef struct ti_step_info {
  long long step, total;  /* optimizer step (1-based) of total */
  double loss;            /* mean over the step's micro-batches */
  double lr, grad_norm;   /* rate used; gradient norm before clipping */
  int skipped;            /* fp16 loss scaling skipped the step */
} ti_step_info;

typedef struct ti_train_opts {
  const char *token;       /* placeholder, e.g. "<cspca>": vectors "<cspca>", "<cspca>_1", ... */
  const char *name;        /* the embedding's name in A1111 files (NULL: token) */
  int n_vectors;           /* vectors per token, 1..EMB_MAX_VECTORS */
  const char *init;        /* "text" (A1111: the init text's token embeddings spread over the
                              vectors), "zeros", "random" (N(0, sd of the vocabulary's rows)) */
  const char *init_text;   /* for "text"; A1111's default is "*" */
  long long steps;         /* optimizer steps */
  int batch_size, grad_accum;
  const char *lr;          /* A1111 schedule syntax "0.005:100, 1e-3:1000, 1e-5" or one rate */
  const char *lr_kind;     /* constant | linear | cosine */
  long long warmup_steps;
  double beta1, beta2, eps, weight_decay; /* AdamW; weight decay 0 by default */
  int clip;                /* shim_grad_clip: 0 none, 1 value, 2 norm */
  double clip_value;
  const char *templates;   /* built-in name (subject, style, …) or a template file */
  int resolution;          /* training size in pixels; 0: the model's default */
  ti_crop crop;
  img_filter filter;
  double flip_p;           /* random horizontal flip probability */
  int repeats;             /* times each image appears per epoch */
  ti_latent_sampling latent_sampling;
  uint64_t seed;           /* everything random derives from it: order, noise, timesteps, flips */
  int grad_checkpointing, loss_scaling;
  /* Checkpoints: every checkpoint_every steps (and at the end) the state goes to
   * checkpoint_dir/ti-state.safetensors and the embedding to checkpoint_dir/<name>-<step>.pt.
   * A state found there on start with the same fingerprint is resumed from (when resume is
   * set; otherwise it is an error). NULL dir: none. */
  const char *checkpoint_dir;
  long long checkpoint_every;
  bool resume;
  /* Previews: every preview_every steps (0: never) an image from preview_prompt (NULL: the
   * first template with the placeholder) with a fixed seed goes to preview_dir/step-N.png. */
  const char *preview_dir;
  long long preview_every;
  const char *preview_prompt;
  int preview_steps;
  double preview_guidance;
  uint64_t preview_seed;
  const char *sd_checkpoint_name; /* recorded in the A1111 file (NULL: the model folder's name) */
  /* Callbacks (any may be NULL). on_step returning non-zero stops training with e set. */
  int (*on_step)(void *user, const ti_step_info *s, herr *e);
  bool (*cancelled)(void *user);
  void (*log)(void *user, const char *msg);
  void *user;
} ti_train_opts;

/* The defaults: 1 vector from "*", 1000 steps, batch 1, lr 0.005 constant, AdamW (0.9, 0.999,
 * 1e-8, no decay), no clipping, "subject" templates, centre crop, lanczos, no flip, repeats 1,
 * latents "once", seed 0, no checkpoints or previews. */
void ti_train_opts_default(ti_train_opts *o);

typedef struct ti_train_result {
  emb_file embedding;      /* one item: the trained rows under opts.token; name, step, checkpoint */
  double *losses;          /* per step 1..steps (including steps before a resume) */
  double *lrs;
  long long n_steps;
  long long resumed_from;  /* 0 when started fresh */
  long long vae_passes;    /* images through the VAE encoder */
  double seconds;          /* training time of this call */
} ti_train_result;

/* Adds the placeholder to `m` (tokenizer and text encoder), trains it on `images` and returns
 * the embedding. The model keeps the trained rows. Errors name the step (a NaN/Inf loss), the
 * image or the option at fault. */
int ti_train(sd_model *m, const ti_image_set *images, const ti_train_opts *o, ti_train_result *res, herr *e);
void ti_train_result_free(ti_train_result *r);

/* Parses "once" | "deterministic" | "random". */
int ti_latent_sampling_parse(const char *s, ti_latent_sampling *out, herr *e);

#endif

/* sd_sample: text-to-image for one prompt with a loaded model — what textual-inversion previews
 * and the generate stage need (the CLI's `generate` adds multi-prompt, latents and A1111 files). */
#ifndef MDH_PIPELINE_SD_SAMPLE_H
#define MDH_PIPELINE_SD_SAMPLE_H

#include <stdint.h>

#include "harness/loader/sd_model.h"

typedef struct sd_sample_params {
  const char *prompt;    /* placeholders of loaded embeddings are expanded */
  const char *negative;  /* NULL: "" */
  int n_images;          /* 1..4096, one batch */
  int width, height;     /* 0: the model's default size */
  int steps;
  double guidance;       /* CFG runs when > 1 */
  const char *sampler;   /* NULL/"": the model's own scheduler (see shim_sampler_new) */
  uint64_t seed;
  int clip_skip;
  shim_progress_fn progress;
  void *progress_user;
} sd_sample_params;

/* The image size the call will produce (defaults resolved, multiples of the VAE factor checked). */
int sd_sample_size(const sd_model *m, const sd_sample_params *p, int *width, int *height, herr *e);

/* Generates p->n_images images [n, height, width, 3] float32 in [0, 1] into `images` (sized with
 * sd_sample_size). */
int sd_sample(sd_model *m, const sd_sample_params *p, float *images, herr *e);

/* Writes image i of a [n, h, w, 3] float buffer as an 8-bit PNG with an A1111-style
 * "parameters" text (NULL: none). */
int sd_sample_write_png(const char *path, const float *images, size_t i, int width, int height,
                        const char *parameters, herr *e);

#endif

/* ti_latents: the training images as scaled VAE latents, cached per image and flip when the
 * crop is fixed (A1111's "once"/"deterministic", and "random" sampling from a cached posterior),
 * encoded on every use when a random crop changes the pixels. */
#ifndef MDH_PIPELINE_TI_LATENTS_H
#define MDH_PIPELINE_TI_LATENTS_H

#include <stdint.h>

#include "harness/loader/sd_model.h"
#include "harness/pipeline/ti_train.h"

typedef struct ti_latents ti_latents;

int ti_latents_new(sd_model *m, const ti_image_set *images, const ti_train_opts *o, int size, ti_latents **out,
                   herr *e);
void ti_latents_free(ti_latents *l);
/* Latent shape for the training size. */
void ti_latents_shape(const ti_latents *l, int *channels, int *lat_h, int *lat_w);
/* The scaled latent of image `img` (flipped when flip) into out[C * h * w]; r draws the
 * random crop and the "random" posterior sample (used only when those need it). */
int ti_latents_get(ti_latents *l, size_t img, int flip, rng *r, float *out, herr *e);
long long ti_latents_vae_passes(const ti_latents *l);

#endif

/* ti_latents: VAE latents of the training images, cached where the augmentation allows. */
#include "harness/pipeline/ti_latents.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stream of the one-off sample of image i, flip f under "once": fixed by the seed alone, so a
 * resumed run draws the same latent. */
#define TI_STREAM_ONCE (UINT64_C(3) << 40)

typedef struct cache_entry {
  float *mean, *std; /* scaled by the VAE factor; std NULL unless "random" */
} cache_entry;

struct ti_latents {
  sd_model *m;
  const ti_image_set *images;
  const ti_train_opts *o;
  int size, C, h, w;
  size_t per; /* C * h * w */
  int cached;
  cache_entry *cache; /* [n_images * 2] */
  float *pixels;      /* [3, size, size] */
  float *logvar;
  long long passes;
};

int ti_latents_new(sd_model *m, const ti_image_set *images, const ti_train_opts *o, int size, ti_latents **out,
                   herr *e) {
  shim_err se;
  int h, w;
  if (shim_vae_latent_size(m->vae, size, size, &h, &w, &se)) return herr_set(e, "training size %d: %s", size, se.msg);
  ti_latents *l = calloc(1, sizeof *l);
  if (!l) abort();
  *l = (ti_latents){.m = m, .images = images, .o = o, .size = size, .C = m->latent_channels, .h = h, .w = w};
  l->per = (size_t)l->C * h * w;
  l->cached = o->crop == TI_CROP_CENTER;
  l->cache = calloc(images->n * 2, sizeof *l->cache);
  l->pixels = malloc((size_t)3 * size * size * sizeof *l->pixels);
  l->logvar = malloc(l->per * sizeof *l->logvar);
  if (!l->cache || !l->pixels || !l->logvar) abort();
  *out = l;
  return 0;
}

void ti_latents_free(ti_latents *l) {
  if (!l) return;
  for (size_t i = 0; i < l->images->n * 2; i++) {
    free(l->cache[i].mean);
    free(l->cache[i].std);
  }
  free(l->cache);
  free(l->pixels);
  free(l->logvar);
  free(l);
}

void ti_latents_shape(const ti_latents *l, int *channels, int *lat_h, int *lat_w) {
  *channels = l->C;
  *lat_h = l->h;
  *lat_w = l->w;
}

long long ti_latents_vae_passes(const ti_latents *l) { return l->passes; }

/* Encodes the (cropped, resized, flipped) image into scaled mean and std. */
static int encode(ti_latents *l, size_t img, int flip, rng *r, float *mean, float *std, herr *e) {
  if (ti_image_load(l->images, img, l->size, l->o->crop, l->o->filter, flip, r, l->pixels, e)) return -1;
  shim_err se;
  if (shim_vae_encode(l->m->vae, l->pixels, 1, l->size, l->size, mean, l->logvar, &se))
    return herr_set(e, "%s: VAE: %s", l->images->items[img].path, se.msg);
  l->passes++;
  double sf = l->m->scaling_factor;
  for (size_t k = 0; k < l->per; k++) {
    if (std) std[k] = (float)(expf(0.5f * l->logvar[k]) * sf);
    mean[k] = (float)(mean[k] * sf);
  }
  return 0;
}

int ti_latents_get(ti_latents *l, size_t img, int flip, rng *r, float *out, herr *e) {
  ti_latent_sampling mode = l->o->latent_sampling;
  if (!l->cached) {
    /* Random crop: new pixels every time, so the posterior is computed every time. */
    float *std = malloc(l->per * sizeof *std);
    if (!std) abort();
    int rc = encode(l, img, flip, r, out, mode == TI_LATENT_DETERMINISTIC ? NULL : std, e);
    if (!rc && mode != TI_LATENT_DETERMINISTIC)
      for (size_t k = 0; k < l->per; k++) out[k] += std[k] * (float)rng_normal(r);
    free(std);
    return rc;
  }
  cache_entry *c = &l->cache[img * 2 + (flip ? 1 : 0)];
  if (!c->mean) {
    c->mean = malloc(l->per * sizeof *c->mean);
    float *std = malloc(l->per * sizeof *std);
    if (!c->mean || !std) abort();
    if (encode(l, img, flip, NULL, c->mean, std, e)) {
      free(c->mean);
      free(std);
      c->mean = NULL;
      return -1;
    }
    if (mode == TI_LATENT_ONCE) {
      rng once;
      rng_seed(&once, l->o->seed, TI_STREAM_ONCE + img * 2 + (flip ? 1 : 0));
      for (size_t k = 0; k < l->per; k++) c->mean[k] += std[k] * (float)rng_normal(&once);
      free(std);
    } else if (mode == TI_LATENT_RANDOM) {
      c->std = std;
    } else {
      free(std);
    }
  }
  memcpy(out, c->mean, l->per * sizeof *out);
  if (c->std)
    for (size_t k = 0; k < l->per; k++) out[k] += c->std[k] * (float)rng_normal(r);
  return 0;
}

/* sd_sample: one prompt, one batch, through shim_txt2img. */
#include "harness/pipeline/sd_sample.h"

#include <stdlib.h>
#include <string.h>

#include "harness/formats/png.h"

int sd_sample_size(const sd_model *m, const sd_sample_params *p, int *width, int *height, herr *e) {
  int f = m->vae_scale_factor;
  *width = p->width > 0 ? p->width : m->sample_size * f;
  *height = p->height > 0 ? p->height : m->sample_size * f;
  if (*width % f || *height % f)
    return herr_set(e, "image size %dx%d: width and height must be multiples of %d (the VAE's downscale factor)",
                    *width, *height, f);
  if (*width > 8192 || *height > 8192) return herr_set(e, "image size %dx%d is larger than 8192", *width, *height);
  return 0;
}

int sd_sample(sd_model *m, const sd_sample_params *p, float *images, herr *e) {
  int width, height;
  if (sd_sample_size(m, p, &width, &height, e)) return -1;
  if (p->n_images < 1 || p->n_images > 4096)
    return herr_set(e, "%d images in one batch: expected 1 to 4096", p->n_images);
  if (p->steps < 1) return herr_set(e, "steps must be at least 1, got %d", p->steps);
  const int L = m->seq_len, B = p->n_images;
  int64_t *cond = malloc((size_t)B * L * sizeof *cond), *uncond = malloc((size_t)B * L * sizeof *uncond);
  if (!cond || !uncond) abort();
  shim_sampler *sampler = NULL;
  shim_err se = {{0}};
  int rc = sd_model_tokenize(m, p->prompt, cond, e);
  if (!rc) rc = sd_model_tokenize(m, p->negative ? p->negative : "", uncond, e);
  for (int b = 1; b < B && !rc; b++) {
    memcpy(cond + (size_t)b * L, cond, (size_t)L * sizeof *cond);
    memcpy(uncond + (size_t)b * L, uncond, (size_t)L * sizeof *uncond);
  }
  if (!rc && (shim_sampler_new(&m->scheduler, p->sampler, &sampler, &se) ||
              shim_sampler_set_timesteps(sampler, p->steps, &se)))
    rc = herr_set(e, "sampler %s, %d steps: %s", p->sampler && *p->sampler ? p->sampler : m->scheduler_class,
                  p->steps, se.msg);
  if (!rc) {
    shim_txt2img_params tp = {.n_images = B, .seq_len = L, .cond_ids = cond, .uncond_ids = uncond,
                              .clip_skip = p->clip_skip, .height = height, .width = width, .steps = p->steps,
                              .guidance = p->guidance, .seed = p->seed, .vae_scaling_factor = m->scaling_factor,
                              .progress = p->progress, .progress_user = p->progress_user};
    if (shim_txt2img(m->text_encoder, m->unet, m->vae, sampler, &tp, images, NULL, &se)) rc = herr_set(e, "%s", se.msg);
  }
  shim_sampler_free(sampler);
  free(cond);
  free(uncond);
  return rc;
}

int sd_sample_write_png(const char *path, const float *images, size_t i, int width, int height,
                        const char *parameters, herr *e) {
  size_t n = (size_t)width * height * 3;
  uint8_t *px = malloc(n);
  if (!px) abort();
  png_from_unit_float(images + i * n, n, px);
  png_text_kv kv[] = {{"parameters", parameters}};
  int rc = png_write8(path, px, (uint32_t)width, (uint32_t)height, 3, kv, parameters ? 1 : 0, e);
  free(px);
  return rc;
}

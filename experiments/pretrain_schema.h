/* The `pretrain:` config section shared by the stages that pretrain the embedded tiny model
 * (pretrain_corpus -> pretrain_vae -> pretrain_denoiser -> pretrain_export), and the helpers
 * they share: the architecture knobs turned into diffusers / transformers config.json files,
 * and a trainer's tensors written to and read from safetensors. */
#ifndef MDH_PRETRAIN_SCHEMA_H
#define MDH_PRETRAIN_SCHEMA_H

#include "harness/config/cfg.h"
#include "harness/config/schema.h"
#include "harness/runner/stage.h"
#include "shim/include/mdh_shim.h"

extern const sch_node pretrain_section_schema;

/* Writes <dir>/config.json for each component from pretrain.model.* (dir is created):
 * text_encoder (CLIPTextModel, SD2 conventions: gelu, pad "!", eos_token_id 2), unet
 * (UNet2DConditionModel), vae (AutoencoderKL with `scaling_factor`). */
int pretrain_write_text_config(const cfg_node *c, const char *dir, herr *e);
int pretrain_write_unet_config(const cfg_node *c, const char *dir, herr *e);
int pretrain_write_vae_config(const cfg_node *c, const char *dir, double scaling_factor, herr *e);
/* The scheduler the model ships with (SD2-base's PNDMScheduler, epsilon): <dir>/scheduler_config.json. */
int pretrain_write_scheduler_config(const char *dir, herr *e);

/* Writes the trainer's parameters of `component` ("vae", "text_encoder", "unet") as a safetensors
 * file with the keys shim_*_new load, in dtype SHIM_F32 / SHIM_F16. */
int pretrain_save_component(const shim_pretrain *p, const char *component, shim_dtype dtype, const char *path,
                            herr *e);
/* Checkpoint: every parameter and AdamW moment ("param|exp_avg|exp_avg_sq/<component>/<key>")
 * and the step count and loss-series rows in the metadata; restore checks every name. */
int pretrain_save_checkpoint(const shim_pretrain *p, const double *series, size_t n_rows, size_t n_cols,
                             const char *path, herr *e);
/* Restores into p; *series gets the malloc'd rows (n_rows x n_cols doubles). */
int pretrain_load_checkpoint(shim_pretrain *p, const char *path, double **series, size_t *n_rows, size_t n_cols,
                             herr *e);

/* The corpus stage's outputs found through the role "corpus": images [n, size, size, 3] u8 and
 * captions (malloc'd, freed with pretrain_corpus_free). */
typedef struct pretrain_corpus {
  size_t n;
  int size;
  uint8_t *images;
  char **captions;
} pretrain_corpus;
int pretrain_corpus_load(stage_ctx *ctx, pretrain_corpus *out, herr *e);
void pretrain_corpus_free(pretrain_corpus *c);
/* Item i as float32 [3, size, size] in [-1, 1] (the VAE's input), optionally mirrored. */
void pretrain_corpus_chw(const pretrain_corpus *c, size_t i, int flip, float *out);

/* Linear warmup then constant: lr * min(1, (step + 1) / warmup). */
double pretrain_lr(double lr, long long warmup, long long step);

#endif

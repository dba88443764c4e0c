/* sd_model: a diffusers-format Stable Diffusion folder (model_index.json, text_encoder/, unet/,
 * vae/, tokenizer/, scheduler/) loaded into the shim's components and the C tokenizer. */
#ifndef MDH_LOADER_SD_MODEL_H
#define MDH_LOADER_SD_MODEL_H

#include "harness/text/clip_tokenizer.h"
#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

typedef struct sd_model {
  char *dir;
  tok_clip *tokenizer;
  shim_clip_text *text_encoder;
  shim_unet *unet;
  shim_vae *vae;
  shim_scheduler_config scheduler; /* the model's own scheduler config (samplers are made from it) */
  char scheduler_class[64];
  double scaling_factor;           /* vae/config.json scaling_factor */
  int vae_scale_factor;            /* 2^(len(vae block_out_channels) - 1) */
  int sample_size;                 /* unet sample_size: default image side = sample_size * vae_scale_factor */
  int latent_channels;
  int seq_len;                     /* tokenizer model_max_length (77) */
} sd_model;

/* Loads every component onto exec's device and dtype. Errors name the file and what is wrong:
 * a missing component folder, a .bin-only checkpoint (pickle is never executed: convert it to
 * safetensors), a mis-shaped tensor, an unsupported class in model_index.json. */
int sd_model_load(const char *dir, const shim_exec *exec, sd_model **out, herr *e);
void sd_model_free(sd_model *m);

/* Loads a textual-inversion embedding file (diffusers or A1111, see embedding_file.h) into the
 * model as diffusers' load_textual_inversion does: its token (and "<t>_1", … for more vectors)
 * is added to the tokenizer and its rows to the text encoder. A token that already exists or a
 * width other than the text encoder's is an error naming the file. */
int sd_model_add_embedding(sd_model *m, const char *path, herr *e);

/* Adds the placeholder tokens of an n-vector embedding ("<t>", "<t>_1", …; see
 * emb_placeholder_tokens) to the tokenizer and their rows [n_vectors, dim] to the text encoder
 * (rows NULL: zero rows, for training to fill). The ids are consecutive; *first_id (may be NULL)
 * gets the first. Errors as sd_model_add_embedding, without the file name. */
int sd_model_add_token_rows(sd_model *m, const char *token, int64_t n_vectors, int64_t dim, const float *rows,
                            int64_t *first_id, herr *e);

/* Tokenizes a prompt for the text encoder: placeholders expanded (sd_model_expand_prompt), BOS,
 * EOS and padding to m->seq_len ids, truncated as the pipelines do. */
int sd_model_tokenize(const sd_model *m, const char *text, int64_t *ids, herr *e);

/* diffusers' maybe_convert_prompt: every multi-vector placeholder "<t>" in `prompt` becomes
 * "<t> <t>_1 … <t>_{n-1}", so that all its vectors reach the text encoder. Caller frees. */
char *sd_model_expand_prompt(const sd_model *m, const char *prompt, herr *e);

#endif

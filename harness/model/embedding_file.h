/* embedding_file: textual-inversion embedding files — diffusers learned_embeds
 * (.safetensors, or .bin as a torch zip) and A1111 (.pt torch zip, .safetensors) — read into
 * float32 rows and written back, torch pickles parsed without executing anything. */
#ifndef MDH_MODEL_EMBEDDING_FILE_H
#define MDH_MODEL_EMBEDDING_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* Limits: more would not be a text embedding. */
#define EMB_MAX_VECTORS 4096
#define EMB_MAX_DIM 65536
#define EMB_MAX_PICKLE_BYTES ((size_t)16 << 20)

typedef struct emb_vectors {
  char *token; /* the token the rows are used as (see emb_read) */
  int64_t n_vectors;
  int64_t dim;
  float *data; /* [n_vectors, dim], row-major */
} emb_vectors;

typedef struct emb_file {
  size_t n;
  emb_vectors *items;
  char *format; /* "diffusers", "a1111-pt", "a1111-safetensors" */
  char *name;
  int64_t step;                             /* -1 unknown */
  char *sd_checkpoint, *sd_checkpoint_name; /* NULL when absent / None */
} emb_file;

/* Reads an embedding file, recognised by content (not extension):
 * - torch zip (.pt/.bin): the pickle must be a dict. With "string_to_param" (A1111) it must
 *   hold exactly one tensor: format "a1111-pt", name = the file's "name" (file stem when absent
 *   or not a str), token = name (diffusers' default token), step/sd_checkpoint/_name from the
 *   file. With "emb_params" (a tensor): "a1111-pt", name and token = file stem. Otherwise every
 *   value must be a tensor ({token: tensor}, diffusers learned_embeds.bin): "diffusers".
 * - safetensors: a single tensor named "string_to_param.<x>" or "emb_params" is
 *   "a1111-safetensors" with name = token = the file stem (as A1111 names it; step and
 *   checkpoint come from metadata this module writes, A1111 itself ignores them); otherwise each
 *   tensor is one diffusers token {token: [d] or [n, d]} ("diffusers", name = file stem).
 * Tensors may be F32, F16, BF16 or F64 (converted exactly to float32), [d] (one vector) or
 * [n, d]; torch tensors may be strided views (gathered). The legacy non-zip torch.save format is
 * rejected with a message saying so. Errors name the file and what was wrong (a disallowed
 * global, a truncated zip, a storage smaller than its tensor, ...). Checking `dim` against the
 * text encoder is the caller's job. On error *out is left empty (safe to free). */
int emb_read(const char *path, emb_file *out, herr *e);
void emb_file_free(emb_file *f);

/* Writes `f` atomically as `format` ("diffusers", "a1111-pt", "a1111-safetensors"; NULL uses
 * f->format). diffusers: safetensors {token: F32 [n, d]} with metadata {"format": "pt"}, one
 * tensor per item. A1111 formats need exactly one item: .safetensors holds "string_to_param.*"
 * F32 [n, d] plus metadata name/step/sd_checkpoint/sd_checkpoint_name; .pt is a torch.save zip
 * (archive/data.pkl protocol 2, archive/byteorder, archive/data/0, archive/version, data
 * 64-byte aligned) of {"string_to_token": {"*": 265}, "string_to_param": {"*": tensor}, "name",
 * "step" (None when -1), "sd_checkpoint", "sd_checkpoint_name"} — what A1111 saves. The name
 * written is f->name, else the item's token. */
int emb_write(const char *path, const emb_file *f, const char *format, herr *e);

/* The token names diffusers' load_textual_inversion adds for an n-vector embedding: ["<t>"]
 * for n = 1, else ["<t>", "<t>_1", ..., "<t>_{n-1}"]. *tokens_out gets n malloc'ed strings
 * (free with emb_tokens_free). n must be 1..EMB_MAX_VECTORS. */
int emb_placeholder_tokens(const char *token, int64_t n_vectors, char ***tokens_out, herr *e);
void emb_tokens_free(char **tokens, int64_t n);

#endif

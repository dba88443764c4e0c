/* vae_config: vae/config.json (diffusers AutoencoderKL) into the shim's shim_vae_config, with
 * AutoencoderKL's defaults for absent keys. */
#ifndef MDH_MODEL_VAE_CONFIG_H
#define MDH_MODEL_VAE_CONFIG_H

#include <cjson/cJSON.h>

#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

/* Reads and checks `path`. Errors name the file and the key: block types other than
 * DownEncoderBlock2D / UpDecoderBlock2D, an unknown act_fn, lists of different lengths,
 * channels not divisible by norm_num_groups, a _class_name other than AutoencoderKL. */
int vae_config_load(const char *path, shim_vae_config *out, herr *e);

/* Same, from a parsed tree; `file` labels messages. */
int vae_config_parse(const cJSON *root, const char *file, shim_vae_config *out, herr *e);

#endif

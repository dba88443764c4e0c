/* clip_config: text_encoder/config.json (transformers CLIPTextConfig) into the shim's
 * shim_clip_text_config, with CLIPTextConfig's defaults for absent keys. */
#ifndef MDH_MODEL_CLIP_CONFIG_H
#define MDH_MODEL_CLIP_CONFIG_H

#include <cjson/cJSON.h>

#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

/* Reads and checks `path`. Errors name the file and the key: an absent key takes the
 * transformers default, a present one must be valid (an unknown hidden_act, a hidden_size not
 * divisible by num_attention_heads, another architecture are errors). A full CLIPConfig
 * (model_type "clip") is read through its "text_config". */
int clip_config_load(const char *path, shim_clip_text_config *out, herr *e);

/* Same, from a parsed tree; `file` labels messages. */
int clip_config_parse(const cJSON *root, const char *file, shim_clip_text_config *out, herr *e);

#endif

/* unet_config: reads a diffusers UNet2DConditionModel config.json (0.21.4 semantics and
 * defaults) into the shim's shim_unet_config, rejecting what the SD 1.x/2.x UNet does not have
 * with messages that name the file, the key and the value. */
#ifndef MDH_MODEL_UNET_CONFIG_H
#define MDH_MODEL_UNET_CONFIG_H

#include <cjson/cJSON.h>

#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

/* Reads `path` (at most 1 MB) and fills *out. Returns 0 or -1 with `e` set. */
int unet_config_load(const char *path, shim_unet_config *out, herr *e);

/* Same from a parsed tree; `file` only labels messages. */
int unet_config_from_json(const cJSON *root, const char *file, shim_unet_config *out, herr *e);

#endif

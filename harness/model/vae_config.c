/* vae_config: vae/config.json into shim_vae_config (see vae_config.h). */
#include "harness/model/vae_config.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/formats/json_file.h"

#define VAE_CONFIG_MAX_BYTES (1u << 20)

static int get_int(const cJSON *o, const char *file, const char *key, long long def, long long min, long long max,
                   int *out, herr *e) {
  long long v;
  if (jf_get_int(o, file, key, false, def, min, max, &v, e)) return -1;
  *out = (int)v;
  return 0;
}

/* A list of block type names, all equal to `only` (the one type an SD VAE uses); absent means
 * [only]. */
static int get_types(const cJSON *o, const char *file, const char *key, const char *only, char (*out)[32],
                     size_t *n, herr *e) {
  if (!jf_has(o, key)) {
    snprintf(out[0], 32, "%s", only);
    *n = 1;
    return 0;
  }
  const char *names[SHIM_VAE_MAX_BLOCKS];
  if (jf_get_string_array(o, file, key, names, SHIM_VAE_MAX_BLOCKS, n, e)) return -1;
  if (*n == 0) return herr_set(e, "%s: key '%s' is an empty list", file, key);
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(names[i], only) != 0)
      return herr_set(e, "%s: key '%s'[%zu] is '%s', which is not supported (expected '%s')", file, key, i, names[i],
                      only);
    snprintf(out[i], 32, "%s", names[i]);
  }
  return 0;
}

static int get_sample_size(const cJSON *o, const char *file, int out[2], herr *e) {
  const cJSON *v = jf_item(o, "sample_size");
  if (v && cJSON_IsArray(v)) {
    long long hw[2];
    size_t n = 0;
    if (jf_get_int_array(o, file, "sample_size", hw, 2, &n, e)) return -1;
    if (n != 2 || hw[0] < 1 || hw[1] < 1 || hw[0] > INT_MAX || hw[1] > INT_MAX)
      return herr_set(e, "%s: key 'sample_size' must be a positive integer or [height, width]", file);
    out[0] = (int)hw[0];
    out[1] = (int)hw[1];
    return 0;
  }
  if (get_int(o, file, "sample_size", 32, 1, INT_MAX, &out[0], e)) return -1;
  out[1] = out[0];
  return 0;
}

int vae_config_parse(const cJSON *root, const char *file, shim_vae_config *out, herr *e) {
  memset(out, 0, sizeof *out);
  const char *cls = NULL;
  if (jf_get_string(root, file, "_class_name", false, NULL, &cls, e)) return -1;
  if (cls && strcmp(cls, "AutoencoderKL") != 0)
    return herr_set(e, "%s: key '_class_name' is '%s', expected 'AutoencoderKL'", file, cls);

  bool upcast = true;
  if (get_int(root, file, "in_channels", 3, 1, 4096, &out->in_channels, e) ||
      get_int(root, file, "out_channels", 3, 1, 4096, &out->out_channels, e) ||
      get_int(root, file, "latent_channels", 4, 1, 4096, &out->latent_channels, e) ||
      get_int(root, file, "layers_per_block", 1, 1, 64, &out->layers_per_block, e) ||
      get_int(root, file, "norm_num_groups", 32, 1, 4096, &out->norm_num_groups, e) ||
      get_sample_size(root, file, out->sample_size, e) ||
      jf_get_double(root, file, "scaling_factor", false, 0.18215, 0x1p-60, HUGE_VAL, &out->scaling_factor, e) ||
      jf_get_bool(root, file, "force_upcast", false, true, &upcast, e))
    return -1;
  out->force_upcast = upcast;

  size_t nc = 1;
  if (jf_has(root, "block_out_channels")) {
    long long ch[SHIM_VAE_MAX_BLOCKS];
    if (jf_get_int_array(root, file, "block_out_channels", ch, SHIM_VAE_MAX_BLOCKS, &nc, e)) return -1;
    if (nc == 0) return herr_set(e, "%s: key 'block_out_channels' is an empty list", file);
    for (size_t i = 0; i < nc; i++) {
      if (ch[i] < 1 || ch[i] > 1 << 16)
        return herr_set(e, "%s: key 'block_out_channels'[%zu] must be an integer between 1 and 65536, got %lld", file,
                        i, ch[i]);
      out->block_out_channels[i] = (int)ch[i];
    }
  } else {
    out->block_out_channels[0] = 64;
  }
  out->n_blocks = (int)nc;
  for (size_t i = 0; i < nc; i++)
    if (out->block_out_channels[i] % out->norm_num_groups != 0)
      return herr_set(e, "%s: key 'norm_num_groups' (%d) does not divide block_out_channels[%zu] (%d)", file,
                      out->norm_num_groups, i, out->block_out_channels[i]);

  size_t nd = 0, nu = 0;
  if (get_types(root, file, "down_block_types", "DownEncoderBlock2D", out->down_block_types, &nd, e) ||
      get_types(root, file, "up_block_types", "UpDecoderBlock2D", out->up_block_types, &nu, e))
    return -1;
  if (nd != nc)
    return herr_set(e, "%s: key 'down_block_types' has %zu entries but 'block_out_channels' has %zu", file, nd, nc);
  if (nu != nc)
    return herr_set(e, "%s: key 'up_block_types' has %zu entries but 'block_out_channels' has %zu", file, nu, nc);

  const char *act = NULL;
  if (jf_get_string(root, file, "act_fn", false, "silu", &act, e)) return -1;
  if (strcmp(act, "silu") && strcmp(act, "swish") && strcmp(act, "mish") && strcmp(act, "gelu") && strcmp(act, "relu"))
    return herr_set(e, "%s: key 'act_fn' is '%s', expected one of silu, swish, mish, gelu, relu", file, act);
  snprintf(out->act_fn, sizeof out->act_fn, "%s", act);
  return 0;
}

int vae_config_load(const char *path, shim_vae_config *out, herr *e) {
  cJSON *root = jf_read(path, VAE_CONFIG_MAX_BYTES, e);
  if (!root) return -1;
  int rc = vae_config_parse(root, path, out, e);
  cJSON_Delete(root);
  return rc;
}

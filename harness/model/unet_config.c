/* unet_config: diffusers UNet2DConditionModel config.json -> shim_unet_config. Follows the
 * reference's reading of each field (defaults, int-or-list expansion, "UNetRes" prefixes,
 * attention_head_dim as the head count) and refuses every setting that changes the architecture
 * beyond the SD 1.x/2.x family rather than loading a different network silently. */
#include "harness/model/unet_config.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/json_file.h"

#define UNET_CONFIG_MAX_BYTES (1 << 20)

/* The last occurrence of key (null included), or NULL when absent: a JSON null is a value here
 * (mid_block_type: null means "no mid block", not "the default"). */
static const cJSON *raw_item(const cJSON *obj, const char *key) {
  const cJSON *found = NULL;
  for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
    if (c->string && strcmp(c->string, key) == 0) found = c;
  return found;
}

static int value_error(herr *e, const char *file, const char *key, const cJSON *v, const char *expected) {
  char *txt = v ? cJSON_PrintUnformatted(v) : NULL;
  herr_set(e, "%s: key '%s' is %s; %s", file, key, txt ? txt : "absent", expected);
  free(txt);
  return -1;
}

/* Keys whose null makes the reference fail to build (or build something else than the default). */
static int reject_null(const cJSON *root, const char *file, const char *key, herr *e) {
  const cJSON *v = raw_item(root, key);
  if (v && cJSON_IsNull(v)) return value_error(e, file, key, v, "expected a value (null is not supported)");
  return 0;
}

/* Features outside the SD family: must be absent or null. */
static int require_null(const cJSON *root, const char *file, const char *key, const char *why, herr *e) {
  const cJSON *v = raw_item(root, key);
  if (v && !cJSON_IsNull(v)) return value_error(e, file, key, v, why);
  return 0;
}

/* Absent, null, false, or (list_ok) a list of false. */
static int require_false(const cJSON *root, const char *file, const char *key, bool list_ok, const char *why,
                         herr *e) {
  const cJSON *v = raw_item(root, key);
  if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
  if (list_ok && cJSON_IsArray(v)) {
    bool all_false = true;
    for (const cJSON *c = v->child; c; c = c->next) all_false = all_false && cJSON_IsFalse(c);
    if (all_false) return 0;
  }
  return value_error(e, file, key, v, why);
}

static int copy_name(char *dst, size_t n, const char *src, const char *file, const char *key, herr *e) {
  if (strlen(src) >= n) return herr_set(e, "%s: key '%s' value '%s' is too long", file, key, src);
  snprintf(dst, n, "%s", src);
  return 0;
}

/* diffusers' get_activation names. */
static bool known_activation(const char *s) {
  return strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0 || strcmp(s, "mish") == 0 || strcmp(s, "gelu") == 0 ||
         strcmp(s, "relu") == 0;
}

/* Block type lists: get_down_block / get_up_block strip a leading "UNetRes". */
static int block_types(const cJSON *root, const char *file, const char *key, const char *cross_name,
                       const char *plain_name, const char *const *defaults, size_t n_default, int *is_cross,
                       size_t *n, herr *e) {
  const char *names[SHIM_UNET_MAX_BLOCKS + 1];
  if (!raw_item(root, key)) {
    for (size_t i = 0; i < n_default; i++) names[i] = defaults[i];
    *n = n_default;
  } else if (jf_get_string_array(root, file, key, names, SHIM_UNET_MAX_BLOCKS, n, e)) {
    return -1;
  }
  if (*n == 0) return herr_set(e, "%s: key '%s' is an empty list; at least one block is needed", file, key);
  for (size_t i = 0; i < *n; i++) {
    const char *t = names[i];
    if (strncmp(t, "UNetRes", 7) == 0) t += 7;
    if (strcmp(t, cross_name) == 0) {
      is_cross[i] = 1;
    } else if (strcmp(t, plain_name) == 0) {
      is_cross[i] = 0;
    } else {
      return herr_set(e, "%s: key '%s'[%zu] is '%s'; supported block types are %s and %s", file, key, i, names[i],
                      cross_name, plain_name);
    }
  }
  return 0;
}

static int int_field(const cJSON *root, const char *file, const char *key, long long def, long long min,
                     long long max, int *out, herr *e) {
  long long v;
  if (reject_null(root, file, key, e) || jf_get_int(root, file, key, false, def, min, max, &v, e)) return -1;
  *out = (int)v;
  return 0;
}

static int bool_field(const cJSON *root, const char *file, const char *key, bool def, int *out, herr *e) {
  bool v;
  if (jf_get_bool(root, file, key, false, def, &v, e)) return -1;
  *out = v ? 1 : 0;
  return 0;
}

static int per_block(const cJSON *root, const char *file, const char *key, long long def, long long min,
                     long long max, int *out, size_t n, herr *e) {
  long long v[SHIM_UNET_MAX_BLOCKS];
  if (reject_null(root, file, key, e) || jf_get_int_or_array(root, file, key, false, def, min, max, v, n, e))
    return -1;
  for (size_t i = 0; i < n; i++) out[i] = (int)v[i];
  return 0;
}

static int string_choice(const cJSON *root, const char *file, const char *key, const char *def,
                         const char *const *allowed, size_t n_allowed, const char **out, herr *e) {
  if (jf_get_string(root, file, key, false, def, out, e)) return -1;
  for (size_t i = 0; i < n_allowed; i++)
    if (strcmp(*out, allowed[i]) == 0) return 0;
  char list[256] = "";
  for (size_t i = 0; i < n_allowed; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, allowed[i], sizeof list - strlen(list) - 1);
  }
  return herr_set(e, "%s: key '%s' is '%s'; supported: %s", file, key, *out, list);
}

/* Everything that would add modules the SD 1.x/2.x UNet does not have. */
static int reject_extensions(const cJSON *root, const char *file, herr *e) {
  static const char *const null_keys[] = {
      "class_embed_type", "num_class_embeds", "addition_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
      "timestep_post_act", "time_cond_proj_dim", "cross_attention_norm", "num_attention_heads"};
  for (size_t i = 0; i < sizeof null_keys / sizeof null_keys[0]; i++) {
    const char *why = strcmp(null_keys[i], "num_attention_heads") == 0
                          ? "diffusers 0.21.4 refuses it (the head count is given by attention_head_dim): expected null"
                          : "that feature is not part of the SD 1.x/2.x UNet: expected null";
    if (require_null(root, file, null_keys[i], why, e)) return -1;
  }
  if (require_false(root, file, "only_cross_attention", true, "only false is supported", e) ||
      require_false(root, file, "mid_block_only_cross_attention", false, "only null or false is supported", e) ||
      require_false(root, file, "dual_cross_attention", false, "only false is supported", e) ||
      require_false(root, file, "class_embeddings_concat", false, "only false is supported", e))
    return -1;
  static const char *const positional[] = {"positional"};
  static const char *const default_only[] = {"default"};
  const char *s;
  if (string_choice(root, file, "time_embedding_type", "positional", positional, 1, &s, e) ||
      string_choice(root, file, "attention_type", "default", default_only, 1, &s, e))
    return -1;
  const char *cls;
  if (jf_get_string(root, file, "_class_name", false, "UNet2DConditionModel", &cls, e)) return -1;
  if (strcmp(cls, "UNet2DConditionModel") != 0)
    return herr_set(e, "%s: key '_class_name' is '%s'; expected UNet2DConditionModel", file, cls);
  return 0;
}

int unet_config_from_json(const cJSON *root, const char *file, shim_unet_config *out, herr *e) {
  if (!cJSON_IsObject(root)) return herr_set(e, "%s: expected a JSON object", file);
  shim_unet_config c;
  memset(&c, 0, sizeof c);
  if (reject_extensions(root, file, e)) return -1;

  static const char *const down_def[] = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                         "DownBlock2D"};
  static const char *const up_def[] = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                       "CrossAttnUpBlock2D"};
  size_t n_down, n_up;
  if (block_types(root, file, "down_block_types", "CrossAttnDownBlock2D", "DownBlock2D", down_def, 4,
                  c.down_cross_attn, &n_down, e) ||
      block_types(root, file, "up_block_types", "CrossAttnUpBlock2D", "UpBlock2D", up_def, 4, c.up_cross_attn, &n_up,
                  e))
    return -1;
  if (n_down != n_up)
    return herr_set(e, "%s: 'down_block_types' has %zu entries but 'up_block_types' has %zu; they must match", file,
                    n_down, n_up);
  const size_t n = n_down;
  c.n_blocks = (int)n;

  long long boc[SHIM_UNET_MAX_BLOCKS];
  size_t n_boc;
  if (!raw_item(root, "block_out_channels")) {
    static const long long def[] = {320, 640, 1280, 1280};
    n_boc = 4;
    memcpy(boc, def, sizeof def);
  } else if (jf_get_int_array(root, file, "block_out_channels", boc, SHIM_UNET_MAX_BLOCKS, &n_boc, e)) {
    return -1;
  }
  if (n_boc != n)
    return herr_set(e, "%s: 'block_out_channels' has %zu entries but 'down_block_types' has %zu; they must match",
                    file, n_boc, n);
  for (size_t i = 0; i < n; i++) {
    if (boc[i] < 1 || boc[i] > 65536)
      return herr_set(e, "%s: key 'block_out_channels'[%zu] must be between 1 and 65536, got %lld", file, i, boc[i]);
    c.block_out_channels[i] = (int)boc[i];
  }

  const cJSON *mid = raw_item(root, "mid_block_type");
  if (!mid || (cJSON_IsString(mid) && strcmp(mid->valuestring, "UNetMidBlock2DCrossAttn") == 0)) {
    c.has_mid_block = 1;
  } else if (cJSON_IsNull(mid)) {
    c.has_mid_block = 0;
  } else {
    return value_error(e, file, "mid_block_type", mid, "supported: \"UNetMidBlock2DCrossAttn\" or null");
  }

  if (per_block(root, file, "layers_per_block", 2, 1, 1000, c.layers_per_block, n, e) ||
      per_block(root, file, "transformer_layers_per_block", 1, 1, 1000, c.transformer_layers_per_block, n, e) ||
      per_block(root, file, "attention_head_dim", 8, 1, 65536, c.num_heads, n, e) ||
      per_block(root, file, "cross_attention_dim", 1280, 1, 1 << 20, c.cross_attention_dim, n, e))
    return -1;
  for (size_t i = 0; i < n; i++)
    if (c.down_cross_attn[i] || c.up_cross_attn[n - 1 - i] || (c.has_mid_block && i == n - 1)) {
      if (c.num_heads[i] > c.block_out_channels[i])
        return herr_set(e, "%s: 'attention_head_dim' (the number of heads) for block %zu is %d, more than its %d channels",
                        file, i, c.num_heads[i], c.block_out_channels[i]);
    }

  if (int_field(root, file, "in_channels", 4, 1, 65536, &c.in_channels, e) ||
      int_field(root, file, "out_channels", 4, 1, 65536, &c.out_channels, e) ||
      int_field(root, file, "norm_num_groups", 32, 1, 65536, &c.norm_num_groups, e) ||
      int_field(root, file, "conv_in_kernel", 3, 1, 63, &c.conv_in_kernel, e) ||
      int_field(root, file, "conv_out_kernel", 3, 1, 63, &c.conv_out_kernel, e) ||
      int_field(root, file, "downsample_padding", 1, 0, 2, &c.downsample_padding, e))
    return -1;
  long long sample_size;
  if (jf_get_int(root, file, "sample_size", false, 0, 0, 1 << 20, &sample_size, e)) return -1;
  c.sample_size = (int)sample_size;
  for (size_t i = 0; i < n; i++)
    if (c.block_out_channels[i] % c.norm_num_groups != 0)
      return herr_set(e, "%s: 'block_out_channels'[%zu] = %d is not divisible by 'norm_num_groups' = %d", file, i,
                      c.block_out_channels[i], c.norm_num_groups);
  if (c.conv_in_kernel % 2 == 0) return herr_set(e, "%s: key 'conv_in_kernel' must be odd, got %d", file, c.conv_in_kernel);
  if (c.conv_out_kernel % 2 == 0)
    return herr_set(e, "%s: key 'conv_out_kernel' must be odd, got %d", file, c.conv_out_kernel);

  if (reject_null(root, file, "norm_eps", e) ||
      jf_get_double(root, file, "norm_eps", false, 1e-5, 1e-30, 1.0, &c.norm_eps, e) ||
      jf_get_double(root, file, "freq_shift", false, 0.0, -1e6, 1e6, &c.freq_shift, e) ||
      jf_get_double(root, file, "mid_block_scale_factor", false, 1.0, 1e-30, 1e30, &c.mid_block_scale_factor, e))
    return -1;
  if (bool_field(root, file, "flip_sin_to_cos", true, &c.flip_sin_to_cos, e) ||
      bool_field(root, file, "use_linear_projection", false, &c.use_linear_projection, e) ||
      bool_field(root, file, "upcast_attention", false, &c.upcast_attention, e) ||
      bool_field(root, file, "center_input_sample", false, &c.center_input_sample, e))
    return -1;

  const char *act;
  if (jf_get_string(root, file, "act_fn", false, "silu", &act, e)) return -1;
  if (!known_activation(act))
    return herr_set(e, "%s: key 'act_fn' is '%s'; supported: silu, swish, mish, gelu, relu", file, act);
  if (copy_name(c.act_fn, sizeof c.act_fn, act, file, "act_fn", e)) return -1;
  const char *tact;
  if (jf_get_string(root, file, "time_embedding_act_fn", false, NULL, &tact, e)) return -1;
  if (tact) {
    if (!known_activation(tact))
      return herr_set(e, "%s: key 'time_embedding_act_fn' is '%s'; supported: null, silu, swish, mish, gelu, relu",
                      file, tact);
    if (copy_name(c.time_embedding_act_fn, sizeof c.time_embedding_act_fn, tact, file, "time_embedding_act_fn", e))
      return -1;
  }
  long long ted;
  if (jf_get_int(root, file, "time_embedding_dim", false, 4LL * c.block_out_channels[0], 1, 1 << 20, &ted, e))
    return -1;
  c.time_embed_dim = (int)ted;

  static const char *const shifts[] = {"default", "scale_shift"};
  const char *shift;
  if (string_choice(root, file, "resnet_time_scale_shift", "default", shifts, 2, &shift, e)) return -1;
  c.resnet_scale_shift = strcmp(shift, "scale_shift") == 0;

  *out = c;
  return 0;
}

int unet_config_load(const char *path, shim_unet_config *out, herr *e) {
  cJSON *root = jf_read(path, UNET_CONFIG_MAX_BYTES, e);
  if (!root) return -1;
  int rc = unet_config_from_json(root, path, out, e);
  cJSON_Delete(root);
  return rc;
}

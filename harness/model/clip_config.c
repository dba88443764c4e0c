/* clip_config: text_encoder/config.json into shim_clip_text_config (see clip_config.h). */
#include "harness/model/clip_config.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/formats/json_file.h"

#define CLIP_CONFIG_MAX_BYTES (1u << 20)

/* transformers' ACT2FN names this port computes. */
static const char *const known_acts[] = {"quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu",
                                         "swish"};

static int get_int(const cJSON *o, const char *file, const char *key, long long def, long long min, long long max,
                   int *out, herr *e) {
  long long v;
  if (jf_get_int(o, file, key, false, def, min, max, &v, e)) return -1;
  *out = (int)v;
  return 0;
}

static int check_architectures(const cJSON *o, const char *file, herr *e) {
  if (!jf_has(o, "architectures")) return 0;
  const char *arch[8];
  size_t n = 0;
  if (jf_get_string_array(o, file, "architectures", arch, 8, &n, e)) return -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(arch[i], "CLIPTextModel") == 0) return 0;
  return herr_set(e, "%s: key 'architectures' is [%s%s], expected [\"CLIPTextModel\"] (the text encoder SD uses)", file,
                  n ? arch[0] : "", n > 1 ? ", ..." : "");
}

int clip_config_parse(const cJSON *root, const char *file, shim_clip_text_config *out, herr *e) {
  memset(out, 0, sizeof *out);
  const cJSON *o = root;
  const char *model_type = NULL;
  if (jf_get_string(root, file, "model_type", false, NULL, &model_type, e)) return -1;
  if (model_type && strcmp(model_type, "clip") == 0) {
    if (jf_get_object(root, file, "text_config", true, &o, e)) return -1;
  } else if (model_type && strcmp(model_type, "clip_text_model") != 0) {
    return herr_set(e, "%s: key 'model_type' is '%s', expected 'clip_text_model'", file, model_type);
  } else if (check_architectures(root, file, e)) {
    return -1;
  }

  long long ids[3];
  if (get_int(o, file, "vocab_size", 49408, 1, INT_MAX, &out->vocab_size, e) ||
      get_int(o, file, "hidden_size", 512, 1, 1 << 16, &out->hidden_size, e) ||
      get_int(o, file, "intermediate_size", 2048, 1, 1 << 20, &out->intermediate_size, e) ||
      get_int(o, file, "projection_dim", 512, 1, 1 << 16, &out->projection_dim, e) ||
      get_int(o, file, "num_hidden_layers", 12, 1, 1024, &out->num_hidden_layers, e) ||
      get_int(o, file, "num_attention_heads", 8, 1, 1 << 16, &out->num_attention_heads, e) ||
      get_int(o, file, "max_position_embeddings", 77, 1, 1 << 20, &out->max_position_embeddings, e) ||
      jf_get_double(o, file, "layer_norm_eps", false, 1e-5, 0x1p-60, 1.0, &out->layer_norm_eps, e) ||
      jf_get_double(o, file, "attention_dropout", false, 0.0, 0.0, 1.0, &out->attention_dropout, e) ||
      jf_get_double(o, file, "dropout", false, 0.0, 0.0, 1.0, &out->dropout, e) ||
      jf_get_double(o, file, "initializer_range", false, 0.02, 0.0, HUGE_VAL, &out->initializer_range, e) ||
      jf_get_double(o, file, "initializer_factor", false, 1.0, 0.0, HUGE_VAL, &out->initializer_factor, e) ||
      jf_get_int(o, file, "pad_token_id", false, 1, LLONG_MIN, LLONG_MAX, &ids[0], e) ||
      jf_get_int(o, file, "bos_token_id", false, 49406, LLONG_MIN, LLONG_MAX, &ids[1], e) ||
      jf_get_int(o, file, "eos_token_id", false, 49407, LLONG_MIN, LLONG_MAX, &ids[2], e))
    return -1;
  out->pad_token_id = ids[0];
  out->bos_token_id = ids[1];
  out->eos_token_id = ids[2];
  if (out->hidden_size % out->num_attention_heads != 0)
    return herr_set(e, "%s: key 'hidden_size' (%d) must be divisible by 'num_attention_heads' (%d)", file,
                    out->hidden_size, out->num_attention_heads);

  const char *act = NULL;
  if (jf_get_string(o, file, "hidden_act", false, "quick_gelu", &act, e)) return -1;
  bool known = false;
  for (size_t i = 0; i < sizeof known_acts / sizeof *known_acts; i++) known = known || strcmp(act, known_acts[i]) == 0;
  if (!known)
    return herr_set(e,
                    "%s: key 'hidden_act' is '%s', expected one of quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, "
                    "relu, silu, swish",
                    file, act);
  snprintf(out->hidden_act, sizeof out->hidden_act, "%s", act);
  return 0;
}

int clip_config_load(const char *path, shim_clip_text_config *out, herr *e) {
  cJSON *root = jf_read(path, CLIP_CONFIG_MAX_BYTES, e);
  if (!root) return -1;
  int rc = clip_config_parse(root, path, out, e);
  cJSON_Delete(root);
  return rc;
}

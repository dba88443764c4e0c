/* scheduler_config: parses diffusers' scheduler_config.json into shim_scheduler_config, checking
 * every key the samplers read and naming the file and key in each error. */
#include "harness/model/scheduler_config.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/formats/json_file.h"

#define SCHED_MAX_BYTES (4u << 20)
#define SCHED_MAX_TRAIN 100000

static const char *const known_classes[] = {
    "DDIMScheduler", "PNDMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler", "LMSDiscreteScheduler", "HeunDiscreteScheduler", "KDPM2DiscreteScheduler",
    "DDPMScheduler", NULL};

/* Reads the file and rewrites Python's non-standard -Infinity / Infinity number tokens (outside
 * strings) to overflowing literals that strtod turns into infinities, keeping the length. */
static char *read_text(const char *path, herr *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return herr_errno(e, "cannot open %s", path), NULL;
  char *buf = malloc(SCHED_MAX_BYTES + 1);
  if (!buf) abort();
  size_t n = fread(buf, 1, SCHED_MAX_BYTES + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return herr_set(e, "cannot read %s", path), NULL;
  }
  if (n > SCHED_MAX_BYTES) {
    free(buf);
    return herr_set(e, "%s: larger than the %u-byte limit for a scheduler config", path, SCHED_MAX_BYTES), NULL;
  }
  buf[n] = '\0';
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = buf[i];
    if (in_str) {
      if (c == '\\' && i + 1 < n) i++;
      else if (c == '"') in_str = 0;
      continue;
    }
    if (c == '"') in_str = 1;
    else if (strncmp(buf + i, "Infinity", 8) == 0) {
      memcpy(buf + i, "1e999   ", 8);
      i += 7;
    }
  }
  return buf;
}

static int get_choice(const cJSON *root, const char *file, const char *key, const char *const *allowed,
                      char *dst, herr *e) {
  const char *v = NULL;
  if (jf_get_string(root, file, key, false, NULL, &v, e)) return -1;
  if (!v) return 0;
  for (size_t i = 0; allowed[i]; i++)
    if (strcmp(v, allowed[i]) == 0) {
      snprintf(dst, SHIM_SCHED_STR, "%s", v);
      return 0;
    }
  char list[256] = "";
  for (size_t i = 0; allowed[i]; i++) {
    if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, allowed[i], sizeof list - strlen(list) - 1);
  }
  return herr_set(e, "%s: key '%s' must be one of %s, got \"%s\"", file, key, list, v);
}

static int get_tri(const cJSON *root, const char *file, const char *key, int *dst, herr *e) {
  if (!jf_has(root, key)) return 0;
  bool b;
  if (jf_get_bool(root, file, key, true, false, &b, e)) return -1;
  *dst = b ? 1 : 0;
  return 0;
}

static int get_int(const cJSON *root, const char *file, const char *key, long long min, long long max, int *dst,
                   herr *e) {
  if (!jf_has(root, key)) return 0;
  long long v;
  if (jf_get_int(root, file, key, true, 0, min, max, &v, e)) return -1;
  *dst = (int)v;
  return 0;
}

static int get_num(const cJSON *root, const char *file, const char *key, double min, double max, double *dst,
                   herr *e) {
  if (!jf_has(root, key)) return 0;
  return jf_get_double(root, file, key, true, 0, min, max, dst, e);
}

static int parse(const cJSON *root, const char *file, shim_scheduler_config *c, herr *e) {
  static const char *const schedules[] = {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", "exp", NULL};
  static const char *const predictions[] = {"epsilon", "v_prediction", "sample", NULL};
  static const char *const spacings[] = {"linspace", "leading", "trailing", NULL};
  static const char *const interps[] = {"linear", "log_linear", NULL};
  static const char *const algos[] = {"dpmsolver++", "dpmsolver", NULL};
  static const char *const solvers[] = {"midpoint", "heun", NULL};
  static const char *const variances[] = {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log",
                                          "learned", "learned_range", NULL};
  if (!cJSON_IsObject(root)) return herr_set(e, "%s: expected a JSON object", file);
  const char *cls = NULL;
  if (jf_get_string(root, file, "_class_name", true, NULL, &cls, e)) return -1;
  size_t k = 0;
  while (known_classes[k] && strcmp(known_classes[k], cls) != 0) k++;
  if (!known_classes[k])
    return herr_set(e,
                    "%s: key '_class_name' names an unsupported scheduler \"%s\" (expected DDIMScheduler, "
                    "PNDMScheduler, EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, "
                    "DPMSolverMultistepScheduler, LMSDiscreteScheduler, HeunDiscreteScheduler, "
                    "KDPM2DiscreteScheduler or DDPMScheduler)",
                    file, cls);
  snprintf(c->class_name, sizeof c->class_name, "%s", cls);
  if (get_int(root, file, "num_train_timesteps", 1, SCHED_MAX_TRAIN, &c->num_train_timesteps, e)) return -1;
  if (get_num(root, file, "beta_start", 0, 1, &c->beta_start, e)) return -1;
  if (get_num(root, file, "beta_end", 0, 1, &c->beta_end, e)) return -1;
  if (get_choice(root, file, "beta_schedule", schedules, c->beta_schedule, e)) return -1;
  if (get_choice(root, file, "prediction_type", predictions, c->prediction_type, e)) return -1;
  if (get_int(root, file, "steps_offset", 0, SCHED_MAX_TRAIN - 1, &c->steps_offset, e)) return -1;
  if (get_tri(root, file, "set_alpha_to_one", &c->set_alpha_to_one, e)) return -1;
  if (get_tri(root, file, "clip_sample", &c->clip_sample, e)) return -1;
  if (get_num(root, file, "clip_sample_range", 1e-12, HUGE_VAL, &c->clip_sample_range, e)) return -1;
  if (get_tri(root, file, "skip_prk_steps", &c->skip_prk_steps, e)) return -1;
  if (get_choice(root, file, "timestep_spacing", spacings, c->timestep_spacing, e)) return -1;
  if (get_tri(root, file, "use_karras_sigmas", &c->use_karras_sigmas, e)) return -1;
  if (get_choice(root, file, "interpolation_type", interps, c->interpolation_type, e)) return -1;
  if (get_tri(root, file, "rescale_betas_zero_snr", &c->rescale_betas_zero_snr, e)) return -1;
  if (get_tri(root, file, "thresholding", &c->thresholding, e)) return -1;
  if (c->thresholding == 1)
    return herr_set(e, "%s: key 'thresholding' must be false (dynamic thresholding is not supported)", file);
  if (get_int(root, file, "solver_order", 1, 3, &c->solver_order, e)) return -1;
  if (get_choice(root, file, "algorithm_type", algos, c->algorithm_type, e)) return -1;
  if (get_choice(root, file, "solver_type", solvers, c->solver_type, e)) return -1;
  if (get_tri(root, file, "lower_order_final", &c->lower_order_final, e)) return -1;
  if (get_num(root, file, "lambda_min_clipped", -HUGE_VAL, HUGE_VAL, &c->lambda_min_clipped, e)) return -1;
  if (get_choice(root, file, "variance_type", variances, c->variance_type, e)) return -1;
  if (strcmp(cls, "DDPMScheduler") == 0) c->variance_type[0] = '\0'; /* unused by add_noise */
  else if (c->variance_type[0])
    return herr_set(e, "%s: key 'variance_type' must be null for %s, got \"%s\"", file, cls, c->variance_type);

  if (jf_has(root, "trained_betas")) {
    const cJSON *arr = jf_item(root, "trained_betas");
    size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    if (n == 0 || n > SCHED_MAX_TRAIN)
      return herr_set(e, "%s: key 'trained_betas' must be null or a list of 1..%d numbers", file, SCHED_MAX_TRAIN);
    double *b = malloc(n * sizeof *b);
    if (!b) abort();
    size_t got = 0;
    if (jf_get_double_array(root, file, "trained_betas", b, n, &got, e)) {
      free(b);
      return -1;
    }
    c->trained_betas = b;
    c->n_trained_betas = got;
    long long want = c->num_train_timesteps >= 0 ? c->num_train_timesteps : 1000;
    if ((long long)got != want)
      return herr_set(e, "%s: key 'trained_betas' has %zu values, expected num_train_timesteps = %lld", file, got,
                      want);
    for (size_t i = 0; i < got; i++)
      if (!(b[i] > 0 && b[i] < 1))
        return herr_set(e, "%s: key 'trained_betas' entry %zu must lie in (0, 1), got %g", file, i, b[i]);
  }
  return 0;
}

int sched_config_load(const char *path, shim_scheduler_config *out, herr *e) {
  shim_scheduler_config_init(out);
  char *text = read_text(path, e);
  if (!text) return -1;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, true);
  if (!root) {
    long at = end ? (long)(end - text) : -1;
    free(text);
    return herr_set(e, "%s: not valid JSON (parsing stopped at byte %ld)", path, at);
  }
  free(text);
  int rc = parse(root, path, out, e);
  cJSON_Delete(root);
  if (rc) sched_config_free(out);
  return rc;
}

void sched_config_free(shim_scheduler_config *c) {
  if (!c) return;
  free((void *)c->trained_betas);
  shim_scheduler_config_init(c);
}

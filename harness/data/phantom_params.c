/* phantom_params: the phantom's parameter table (one place for names, ranges, meanings), the
 * default difficulty, checks, and text/JSON conversion. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "harness/data/phantom.h"
#include "harness/util/numfmt.h"
#include "harness/util/strbuf.h"

#define P_INT(f, lo, hi, d) {#f, PHANTOM_INT, offsetof(phantom_params, f), lo, hi, d}
#define P_DBL(f, lo, hi, d) {#f, PHANTOM_DOUBLE, offsetof(phantom_params, f), lo, hi, d}

const phantom_param_desc phantom_param_table[] = {
    P_INT(size, 16, 2048, "image side in pixels"),
    P_DBL(positive_fraction, 0, 1, "fraction of cases with a lesion (spread evenly over the case indices)"),
    P_DBL(gland_radius_min, 0.02, 0.4, "smallest gland semi-major axis, fraction of the image side"),
    P_DBL(gland_radius_max, 0.02, 0.4, "largest gland semi-major axis, fraction of the image side"),
    P_DBL(gland_aspect_min, 0.3, 1, "smallest gland semi-minor / semi-major axis"),
    P_DBL(gland_aspect_max, 0.3, 1, "largest gland semi-minor / semi-major axis"),
    P_DBL(gland_offset, 0, 0.2, "largest shift of the gland centre from the image centre, fraction of the side"),
    P_DBL(rotation_deg, 0, 180, "largest in-plane rotation of the anatomy, degrees"),
    P_DBL(tz_scale_min, 0.2, 0.9, "smallest transition zone, relative to the gland"),
    P_DBL(tz_scale_max, 0.2, 0.9, "largest transition zone, relative to the gland"),
    P_DBL(lesion_radius_min, 0.02, 1, "smallest lesion radius, fraction of the gland semi-major axis"),
    P_DBL(lesion_radius_max, 0.02, 1, "largest lesion radius, fraction of the gland semi-major axis"),
    P_DBL(lesion_t2w_min, 0, 1, "weakest lesion darkening on T2W (relative)"),
    P_DBL(lesion_t2w_max, 0, 1, "strongest lesion darkening on T2W (relative)"),
    P_DBL(lesion_adc_min, 0, 1, "weakest lesion darkening on ADC (relative)"),
    P_DBL(lesion_adc_max, 0, 1, "strongest lesion darkening on ADC (relative)"),
    P_DBL(lesion_hbv_min, 0, 4, "weakest lesion brightening on HBV (relative)"),
    P_DBL(lesion_hbv_max, 0, 4, "strongest lesion brightening on HBV (relative)"),
    P_DBL(lesion_edge, 0, 1, "lesion edge blur, fraction of its radius (0: sharp)"),
    P_DBL(lesion_pz_probability, 0, 1, "chance that a lesion sits in the peripheral zone"),
    P_DBL(mimic_mean, 0, 8, "mean number of benign T2W-dark mimics per case, both classes (Poisson, at most 8)"),
    P_DBL(mimic_adc_ratio, 0, 2, "a mimic's ADC darkening as a fraction of a lesion's"),
    P_DBL(mimic_hbv_ratio, 0, 2, "a mimic's HBV brightening as a fraction of a lesion's"),
    P_DBL(noise_t2w, 0, 0.5, "Rician noise sigma on T2W, fraction of full scale"),
    P_DBL(noise_adc, 0, 0.5, "Rician noise sigma on ADC, fraction of full scale"),
    P_DBL(noise_hbv, 0, 0.5, "Rician noise sigma on HBV, fraction of full scale"),
    P_DBL(bias_strength, 0, 0.9, "amplitude of the smooth multiplicative bias field"),
    P_DBL(texture_strength, 0, 0.9, "amplitude of the fine tissue texture"),
    P_DBL(intensity_jitter, 0, 0.5, "standard deviation of a per-case, per-channel gain"),
    {NULL, PHANTOM_INT, 0, 0, 0, NULL},
};

/* Pairs that must be ordered: each *_min entry, whose *_max follows it in the table. */
static const char *const ranged[] = {"gland_radius_min", "gland_aspect_min", "tz_scale_min", "lesion_radius_min",
                                     "lesion_t2w_min",   "lesion_adc_min",   "lesion_hbv_min", NULL};

void phantom_params_default(phantom_params *p) {
  /* Lesion size and contrast calibrated (README.md "Calibration") so that the demo's classifier
   * (configs/classify/demo.yaml on 64 px phantoms) trained on 200 cases reaches about the
   * paper's real-data AUC (~0.78) rather than 1.0. */
  *p = (phantom_params){
      .size = 512,
      .positive_fraction = 0.5,
      .gland_radius_min = 0.09,
      .gland_radius_max = 0.15,
      .gland_aspect_min = 0.65,
      .gland_aspect_max = 0.9,
      .gland_offset = 0.04,
      .rotation_deg = 15,
      .tz_scale_min = 0.45,
      .tz_scale_max = 0.7,
      .lesion_radius_min = 0.28,
      .lesion_radius_max = 0.58,
      .lesion_t2w_min = 0.15,
      .lesion_t2w_max = 0.5,
      .lesion_adc_min = 0.15,
      .lesion_adc_max = 0.55,
      .lesion_hbv_min = 0.3,
      .lesion_hbv_max = 1.5,
      .lesion_edge = 0.35,
      .lesion_pz_probability = 0.7,
      .mimic_mean = 1.0,
      .mimic_adc_ratio = 0.5,
      .mimic_hbv_ratio = 0.25,
      .noise_t2w = 0.03,
      .noise_adc = 0.05,
      .noise_hbv = 0.07,
      .bias_strength = 0.15,
      .texture_strength = 0.06,
      .intensity_jitter = 0.05,
  };
}

double phantom_param_get(const phantom_params *p, const phantom_param_desc *d) {
  const char *base = (const char *)p + d->offset;
  if (d->type == PHANTOM_INT) return *(const int *)(const void *)base;
  return *(const double *)(const void *)base;
}

static const phantom_param_desc *find(const char *name) {
  for (const phantom_param_desc *d = phantom_param_table; d->name; d++)
    if (!strcmp(d->name, name)) return d;
  return NULL;
}

int phantom_params_check(const phantom_params *p, herr *e) {
  char lo[32], hi[32], v[32];
  for (const phantom_param_desc *d = phantom_param_table; d->name; d++) {
    double x = phantom_param_get(p, d);
    if (!(x >= d->min && x <= d->max))
      return herr_set(e, "phantom parameter %s = %s is outside [%s, %s] (%s)", d->name, fmt_double(x, v, sizeof v),
                      fmt_double(d->min, lo, sizeof lo), fmt_double(d->max, hi, sizeof hi), d->doc);
  }
  for (size_t i = 0; ranged[i]; i++) {
    const phantom_param_desc *a = find(ranged[i]), *b = a + 1;
    double x = phantom_param_get(p, a), y = phantom_param_get(p, b);
    if (x > y)
      return herr_set(e, "phantom parameters: %s = %s is larger than %s = %s", a->name, fmt_double(x, lo, sizeof lo),
                      b->name, fmt_double(y, hi, sizeof hi));
  }
  return 0;
}

int phantom_param_set(phantom_params *p, const char *name, const char *text, herr *e) {
  const phantom_param_desc *d = find(name);
  if (!d) return herr_set(e, "no phantom parameter '%s'", name);
  char lo[32], hi[32];
  char *end;
  errno = 0;
  double x = strtod(text, &end);
  int bad = !text[0] || *end || errno || !(x >= d->min && x <= d->max);
  if (!bad && d->type == PHANTOM_INT && x != floor(x)) bad = 1;
  if (bad)
    return herr_set(e, "phantom parameter %s expects %s in [%s, %s], got '%s'", name,
                    d->type == PHANTOM_INT ? "an integer" : "a number", fmt_double(d->min, lo, sizeof lo),
                    fmt_double(d->max, hi, sizeof hi), text);
  char *base = (char *)p + d->offset;
  if (d->type == PHANTOM_INT)
    *(int *)(void *)base = (int)x;
  else
    *(double *)(void *)base = x;
  return 0;
}

char *phantom_params_json(const phantom_params *p) {
  strbuf sb = STRBUF_INIT;
  char v[32];
  sb_append_char(&sb, '{');
  for (const phantom_param_desc *d = phantom_param_table; d->name; d++) {
    if (d != phantom_param_table) sb_append(&sb, ", ");
    sb_append_quoted(&sb, d->name);
    sb_appendf(&sb, ": %s", fmt_double(phantom_param_get(p, d), v, sizeof v));
  }
  sb_append_char(&sb, '}');
  return sb_take(&sb);
}

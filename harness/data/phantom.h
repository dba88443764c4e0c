/* phantom: a simulated stand-in for PI-CAI slices, for offline runs and tests. Each case is a
 * three-channel image mimicking the T2W/ADC/HBV composite (pelvis, prostate with peripheral
 * and transition zones, bias field, Rician noise); a positive carries a focal lesion (dark on
 * T2W and ADC, bright on HBV) whose mask is written too. Difficulty is set by phantom_params;
 * harness/data/README.md explains each parameter and how to calibrate them. */
#ifndef MDH_PHANTOM_H
#define MDH_PHANTOM_H

#include <stddef.h>
#include <stdint.h>

#include "harness/util/herr.h"

/* Every field has an entry in phantom_param_table (name, meaning, range), which drives the
 * CLI options, the config schema, dataset.json and the README's table. Sizes are fractions
 * of the image side or of the gland, so a setting means the same at any resolution.
 * "Contrast" is relative to the tissue under the lesion: T2W and ADC are multiplied by
 * (1 - c), HBV by (1 + c). A lesion draws one conspicuity u ~ U(0,1) shared by its three
 * channels (c = min + u (max - min)), so a faint lesion is faint on every sequence. */
typedef struct phantom_params {
  int size;                 /* image side in pixels [16, 2048]; 512 as the study's slices */
  double positive_fraction; /* fraction of cases with a lesion [0, 1]; spread evenly over the
                               case indices, so every prefix has the fraction (rounded down) */
  /* anatomy */
  double gland_radius_min, gland_radius_max; /* gland semi-major axis / side [0.02, 0.4] */
  double gland_aspect_min, gland_aspect_max; /* semi-minor / semi-major axis [0.3, 1] */
  double gland_offset;   /* largest shift of the gland centre from the image centre / side [0, 0.2] */
  double rotation_deg;   /* largest in-plane rotation of the anatomy, degrees [0, 180] */
  double tz_scale_min, tz_scale_max; /* transition-zone size / gland size [0.2, 0.9] */
  /* lesion (positives only) */
  double lesion_radius_min, lesion_radius_max; /* lesion radius / gland semi-major axis [0.02, 1] */
  double lesion_t2w_min, lesion_t2w_max;       /* relative darkening on T2W [0, 1] */
  double lesion_adc_min, lesion_adc_max;       /* relative darkening on ADC [0, 1] */
  double lesion_hbv_min, lesion_hbv_max;       /* relative brightening on HBV [0, 4] */
  double lesion_edge;           /* edge blur, fraction of the radius (0: sharp) [0, 1] */
  double lesion_pz_probability; /* chance a lesion sits in the peripheral zone [0, 1] */
  /* confounders (both classes) */
  double mimic_mean;      /* mean number of benign mimics per case (Poisson, at most 8) [0, 8]:
                             BPH nodules / prostatitis, dark on T2W like a lesion */
  double mimic_adc_ratio; /* a mimic's ADC darkening as a fraction of a lesion's [0, 2] */
  double mimic_hbv_ratio; /* a mimic's HBV brightening as a fraction of a lesion's [0, 2] */
  /* acquisition */
  double noise_t2w, noise_adc, noise_hbv; /* Rician noise sigma / full scale [0, 0.5] */
  double bias_strength;    /* amplitude of the smooth multiplicative bias field [0, 0.9] */
  double texture_strength; /* amplitude of the fine tissue texture [0, 0.9] */
  double intensity_jitter; /* sd of a per-case, per-channel gain [0, 0.5] */
} phantom_params;

typedef enum phantom_param_type { PHANTOM_INT, PHANTOM_DOUBLE } phantom_param_type;

typedef struct phantom_param_desc {
  const char *name; /* the struct field, config key and (with '-' for '_') CLI option */
  phantom_param_type type;
  size_t offset;    /* offsetof(phantom_params, field) */
  double min, max;  /* inclusive */
  const char *doc;
} phantom_param_desc;

/* NULL-name-terminated. */
extern const phantom_param_desc phantom_param_table[];

/* The default difficulty (see README.md for what it was calibrated against). */
void phantom_params_default(phantom_params *p);
/* Ranges, and every *_min <= *_max; the message names the parameter. */
int phantom_params_check(const phantom_params *p, herr *e);
/* Sets the parameter called `name` from its text; errors say the range. */
int phantom_param_set(phantom_params *p, const char *name, const char *text, herr *e);
double phantom_param_get(const phantom_params *p, const phantom_param_desc *d);
/* {"size": 512, ...} with every parameter (caller frees); doubles round-trip exactly. */
char *phantom_params_json(const phantom_params *p);

/* The tissue a pixel shows (before any lesion or mimic), for tests and debugging. */
enum { PHANTOM_AIR, PHANTOM_FAT, PHANTOM_MUSCLE, PHANTOM_RECTUM, PHANTOM_PZ, PHANTOM_TZ };

/* What was drawn for one case. */
typedef struct phantom_case_info {
  int label;
  double gland_cx, gland_cy, gland_a, gland_b, gland_angle; /* pixels, radians */
  int lesion_zone;                                          /* PHANTOM_PZ / PHANTOM_TZ; 0 none */
  double lesion_cx, lesion_cy, lesion_r;                    /* pixels (r: semi-major axis) */
  double lesion_contrast[3];                                /* T2W drop, ADC drop, HBV rise */
  int n_mimics;
} phantom_case_info;

/* Whether case `index` of a set is positive (the even spreading of positive_fraction). */
int phantom_case_label(const phantom_params *p, uint64_t index);

/* Renders case `index` of the set made with `seed` (rng stream (seed, index), so a case does
 * not depend on how many others there are). rgb: size*size*3 bytes (T2W, ADC, HBV); mask:
 * size*size bytes, 255 inside the lesion, else 0; zones: size*size tissue codes or NULL;
 * info may be NULL. The parameters must pass phantom_params_check. */
void phantom_render(const phantom_params *p, uint64_t seed, uint64_t index, uint8_t *rgb, uint8_t *mask,
                    uint8_t *zones, phantom_case_info *info);

/* The id of case `index`: "phantom-000042". */
void phantom_case_id(uint64_t index, char *buf, size_t n);

/* Progress and cancellation for phantom_write_dataset; any member may be NULL. */
typedef struct phantom_hooks {
  void (*progress)(void *user, size_t done, size_t total);
  int (*cancelled)(void *user); /* non-zero: stop between cases with an error */
  void *user;
} phantom_hooks;

/* Writes a whole set into dir: images/<id>.png, masks/<id>.png (every case; all zero for a
 * negative), manifest.csv (all ok, splits unassigned) and dataset.json (kind "phantom", the
 * parameters, n and seed). An old manifest.csv is removed first, so a set that stopped half
 * way never looks complete. hooks may be NULL. */
int phantom_write_dataset(const char *dir, const phantom_params *p, size_t n, uint64_t seed,
                          const phantom_hooks *hooks, herr *e);

#endif

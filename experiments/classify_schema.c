/* classify_schema: keys, types, ranges and defaults of the `classify:` section. The augmentation
 * defaults are generated from shim_augment_config_paper, so the config and the shim cannot
 * disagree about the paper's settings. */
#include "experiments/classify_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/util/numfmt.h"

#define INT_RANGE(lo, hi) .has_min = true, .min = (lo), .has_max = true, .max = (hi)
#define UNIT .has_min = true, .min = 0, .has_max = true, .max = 1

static const char *const optimizers[] = {"adam", "adamw", "sgd", NULL};
static const char *const lr_kinds[] = {"constant", "linear", "cosine", NULL};
static const char *const filters[] = {"nearest", "bilinear", "bicubic", "lanczos", NULL};

static const sch_node arm_fields[] = {
    {.key = "real", .type = SCH_INT, .doc = "real training cases (a label-stratified subset of the train split)",
     .def = "0", INT_RANGE(0, 100000000)},
    {.key = "synthetic", .type = SCH_INT, .doc = "synthetic training images (from the generate stages)", .def = "0",
     INT_RANGE(0, 100000000)},
    {.key = NULL},
};
static const sch_node arm_item = {.type = SCH_MAP, .doc = "one arm's training mix", .fields = arm_fields};

/* One augmentation key per shim_augment_config field; defaults filled from the shim below. */
typedef struct aug_key {
  const char *key, *doc;
  size_t offset;
  double max;
} aug_key;

#define AUG(f, mx, d) {#f, d, offsetof(shim_augment_config, f), mx}
static const aug_key aug_keys[] = {
    AUG(hflip_p, 1, "HorizontalFlip probability"),
    AUG(noise_p, 1, "GaussNoise probability"),
    AUG(noise_var_min, 1, "GaussNoise smallest variance (on [0, 1] images; albumentations' 10 / 255^2)"),
    AUG(noise_var_max, 1, "GaussNoise largest variance (albumentations' 50 / 255^2)"),
    AUG(gamma_p, 1, "RandomGamma probability"),
    AUG(gamma_min, 10, "RandomGamma smallest exponent"),
    AUG(gamma_max, 10, "RandomGamma largest exponent"),
    AUG(ssr_p, 1, "ShiftScaleRotate probability"),
    AUG(shift_limit, 1, "ShiftScaleRotate largest shift, fraction of the side"),
    AUG(scale_limit, 1, "ShiftScaleRotate largest relative scale change"),
    AUG(rotate_limit_deg, 180, "ShiftScaleRotate largest rotation, degrees"),
    AUG(bc_p, 1, "RandomBrightnessContrast probability"),
    AUG(brightness_limit, 1, "RandomBrightnessContrast largest brightness shift"),
    AUG(contrast_limit, 1, "RandomBrightnessContrast largest relative contrast change"),
    AUG(distort_p, 1, "OpticalDistortion probability"),
    AUG(distort_limit, 2, "OpticalDistortion largest distortion coefficient"),
    AUG(shift_distort_limit, 1, "OpticalDistortion largest centre shift"),
    AUG(channel_dropout_p, 1, "ChannelDropout probability (one channel zeroed)"),
};
#define N_AUG (sizeof aug_keys / sizeof aug_keys[0])

static sch_node augment_fields[N_AUG + 2];
static char augment_defaults[N_AUG][32];

__attribute__((constructor)) static void fill_augment_fields(void) {
  shim_augment_config paper;
  shim_augment_config_paper(&paper);
  augment_fields[0] = (sch_node){.key = "enabled", .type = SCH_BOOL,
                                 .doc = "apply the augmentation to training batches", .def = "true"};
  for (size_t i = 0; i < N_AUG; i++) {
    double v;
    memcpy(&v, (const char *)&paper + aug_keys[i].offset, sizeof v);
    fmt_double(v, augment_defaults[i], sizeof augment_defaults[i]);
    augment_fields[i + 1] = (sch_node){.key = aug_keys[i].key, .type = SCH_FLOAT, .doc = aug_keys[i].doc,
                                       .def = augment_defaults[i], .has_min = true, .min = 0, .has_max = true,
                                       .max = aug_keys[i].max};
  }
  augment_fields[N_AUG + 1] = (sch_node){.key = NULL};
}

static const sch_node float_item = {.type = SCH_FLOAT, .doc = "a per-channel value (R, G, B)"};

static const sch_node normalize_fields[] = {
    {.key = "mean", .type = SCH_SEQ, .doc = "per-channel mean subtracted from [0, 1] images (ImageNet)",
     .def = "[0.485, 0.456, 0.406]", .item = &float_item, .min_items = 3, .max_items = 3},
    {.key = "std", .type = SCH_SEQ, .doc = "per-channel standard deviation divided by (ImageNet)",
     .def = "[0.229, 0.224, 0.225]", .item = &float_item, .min_items = 3, .max_items = 3},
    {.key = NULL},
};

static const sch_node classify_fields[] = {
    {.key = "arms", .type = SCH_DICT,
     .doc = "arms by name ([A-Za-z0-9_]+): {real: N, synthetic: N}; the paper's 10-case-embedding arm is a "
            "sweep of diffusion.embed.train.cases",
     .def = "{real: {real: 200, synthetic: 0}, real_synthetic: {real: 200, synthetic: 2000}, "
            "synthetic: {real: 0, synthetic: 2000}}",
     .item = &arm_item},
    {.key = "runs", .type = SCH_INT, .doc = "repeated trainings per arm (variants <arm>-r0 ..), each its own seed",
     .def = "5", INT_RANGE(1, 1000)},
    {.key = "synthetic_pos_fraction", .type = SCH_FLOAT,
     .doc = "fraction of an arm's synthetic images taken from the positive class", .def = "0.5", UNIT},
    {.key = "weights", .type = SCH_STR,
     .doc = "torchvision-layout resnet18 safetensors to start from (ImageNet weights); '' = random init",
     .def = "''"},
    {.key = "input_size", .type = SCH_INT, .doc = "side the images are resized to", .def = "196",
     INT_RANGE(16, 4096)},
    {.key = "resize_filter", .type = SCH_ENUM, .doc = "resampling filter (Pillow semantics)", .def = "bilinear",
     .choices = filters},
    {.key = "optimizer", .type = SCH_ENUM, .doc = "optimizer over all parameters", .def = "adam",
     .choices = optimizers},
    {.key = "lr", .type = SCH_FLOAT, .doc = "learning rate", .def = "1e-4", .has_min = true, .min = 0,
     .min_exclusive = true},
    {.key = "lr_schedule", .type = SCH_ENUM, .doc = "decay of the rate over the steps", .def = "constant",
     .choices = lr_kinds},
    {.key = "warmup", .type = SCH_INT, .doc = "linear warm-up steps", .def = "0", INT_RANGE(0, 100000000)},
    {.key = "weight_decay", .type = SCH_FLOAT, .doc = "weight decay (L2 for adam/sgd, decoupled for adamw)",
     .def = "0", .has_min = true, .min = 0},
    {.key = "beta1", .type = SCH_FLOAT, .doc = "Adam beta1", .def = "0.9", UNIT},
    {.key = "beta2", .type = SCH_FLOAT, .doc = "Adam beta2", .def = "0.999", UNIT},
    {.key = "eps", .type = SCH_FLOAT, .doc = "Adam epsilon", .def = "1e-8", .has_min = true, .min = 0},
    {.key = "momentum", .type = SCH_FLOAT, .doc = "SGD momentum", .def = "0.9", UNIT},
    {.key = "batch", .type = SCH_INT, .doc = "training batch size", .def = "32", INT_RANGE(2, 65536)},
    {.key = "steps", .type = SCH_INT, .doc = "optimizer steps", .def = "6250", INT_RANGE(1, 100000000)},
    {.key = "val_every", .type = SCH_INT,
     .doc = "validation AUC every N steps (and after the last); the best checkpoint is kept", .def = "250",
     INT_RANGE(1, 100000000)},
    {.key = "augment", .type = SCH_MAP, .doc = "the paper's heavy augmentation", .fields = augment_fields},
    {.key = "normalize", .type = SCH_MAP, .doc = "input normalisation after augmentation",
     .fields = normalize_fields},
    /* Outside the identity: eval-mode scores do not depend on how images are batched. */
    {.key = "eval_batch", .type = SCH_INT, .doc = "images per forward pass when scoring", .def = "64",
     INT_RANGE(1, 65536)},
    {.key = NULL},
};

const sch_node classify_section_schema = {.type = SCH_MAP, .doc = "downstream csPCa classifier (ResNet-18)",
                                          .fields = classify_fields};

static int valid_arm_name(const char *s) {
  if (!*s || strlen(s) >= CLASSIFY_ARM_NAME_MAX) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_') return 0;
  return 1;
}

int classify_read_arms(const cfg_node *point, classify_arm **arms, size_t *n, long long *runs, herr *e) {
  *arms = NULL;
  *n = 0;
  const cfg_node *sec = cfg_get(point, "classify");
  cfg_node *defaults = NULL;
  if (!sec) {
    defaults = cfg_new_map((cfg_loc){cfg_intern("<default>"), 0, 0});
    sch_report rep = {0};
    sch_validate(&classify_section_schema, defaults, "classify", &rep);
    sch_report_free(&rep);
    sec = defaults;
  }
  const cfg_node *m = cfg_map_get(sec, "arms");
  int rc = 0;
  if (!m || m->kind != CFG_MAP || m->len == 0) rc = herr_set(e, "classify.arms: expected a map with at least one arm");
  if (!rc && runs) rc = cfg_int_at(sec, "runs", runs, e);
  if (!rc) {
    *arms = calloc(m->len, sizeof **arms);
    if (!*arms) abort();
  }
  for (size_t i = 0; !rc && i < m->len; i++) {
    classify_arm *a = &(*arms)[i];
    if (!valid_arm_name(m->keys[i])) {
      char loc[256];
      rc = herr_set(e, "%s: classify.arms: arm name '%s' must be 1-%d letters, digits or '_'",
                    cfg_loc_str(m->key_locs[i], loc, sizeof loc), m->keys[i], CLASSIFY_ARM_NAME_MAX - 1);
      break;
    }
    snprintf(a->name, sizeof a->name, "%s", m->keys[i]);
    if (cfg_int_at(m->items[i], "real", &a->real, e) || cfg_int_at(m->items[i], "synthetic", &a->synthetic, e)) {
      rc = herr_prefix(e, "classify.arms.%s: ", m->keys[i]);
      break;
    }
    if (a->real + a->synthetic == 0) rc = herr_set(e, "classify.arms.%s: has no training images", m->keys[i]);
  }
  cfg_free(defaults);
  if (rc) {
    free(*arms);
    *arms = NULL;
    return -1;
  }
  *n = m->len;
  return 0;
}

void classify_variant_name(const char *arm, long long run, char *buf, size_t len) {
  snprintf(buf, len, "%s-r%lld", arm, run);
}

int classify_variant_parse(const char *variant, char *arm, long long *run, herr *e) {
  const char *dash = strrchr(variant, '-');
  char *end = NULL;
  if (dash && dash[1] == 'r' && isdigit((unsigned char)dash[2])) *run = strtoll(dash + 2, &end, 10);
  size_t len = dash ? (size_t)(dash - variant) : 0;
  if (!dash || !end || *end || len == 0 || len >= CLASSIFY_ARM_NAME_MAX)
    return herr_set(e, "classify: variant '%s' is not <arm>-r<run>", variant);
  memcpy(arm, variant, len);
  arm[len] = '\0';
  return 0;
}

int classify_read_augment(const cfg_node *c, shim_augment_config *out, int *enabled, herr *e) {
  memset(out, 0, sizeof *out);
  bool on;
  if (cfg_bool_at(c, "classify.augment.enabled", &on, e)) return -1;
  *enabled = on;
  for (size_t i = 0; i < N_AUG; i++) {
    char key[96];
    double v;
    snprintf(key, sizeof key, "classify.augment.%s", aug_keys[i].key);
    if (cfg_double_at(c, key, &v, e)) return -1;
    memcpy((char *)out + aug_keys[i].offset, &v, sizeof v);
  }
  if (out->noise_var_min > out->noise_var_max || out->gamma_min > out->gamma_max)
    return herr_set(e, "classify.augment: noise_var_min/gamma_min must not exceed their *_max");
  return 0;
}

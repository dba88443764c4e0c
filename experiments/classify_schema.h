/* classify_schema: the `classify:` section of the classify stage (the downstream ResNet-18 of
 * each arm: how many real and synthetic training images, the optimiser, augmentation and input
 * handling) and the arm/run naming its variants use ("<arm>-r<k>"). */
#ifndef MDH_EXPERIMENTS_CLASSIFY_SCHEMA_H
#define MDH_EXPERIMENTS_CLASSIFY_SCHEMA_H

#include <stddef.h>

#include "harness/config/schema.h"
#include "harness/util/herr.h"
#include "mdh_shim.h"

extern const sch_node classify_section_schema;

#define CLASSIFY_ARM_NAME_MAX 48

/* One arm: its training mix. */
typedef struct classify_arm {
  char name[CLASSIFY_ARM_NAME_MAX]; /* [A-Za-z0-9_]+, so "<arm>-r<k>" splits unambiguously */
  long long real;                   /* cases from the train split */
  long long synthetic;              /* generated images, split by synthetic_pos_fraction */
} classify_arm;

/* The arms (in config order) and the number of runs of a point's config. When the config has no
 * `classify:` section yet (a downstream kind planned first), the schema's defaults are used.
 * runs may be NULL (a stage's own config does not carry it). *arms is malloc'd. */
int classify_read_arms(const cfg_node *point, classify_arm **arms, size_t *n, long long *runs, herr *e);

/* "<arm>-r<k>" into buf. */
void classify_variant_name(const char *arm, long long run, char *buf, size_t len);
/* Splits a variant back into its arm (copied into arm[CLASSIFY_ARM_NAME_MAX]) and run. */
int classify_variant_parse(const char *variant, char *arm, long long *run, herr *e);

/* classify.augment.* (with its `enabled` switch) into the shim's struct. */
int classify_read_augment(const cfg_node *c, shim_augment_config *out, int *enabled, herr *e);

#endif

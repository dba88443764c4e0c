/* scheduler_config: reads a diffusers scheduler/scheduler_config.json into the shim's
 * shim_scheduler_config (keys the file omits stay "absent" so each sampler class applies its own
 * defaults, as diffusers' from_config does). */
#ifndef MDH_MODEL_SCHEDULER_CONFIG_H
#define MDH_MODEL_SCHEDULER_CONFIG_H

#include "harness/util/herr.h"
#include "shim/include/mdh_shim.h"

/* Parses `path` into *out (which it initialises). Python's -Infinity / Infinity literals (json.dump
 * writes them, e.g. lambda_min_clipped) are accepted. Errors name the file and the key: a missing
 * or unknown _class_name, a value of the wrong type, an unsupported choice (beta_schedule,
 * prediction_type, timestep_spacing, ...), thresholding true, trained_betas of the wrong length.
 * On success the caller releases out->trained_betas with sched_config_free. */
int sched_config_load(const char *path, shim_scheduler_config *out, herr *e);

/* Frees what sched_config_load allocated (trained_betas) and marks the struct empty. */
void sched_config_free(shim_scheduler_config *c);

#endif

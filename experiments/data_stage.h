/* The data stage's dataset as downstream stages see it: the manifest (with splits assigned)
 * in the data stage's artifacts/ folder. ds_select (harness/data/dataset.h) picks cases by
 * split and label. */
#ifndef MDH_DATA_STAGE_H
#define MDH_DATA_STAGE_H

#include "harness/data/dataset.h"
#include "harness/runner/stage.h"

/* The dataset of the completed data stage registered under `role` (usually "data"). Image and
 * mask paths resolve with ds_case_path(out, ...): relative ones against the stage's
 * artifacts/ (phantom sets), absolute ones as they are (prepared sets). */
int data_stage_dataset(stage_ctx *ctx, const char *role, ds_manifest *out, herr *e);

#endif

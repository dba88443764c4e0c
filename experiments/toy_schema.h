/* The `toy:` config section shared by the toy stages (toy_data → toy_fit → toy_eval): a small
 * regression problem that exercises sweeps, deduplication, resume and failure handling end to
 * end without any model code. */
#ifndef MDH_TOY_SCHEMA_H
#define MDH_TOY_SCHEMA_H

#include "harness/config/schema.h"

extern const sch_node toy_section_schema;

/* The models toy_fit knows: y ≈ c0 (constant), c0 + c1 x (linear), c0 + c1 x + c2 x² (quadratic). */
#define TOY_MAX_PARAMS 3
int toy_model_params(const char *model);

#endif

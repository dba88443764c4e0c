/* evaluate_schema: the `evaluate:` section of the evaluate stage (AUC intervals and paired arm
 * comparisons over the classify stages of a point). */
#ifndef MDH_EXPERIMENTS_EVALUATE_SCHEMA_H
#define MDH_EXPERIMENTS_EVALUATE_SCHEMA_H

#include "harness/config/schema.h"

extern const sch_node evaluate_section_schema;

#endif

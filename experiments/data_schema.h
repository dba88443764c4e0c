/* The `data:` config section of the data stage: where the cases come from (the phantom
 * simulator or a prepared dataset directory), the phantom's parameters and the split protocol. */
#ifndef MDH_DATA_SCHEMA_H
#define MDH_DATA_SCHEMA_H

#include "harness/config/schema.h"

extern const sch_node data_section_schema;

#endif

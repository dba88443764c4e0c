/* evaluate_schema: keys, types, ranges and defaults of the `evaluate:` section. */
#include "experiments/evaluate_schema.h"

static const sch_node evaluate_fields[] = {
    {.key = "bootstrap", .type = SCH_INT, .doc = "bootstrap replicates per AUC interval", .def = "2000",
     .has_min = true, .min = 1, .has_max = true, .max = 100000000},
    {.key = "stratified", .type = SCH_BOOL, .doc = "resample positives and negatives separately (pROC's default)",
     .def = "true"},
    {.key = "seed", .type = SCH_INT, .doc = "bootstrap seed (replicate r uses stream (seed, r))", .def = "0",
     .has_min = true, .min = 0, .has_max = true, .max = 9007199254740991.0},
    {.key = "alpha", .type = SCH_FLOAT, .doc = "intervals are at level 1 - alpha (0.05: 95%)", .def = "0.05",
     .has_min = true, .min = 0, .min_exclusive = true, .has_max = true, .max = 1, .max_exclusive = true},
    {.key = NULL},
};

const sch_node evaluate_section_schema = {.type = SCH_MAP, .doc = "evaluation of the classifier arms",
                                          .fields = evaluate_fields};

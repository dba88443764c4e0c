/* data_schema: keys, types, ranges and defaults of the `data:` section. The `phantom:` part is
 * generated from phantom_param_table, so a new phantom parameter is a config key at once and
 * its default and range cannot drift from the C defaults. */
#include "experiments/data_schema.h"

#include <stdio.h>

#include "harness/data/phantom.h"
#include "harness/util/numfmt.h"

static const char *const data_sources[] = {"phantom", "prepared", NULL};

#define MAX_PHANTOM_FIELDS 64
/* n and seed, the table's parameters, the terminator. */
static sch_node phantom_fields[MAX_PHANTOM_FIELDS + 3];
static char phantom_defaults[MAX_PHANTOM_FIELDS][32];

/* Filled before main: the stage table points at the schema statically and the planner reads
 * it without calling into this file. */
__attribute__((constructor)) static void fill_phantom_fields(void) {
  phantom_params d;
  phantom_params_default(&d);
  size_t k = 0;
  phantom_fields[k++] = (sch_node){.key = "n", .type = SCH_INT, .doc = "number of phantom cases", .def = "600",
                                   .has_min = true, .min = 1, .has_max = true, .max = 10000000};
  phantom_fields[k++] = (sch_node){.key = "seed", .type = SCH_INT,
                                   .doc = "phantom seed (shared by every point; case i uses stream (seed, i))",
                                   .def = "0", .has_min = true, .min = 0};
  for (size_t i = 0; phantom_param_table[i].name && i < MAX_PHANTOM_FIELDS; i++) {
    const phantom_param_desc *p = &phantom_param_table[i];
    fmt_double(phantom_param_get(&d, p), phantom_defaults[i], sizeof phantom_defaults[i]);
    phantom_fields[k++] = (sch_node){.key = p->name, .type = p->type == PHANTOM_INT ? SCH_INT : SCH_FLOAT,
                                     .doc = p->doc, .def = phantom_defaults[i], .has_min = true, .min = p->min,
                                     .has_max = true, .max = p->max};
  }
  phantom_fields[k] = (sch_node){.key = NULL};
}

static const sch_node split_fields[] = {
    {.key = "embed_per_class", .type = SCH_INT, .doc = "cases per class in the textual-inversion subset",
     .def = "100", .has_min = true, .min = 0, .has_max = true, .max = 10000000},
    {.key = "train", .type = SCH_INT, .doc = "training cases (stratified by label)", .def = "200", .has_min = true,
     .min = 0, .has_max = true, .max = 100000000},
    {.key = "val", .type = SCH_INT, .doc = "validation cases (stratified by label)", .def = "200", .has_min = true,
     .min = 0, .has_max = true, .max = 100000000},
    {.key = "test", .type = SCH_INT, .doc = "test cases (stratified by label)", .def = "200", .has_min = true,
     .min = 0, .has_max = true, .max = 100000000},
    {.key = "embed_overlap_train", .type = SCH_BOOL,
     .doc = "true: embedding cases come from the train split (the paper); false: disjoint from all splits",
     .def = "true"},
    {.key = NULL},
};

static const sch_node data_fields[] = {
    {.key = "source", .type = SCH_ENUM, .doc = "phantom (simulated) or prepared (a `harness prepare` directory)",
     .def = "phantom", .choices = data_sources},
    {.key = "dir", .type = SCH_STR, .doc = "the prepared dataset directory (source: prepared)", .def = "''"},
    {.key = "phantom", .type = SCH_MAP, .doc = "the phantom simulator (source: phantom)",
     .fields = phantom_fields},
    {.key = "split", .type = SCH_MAP, .doc = "the split protocol", .fields = split_fields},
    {.key = "split_seed", .type = SCH_INT, .doc = "seed of the split assignment (shared by every point)",
     .def = "0", .has_min = true, .min = 0},
    {.key = NULL},
};

const sch_node data_section_schema = {.type = SCH_MAP, .doc = "the data stage",
                                      .fields = data_fields};

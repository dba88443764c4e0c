/* toy_schema: keys, types, ranges and defaults of the `toy:` section. */
#include "experiments/toy_schema.h"

#include <string.h>

static const char *const toy_models[] = {"constant", "linear", "quadratic", NULL};

static const sch_node toy_model_item = {.type = SCH_ENUM, .doc = "a model to fit", .choices = toy_models};

static const sch_node toy_data_fields[] = {
    {.key = "n_train", .type = SCH_INT, .doc = "training samples", .def = "200", .has_min = true, .min = 3,
     .has_max = true, .max = 10000000},
    {.key = "n_test", .type = SCH_INT, .doc = "test samples", .def = "200", .has_min = true, .min = 1,
     .has_max = true, .max = 10000000},
    {.key = "noise", .type = SCH_FLOAT, .doc = "standard deviation of the label noise", .def = "0.1",
     .has_min = true, .min = 0},
    {.key = "slope", .type = SCH_FLOAT, .doc = "true linear coefficient", .def = "2.0"},
    {.key = "intercept", .type = SCH_FLOAT, .doc = "true constant term", .def = "-0.5"},
    {.key = "curvature", .type = SCH_FLOAT, .doc = "true quadratic coefficient", .def = "0.0"},
    {.key = NULL},
};

static const sch_node toy_fit_fields[] = {
    {.key = "models", .type = SCH_SEQ, .doc = "models to fit, one toy_fit stage each", .def = "[linear, quadratic]",
     .item = &toy_model_item, .min_items = 1},
    {.key = "lr", .type = SCH_FLOAT, .doc = "SGD learning rate", .def = "0.1", .has_min = true, .min = 0,
     .min_exclusive = true, .has_max = true, .max = 10},
    {.key = "steps", .type = SCH_INT, .doc = "SGD steps", .def = "300", .has_min = true, .min = 1,
     .has_max = true, .max = 100000000},
    {.key = "batch", .type = SCH_INT, .doc = "minibatch size", .def = "16", .has_min = true, .min = 1,
     .has_max = true, .max = 1000000},
    /* Test fixtures, outside the identity: they change how a run behaves, not its results. */
    {.key = "step_delay_ms", .type = SCH_INT, .doc = "sleep per step (tests use it to interrupt runs mid-stage)",
     .def = "0", .has_min = true, .min = 0, .has_max = true, .max = 60000},
    {.key = "fail_model", .type = SCH_STR, .doc = "a model whose fit fails on purpose (tests of failure handling)",
     .def = "''"},
    {.key = NULL},
};

static const char *const toy_metrics[] = {"mse", "mae", NULL};

static const sch_node toy_eval_fields[] = {
    {.key = "metric", .type = SCH_ENUM, .doc = "test error used to pick the best model", .def = "mse",
     .choices = toy_metrics},
    {.key = NULL},
};

static const sch_node toy_fields[] = {
    {.key = "data", .type = SCH_MAP, .doc = "the synthetic regression data", .fields = toy_data_fields},
    {.key = "fit", .type = SCH_MAP, .doc = "minibatch SGD fits", .fields = toy_fit_fields},
    {.key = "eval", .type = SCH_MAP, .doc = "test-set evaluation", .fields = toy_eval_fields},
    {.key = NULL},
};

const sch_node toy_section_schema = {.type = SCH_MAP, .doc = "toy stages", .fields = toy_fields};

int toy_model_params(const char *model) {
  if (!strcmp(model, "constant")) return 1;
  if (!strcmp(model, "linear")) return 2;
  if (!strcmp(model, "quadratic")) return 3;
  return -1;
}

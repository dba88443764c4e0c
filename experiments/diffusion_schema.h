/* diffusion_schema: the `diffusion:` section shared by the embed and generate stages — the
 * model, textual-inversion training and sampling settings. */
#ifndef MDH_EXPERIMENTS_DIFFUSION_SCHEMA_H
#define MDH_EXPERIMENTS_DIFFUSION_SCHEMA_H

#include "harness/config/schema.h"
#include "harness/loader/sd_model.h"
#include "harness/runner/stage.h"

extern const sch_node diffusion_section_schema;

/* The class variants of embed/generate: "neg" (label 0, no csPCa) and "pos" (label 1). */
int diffusion_class_variants(const cfg_node *point, char ***out, size_t *n, herr *e);
int diffusion_variant_label(const char *variant);

/* Preflight: the model folder exists (a diffusers folder with model_index.json). */
int diffusion_preflight_model(const cfg_node *config, const char *variant, herr *e);

/* Loads diffusion.model.dir on the stage's device in diffusion.model.dtype ("auto": fp16 on
 * CUDA, fp32 on the CPU). Errors say how to provide a missing model. */
int diffusion_load_model(stage_ctx *ctx, sd_model **out, herr *e);

#endif

/* The table of stage kinds; a new kind adds its descriptor here. */
#include <stdlib.h>
#include <string.h>

#include "harness/runner/stage.h"

extern const stage_kind toy_data_stage;
extern const stage_kind toy_fit_stage;
extern const stage_kind toy_eval_stage;
extern const stage_kind data_stage;
extern const stage_kind classify_stage;
extern const stage_kind evaluate_stage;
extern const stage_kind embed_stage;
extern const stage_kind generate_stage;
extern const stage_kind pretrain_corpus_stage;
extern const stage_kind pretrain_vae_stage;
extern const stage_kind pretrain_denoiser_stage;
extern const stage_kind pretrain_export_stage;

static const stage_kind *const kinds[] = {&toy_data_stage, &toy_fit_stage, &toy_eval_stage, &data_stage,
                                          &embed_stage,    &generate_stage, &classify_stage, &evaluate_stage,
                                          &pretrain_corpus_stage, &pretrain_vae_stage, &pretrain_denoiser_stage,
                                          &pretrain_export_stage, NULL};

const stage_kind *const *stage_kinds(void) { return kinds; }

const stage_kind *stage_kind_find(const char *name) {
  for (size_t i = 0; kinds[i]; i++)
    if (!strcmp(kinds[i]->name, name)) return kinds[i];
  return NULL;
}

const char *const *stage_kind_names(void) {
  static const char *names[sizeof kinds / sizeof kinds[0]];
  if (!names[0])
    for (size_t i = 0; kinds[i]; i++) names[i] = kinds[i]->name;
  return names;
}
